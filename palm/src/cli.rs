//! `palmkey palm ...` subcommands (DESIGN.md contract). The `palmkey` binary delegates here.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PalmCommand {
    /// Generate a synthetic palm dataset (print + vein images per identity and sample).
    Synth(SynthArgs),
    /// Evaluate the engine's accuracy on a dataset (ISO/IEC 19795-1 terms).
    Eval(EvalArgs),
    /// Benchmark 1:N search (the authenticator's cascade; N = 10k, 100k, 1M on one core) and
    /// template extraction.
    Bench(BenchArgs),
    /// Draw DET curves saved by `palm eval --det-points` into one PNG.
    DetPlot(DetPlotArgs),
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
    /// Write whole-hand photos (4x the ROI size) instead of palm ROI squares.
    #[arg(long)]
    pub full_hand: bool,
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
    /// Also run the identification protocol (rank-1, FNIR at FPIR 1e-3, 1:N cascade vs
    /// exhaustive search).
    #[arg(long)]
    pub identification: bool,
    /// Include presentation-attack acceptance (DIR/.attacks) in the JSON output too.
    #[arg(long)]
    pub attacks: bool,
    /// Write the DET curve points (FMR, FNMR) of this run to a TSV file.
    #[arg(long)]
    pub det_points: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Gallery sizes.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 1_000_000])]
    pub sizes: Vec<usize>,
    /// Identities rendered and extracted for real (the rest of the gallery is derived).
    #[arg(long, default_value_t = 300)]
    pub real: u32,
    /// Timed searches per gallery size (one core each: 1:1M takes seconds per search).
    #[arg(long, default_value_t = 30)]
    pub queries: usize,
    /// Candidates the cascade hands to the full matcher.
    #[arg(long, default_value_t = crate::search::cascade::Cascade::default().k)]
    pub k: usize,
    /// Fraction of the gallery the histogram stage keeps (1 turns the stage off).
    #[arg(long, default_value_t = crate::search::cascade::Cascade::default().histogram_keep.unwrap_or(1.0))]
    pub histogram_keep: f32,
    /// Fraction of the gallery the coarse stage keeps.
    #[arg(long, default_value_t = crate::search::cascade::Cascade::default().coarse_keep)]
    pub coarse_keep: f32,
    /// Rotation steps around the histogram stage's best rotation the coarse stage tries
    /// (default: the authenticator's, 1).
    #[arg(long, conflicts_with = "all_rotations")]
    pub coarse_rotations: Option<usize>,
    /// The coarse stage tries every rotation (as before the histogram stage chose them).
    #[arg(long)]
    pub all_rotations: bool,
    /// Synthetic population.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DetPlotArgs {
    /// Curves as LABEL=FILE (files written by `palm eval --det-points`).
    #[arg(long = "curve", required = true)]
    pub curves: Vec<String>,
    /// Output PNG.
    #[arg(long)]
    pub out: std::path::PathBuf,
    #[arg(long, default_value = "DET")]
    pub title: String,
}

pub fn run(cmd: PalmCommand) -> anyhow::Result<()> {
    match cmd {
        PalmCommand::Synth(args) => crate::synth::run_command(&args),
        PalmCommand::Eval(args) => crate::eval::command::run(crate::eval::command::EvalCommand {
            dataset: args.dataset,
            modality: args.modality,
            full_hand: args.full_hand,
            json: args.json,
            identification: args.identification,
            attacks: args.attacks,
            det_points: args.det_points,
        }),
        PalmCommand::Bench(args) => crate::search::bench::run_command(&args),
        PalmCommand::DetPlot(args) => crate::eval::det_plot::run_command(&args),
    }
}
