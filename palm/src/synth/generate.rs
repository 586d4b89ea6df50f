//! Writes a synthetic dataset in the dataset layout (see [`crate::dataset`]).
//!
//! `DIR/<identity>/<sample>.print.png` + `.vein.png` for every identity and sample. With
//! attacks, under `DIR/.attacks/` (skipped by dataset listing because of the dot):
//! - `photo/<identity>/<sample>.*.png`: printed photos of that identity's palm;
//! - `mismatch/<identity>/<sample>.*.png`: the print of `<identity>` with the vein image of
//!   identity `(i + ⌈N/2⌉) mod N`, same sample index.
//!
//! `DIR/.synth.json` records the parameters so a dataset can be regenerated exactly.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use super::{mismatched_pair, Identity, SynthConfig};
use crate::dataset::{write_sample, DatasetError};

/// Presentation attacks written per identity (sample indices 0..this, capped by samples).
pub const ATTACKS_PER_IDENTITY: u32 = 5;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct DatasetSpec {
    pub identities: u32,
    pub samples: u32,
    pub seed: u64,
    pub attacks: bool,
    /// Whole-hand photos (see [`Identity::hand_photo`]) instead of ROI squares.
    pub full_hand: bool,
    pub config: SynthConfig,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationSummary {
    pub samples: u64,
    pub photo_attacks: u64,
    pub mismatch_attacks: u64,
    pub seconds: f64,
}

/// Folder name of identity `i` among `n`: zero-padded so listing order is numeric order.
pub fn identity_name(i: u32, n: u32) -> String {
    let width = digits(n.saturating_sub(1)).max(5);
    format!("{i:0width$}")
}

/// File stem of sample `k` among `n`.
pub fn sample_name(k: u32, n: u32) -> String {
    let width = digits(n.saturating_sub(1)).max(2);
    format!("{k:0width$}")
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Generates the dataset into `out` (created if needed), identities in parallel.
pub fn write_dataset(out: &Path, spec: &DatasetSpec) -> Result<GenerationSummary, DatasetError> {
    if spec.full_hand && spec.attacks {
        return Err(DatasetError::Unsupported(
            "presentation attacks are generated as ROI images only; drop --attacks or --full-hand",
        ));
    }
    let started = Instant::now();
    std::fs::create_dir_all(out).map_err(|source| DatasetError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    write_manifest(out, spec)?;
    let attacks = if spec.attacks {
        ATTACKS_PER_IDENTITY.min(spec.samples)
    } else {
        0
    };
    let photo_dir = out.join(".attacks/photo");
    let mismatch_dir = out.join(".attacks/mismatch");
    let n = spec.identities;
    let partner = |i: u32| (i + n.div_ceil(2)) % n;
    let mismatches = spec.attacks && n >= 2;
    (0..n).into_par_iter().try_for_each(|i| {
        let identity = Identity::with_config(spec.seed, i as u64, spec.config);
        let name = identity_name(i, n);
        for k in 0..spec.samples {
            let capture = if spec.full_hand {
                identity.hand_photo(k)
            } else {
                identity.sample(k)
            };
            write_sample(out, &name, &sample_name(k, spec.samples), &capture)?;
        }
        for k in 0..attacks {
            let sample = sample_name(k, spec.samples);
            write_sample(&photo_dir, &name, &sample, &identity.photo_attack(k))?;
        }
        if mismatches && attacks > 0 {
            // Regenerating the partner's anatomy costs one identity render per identity.
            let other = Identity::with_config(spec.seed, partner(i) as u64, spec.config);
            for k in 0..attacks {
                let sample = sample_name(k, spec.samples);
                write_sample(
                    &mismatch_dir,
                    &name,
                    &sample,
                    &mismatched_pair(&identity, &other, k),
                )?;
            }
        }
        tracing::debug!(identity = i, "synthetic identity written");
        Ok::<(), DatasetError>(())
    })?;
    let n = n as u64;
    Ok(GenerationSummary {
        samples: n * spec.samples as u64,
        photo_attacks: n * attacks as u64,
        mismatch_attacks: if mismatches { n * attacks as u64 } else { 0 },
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_manifest(out: &Path, spec: &DatasetSpec) -> Result<(), DatasetError> {
    let manifest = serde_json::json!({
        "generator": "palmkey synth",
        "version": env!("CARGO_PKG_VERSION"),
        "seed": spec.seed,
        "identities": spec.identities,
        "samples": spec.samples,
        "roi_size": spec.config.roi_size,
        "band_aid_rate": spec.config.band_aid_rate,
        "attacks": spec.attacks,
        "full_hand": spec.full_hand,
        "attacks_per_identity": if spec.attacks { ATTACKS_PER_IDENTITY.min(spec.samples) } else { 0 },
        "mismatch_partner": "vein of identity (i + ceil(N/2)) mod N",
    });
    let path = out.join(".synth.json");
    let text = serde_json::to_string_pretty(&manifest).expect("JSON of plain values");
    std::fs::write(&path, text).map_err(|source| DatasetError::Write { path, source })
}

/// `palmkey palm synth`: validates the arguments, writes the dataset, prints a summary.
pub fn run_command(args: &crate::cli::SynthArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.identities >= 1, "--identities must be at least 1");
    anyhow::ensure!(args.samples >= 1, "--samples must be at least 1");
    let spec = DatasetSpec {
        identities: args.identities,
        samples: args.samples,
        seed: args.seed,
        attacks: args.attacks,
        full_hand: args.full_hand,
        config: SynthConfig::default(),
    };
    let summary = write_dataset(&args.out, &spec)?;
    println!(
        "wrote {} samples of {} identities to {} ({} photo attacks, {} mismatched pairs) in {:.1} s",
        summary.samples,
        spec.identities,
        args.out.display(),
        summary.photo_attacks,
        summary.mismatch_attacks,
        summary.seconds
    );
    Ok(())
}
