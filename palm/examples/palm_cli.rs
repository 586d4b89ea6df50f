//! `palmkey palm ...` without building the authenticator binary (faster release builds while
//! working on the engine): `cargo run --release -p palmkey-palm --example palm_cli -- eval ...`.

use clap::Parser;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: palmkey_palm::cli::PalmCommand,
}

fn main() -> anyhow::Result<()> {
    palmkey_palm::cli::run(Cli::parse().command)
}
