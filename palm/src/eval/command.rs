//! `palmkey palm eval`: argument handling and output (human text or the DESIGN.md JSON).

use std::path::PathBuf;

use anyhow::Context as _;

use super::engine_bio::{EngineBiometric, EvalModality};
use super::identification::IdentificationConfig;
use super::run::{evaluate, EvalOptions};
use crate::dataset::Dataset;

/// Parsed `palmkey palm eval` options.
#[derive(Debug, Clone)]
pub struct EvalCommand {
    pub dataset: PathBuf,
    pub modality: Option<String>,
    pub full_hand: bool,
    pub json: bool,
    pub identification: bool,
    pub attacks: bool,
    pub det_points: Option<PathBuf>,
}

/// The default modality: fused where both images exist, else the one that does.
fn default_modality(dataset: &Dataset) -> EvalModality {
    if dataset.samples().any(|s| s.is_paired()) {
        EvalModality::Fused
    } else if dataset.samples().any(|s| s.print.is_some()) {
        EvalModality::Print
    } else {
        EvalModality::Vein
    }
}

pub fn run(cmd: EvalCommand) -> anyhow::Result<()> {
    let modality = match &cmd.modality {
        Some(m) => m.parse::<EvalModality>().map_err(anyhow::Error::msg)?,
        None => default_modality(&Dataset::open(&cmd.dataset)?),
    };
    let bio = EngineBiometric::new(modality, cmd.full_hand);
    let has_attacks = cmd.dataset.join(".attacks").is_dir();
    let options = EvalOptions {
        identification: cmd.identification.then(IdentificationConfig::default),
        // Attacks are cheap: always measured where the dataset has them; in JSON only on request.
        attacks: cmd.attacks || (has_attacks && !cmd.json),
    };
    let out = evaluate(&bio, &cmd.dataset, modality.name(), options)
        .with_context(|| format!("evaluating {}", cmd.dataset.display()))?;
    if let Some(path) = &cmd.det_points {
        let tsv: String = out
            .verification
            .det
            .iter()
            .map(|(f, m)| format!("{f:e}\t{m:e}\n"))
            .collect();
        std::fs::write(path, format!("# fmr\tfnmr ({})\n{tsv}", modality.name()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if cmd.json {
        let mut v = out.verification.to_json();
        if let Some(id) = &out.identification {
            v["identification"] = serde_json::to_value(id)?;
        }
        if cmd.attacks {
            v["attacks"] = serde_json::to_value(&out.attacks)?;
        }
        println!("{v}");
    } else {
        print!("{}", out.verification.to_text());
        if let Some(id) = &out.identification {
            print!("\n{}", super::identification::to_text(id));
        }
        if !out.attacks.is_empty() {
            println!("\npresentation attacks (accepted = PAD passed and score ≥ threshold vs the claimed identity's enrolment)");
            for a in &out.attacks {
                print!("{}", a.to_text());
            }
        }
    }
    Ok(())
}
