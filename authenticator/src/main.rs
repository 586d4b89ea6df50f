//! The `palmkey` binary: the authenticator process and its tools.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
