//! `palmkey palm ...` subcommands (DESIGN.md contract). The `palmkey` binary delegates here.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PalmCommand {
    /// Generate a synthetic palm dataset (print + vein images per identity and sample).
    Synth(SynthArgs),
    /// Evaluate the engine's accuracy on a dataset (ISO/IEC 19795-1 terms).
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    #[arg(long)]
    pub out: std::path::PathBuf,
    #[arg(long)]
    pub identities: u32,
    #[arg(long)]
    pub samples: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write presentation attacks (printed photos).
    #[arg(long)]
    pub attacks: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub dataset: std::path::PathBuf,
    /// print | vein | fused (default: fused where both images exist)
    #[arg(long)]
    pub modality: Option<String>,
    /// Images are whole-hand photos: find the palm ROI from the finger valleys.
    #[arg(long)]
    pub full_hand: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: PalmCommand) -> anyhow::Result<()> {
    match cmd {
        PalmCommand::Synth(_args) => anyhow::bail!("palm synth: not implemented yet"),
        PalmCommand::Eval(_args) => anyhow::bail!("palm eval: not implemented yet"),
    }
}
