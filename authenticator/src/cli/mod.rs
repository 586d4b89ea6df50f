//! Command line (DESIGN.md contract): `palmkey serve`, `palmkey palm ...`, `palmkey bench`.

use clap::{Parser, Subcommand};

mod bench;
mod serve;

#[derive(Debug, Parser)]
#[command(
    name = "palmkey",
    version,
    about = "palmkey — palm-verified FIDO2 authenticator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authenticator (CTAPHID over UDP and/or Linux uhid).
    Serve(serve::ServeArgs),
    /// Palm engine tools: synthetic data and accuracy evaluation.
    #[command(subcommand)]
    Palm(palmkey::palm::cli::PalmCommand),
    /// End-to-end latency of makeCredential and getAssertion over the UDP transport.
    Bench(bench::BenchArgs),
}

pub fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PALMKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Palm(cmd) => palmkey::palm::cli::run(cmd),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("palmkey: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
