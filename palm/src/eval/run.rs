//! `palmkey palm eval` end to end on a dataset directory: extract every sample once (in
//! parallel), run the all-pairs verification protocol, optionally identification and the
//! presentation attacks in `DIR/.attacks/<type>/`.
//!
//! ISO/IEC 19795-1 acquisition failures, as counted here:
//! * **FTE** (failure to enrol): the identity's *first* sample (in name order) — its enrolment
//!   presentation — yields no template. FTE = such identities / identities.
//! * **FTA** (failure to acquire): any *later* sample — a verification attempt — yields no
//!   template. FTA = such samples / later samples.
//!
//! Samples without a template take part in no comparison; the error rates are those of
//! comparisons between successfully extracted samples (ISO "FMR/FNMR", not the generalized
//! GFAR/GFRR, which would fold FTA in).

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use super::attacks::{AttackOutcome, AttackReport};
use super::identification::{identify, IdentificationConfig, IdentificationReport, Preselection};
use super::metrics::ErrorCurve;
use super::report::{Acquisition, VerificationReport};
use super::verification::{all_pairs, Enrolled, ScoreScale};
use crate::capture::Capture;
use crate::dataset::{Dataset, DatasetError};

/// What the evaluation needs from a biometric engine, for one modality.
pub trait Biometric: Sync {
    type Template: Send + Sync;
    /// Extracts a template, or says why the capture gave none (a failure to acquire).
    fn extract(&self, capture: &Capture) -> Result<Self::Template, String>;
    /// Similarity of two templates (higher = more alike).
    fn compare(&self, a: &Self::Template, b: &Self::Template) -> f32;
    /// Range and histogram resolution of [`Biometric::compare`] scores.
    fn scale(&self) -> ScoreScale;
    /// Presentation-attack detection: `Err(reason)` for a suspected attack.
    fn assess_presentation(&self, capture: &Capture) -> Result<(), String>;
    /// The 1:N pre-selection codes of this biometric's templates, if it has any
    /// (identification then runs the cascade; without, it searches exhaustively only).
    fn preselection(&self) -> Option<&dyn Preselection<Self::Template>> {
        None
    }
}

/// Which protocols to run besides verification.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    pub identification: Option<IdentificationConfig>,
    pub attacks: bool,
}

/// Everything one evaluation run measured.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    pub verification: VerificationReport,
    pub identification: Option<IdentificationReport>,
    pub attacks: Vec<AttackReport>,
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("identity {identity}, sample {sample}: {source}")]
    Image {
        identity: String,
        sample: String,
        #[source]
        source: crate::capture::CaptureError,
    },
    #[error("more than {} identities", u32::MAX)]
    TooManyIdentities,
}

/// One extracted dataset sample.
struct Extracted<T> {
    subject: u32,
    ordinal: u32,
    template: Result<T, String>,
}

fn extract_all<B: Biometric>(
    bio: &B,
    dataset: &Dataset,
) -> Result<Vec<Extracted<B::Template>>, EvalError> {
    let jobs: Vec<(u32, u32, &crate::dataset::SampleEntry)> = dataset
        .identities()
        .iter()
        .enumerate()
        .flat_map(|(s, id)| {
            id.samples
                .iter()
                .enumerate()
                .map(move |(k, e)| (s as u32, k as u32, e))
        })
        .collect();
    jobs.par_iter()
        .map(|&(subject, ordinal, entry)| {
            let capture = entry.load().map_err(|source| EvalError::Image {
                identity: entry.identity.clone(),
                sample: entry.name.clone(),
                source,
            })?;
            Ok(Extracted {
                subject,
                ordinal,
                template: bio.extract(&capture),
            })
        })
        .collect()
}

/// Runs the evaluation of `bio` on the dataset at `root`.
pub fn evaluate<B: Biometric>(
    bio: &B,
    root: &Path,
    modality: &str,
    options: EvalOptions,
) -> Result<EvalOutcome, EvalError> {
    let started = Instant::now();
    let dataset = Dataset::open(root)?;
    if u32::try_from(dataset.identities().len()).is_err() {
        return Err(EvalError::TooManyIdentities);
    }
    let extracted = extract_all(bio, &dataset)?;
    tracing::info!(
        samples = extracted.len(),
        seconds = started.elapsed().as_secs_f64(),
        "templates extracted"
    );
    let mut acquisition = Acquisition {
        identities: dataset.identities().len(),
        ..Acquisition::default()
    };
    for e in &extracted {
        let failed = e.template.is_err();
        if e.ordinal == 0 {
            acquisition.failed_enrolments += usize::from(failed);
        } else {
            acquisition.attempts += 1;
            acquisition.failed_attempts += usize::from(failed);
        }
        if let Err(reason) = &e.template {
            tracing::debug!(subject = e.subject, sample = e.ordinal, %reason, "no template");
        }
    }
    let samples = extracted.len();
    let enrolled: Vec<(Enrolled<B::Template>, u32)> = extracted
        .into_iter()
        .filter_map(|e| {
            e.template.ok().map(|t| {
                (
                    Enrolled {
                        subject: e.subject,
                        template: t,
                    },
                    e.ordinal,
                )
            })
        })
        .collect();

    // all_pairs wants plain Enrolled; borrow templates to avoid copying 5 KiB each.
    let refs: Vec<Enrolled<&B::Template>> = enrolled
        .iter()
        .map(|(e, _)| Enrolled {
            subject: e.subject,
            template: &e.template,
        })
        .collect();
    let scale = bio.scale();
    let scores = all_pairs(&refs, scale, |a, b| bio.compare(a, b));
    let curve = ErrorCurve::new(&scores.genuine, &scores.impostor);
    let impostor_mean = histogram_mean(&scores.impostor);
    let mut verification = VerificationReport::new(
        modality,
        samples,
        acquisition,
        &scores.genuine,
        &curve,
        impostor_mean,
    );
    verification.seconds = started.elapsed().as_secs_f64();
    tracing::info!(seconds = verification.seconds, "verification done");

    let identification = options.identification.map(|config| {
        identify(&enrolled, config, bio.preselection(), |a, b| {
            bio.compare(a, b)
        })
    });

    let attacks = if options.attacks {
        let thresholds: Vec<(String, f64)> = verification
            .far_points
            .iter()
            .filter_map(|p| p.point.map(|m| (p.label.to_string(), m.op.threshold)))
            .collect();
        evaluate_attacks(bio, &dataset, &enrolled, &thresholds)?
    } else {
        Vec::new()
    };
    Ok(EvalOutcome {
        verification,
        identification,
        attacks,
    })
}

/// Mean of the histogram's scores (bin centres): within one bin width of the exact mean.
fn histogram_mean(h: &super::histogram::ScoreHistogram) -> f64 {
    let (lo, hi) = h.range();
    let w = (hi - lo) / h.bins() as f64;
    let sum: f64 = h
        .counts()
        .iter()
        .enumerate()
        .map(|(i, &c)| c as f64 * (lo + (i as f64 + 0.5) * w))
        .sum();
    sum / h.total().max(1) as f64
}

/// Attack types are the folders of `DIR/.attacks/`, each laid out like a dataset whose identity
/// folders name the identity the attack imitates.
fn evaluate_attacks<B: Biometric>(
    bio: &B,
    dataset: &Dataset,
    enrolled: &[(Enrolled<B::Template>, u32)],
    thresholds: &[(String, f64)],
) -> Result<Vec<AttackReport>, EvalError> {
    let dir = dataset.root().join(".attacks");
    let Ok(read) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut kinds: Vec<(String, std::path::PathBuf)> = read
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok().map(|n| (n, e.path())))
        .collect();
    kinds.sort();
    let reference = |identity: &str| -> Option<&B::Template> {
        let subject = dataset
            .identities()
            .iter()
            .position(|i| i.name == identity)? as u32;
        enrolled
            .iter()
            .find(|(e, k)| e.subject == subject && *k == 0)
            .map(|(e, _)| &e.template)
    };
    let mut reports = Vec::new();
    for (kind, path) in kinds {
        let attacks = Dataset::open(&path)?;
        let entries: Vec<_> = attacks.samples().collect();
        let outcomes: Vec<AttackOutcome> = entries
            .par_iter()
            .map(|entry| {
                let capture = entry.load().map_err(|source| EvalError::Image {
                    identity: format!(".attacks/{kind}/{}", entry.identity),
                    sample: entry.name.clone(),
                    source,
                })?;
                let pad_passed = bio.assess_presentation(&capture).is_ok();
                let Some(reference) = reference(&entry.identity) else {
                    return Ok(AttackOutcome::NoReference);
                };
                Ok(match bio.extract(&capture) {
                    Err(_) if !pad_passed => AttackOutcome::PadRejected,
                    Err(_) => AttackOutcome::NoTemplate,
                    Ok(t) => AttackOutcome::Compared {
                        score: bio.compare(&t, reference),
                        pad_passed,
                    },
                })
            })
            .collect::<Result<_, EvalError>>()?;
        reports.push(AttackReport::new(&kind, &outcomes, thresholds));
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::write_sample;
    use image::{GrayImage, Luma};

    /// A toy engine: the template is the image's mean brightness; identities differ in
    /// brightness. A nearly black image "fails to acquire"; a print without a vein image is a
    /// "photo attack" for PAD.
    struct Toy;

    impl Biometric for Toy {
        type Template = f32;
        fn extract(&self, c: &Capture) -> Result<f32, String> {
            let img = c.print.as_ref().ok_or("no print")?;
            let mean = img.pixels().map(|p| f32::from(p[0])).sum::<f32>() / img.len() as f32;
            if mean < 5.0 {
                Err("too dark".into())
            } else {
                Ok(mean)
            }
        }
        fn compare(&self, a: &f32, b: &f32) -> f32 {
            1.0 - (a - b).abs() / 255.0
        }
        fn scale(&self) -> ScoreScale {
            ScoreScale {
                lo: 0.0,
                hi: 1.0,
                bins: 1 << 16,
            }
        }
        fn assess_presentation(&self, c: &Capture) -> Result<(), String> {
            c.vein
                .as_ref()
                .map(|_| ())
                .ok_or_else(|| "no NIR image".into())
        }
    }

    fn img(v: u8) -> GrayImage {
        GrayImage::from_pixel(8, 8, Luma([v]))
    }

    #[test]
    fn toy_dataset_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for id in 0..20u8 {
            for k in 0..3u8 {
                // Identity brightness 20 + 10·id, sample jitter ±1; identity 7's first
                // sample is black (FTE), identity 3's last one too (FTA).
                let dark = (id == 7 && k == 0) || (id == 3 && k == 2);
                let v = if dark { 0 } else { 20 + 10 * id + k };
                write_sample(
                    root,
                    &format!("id{id:02}"),
                    &format!("{k}"),
                    &Capture::paired(img(v), img(9)),
                )
                .unwrap();
            }
        }
        let photo = Capture {
            print: Some(img(20 + 10 * 5)),
            vein: None,
        };
        write_sample(&root.join(".attacks/photo"), "id05", "0", &photo).unwrap();
        let opts = EvalOptions {
            identification: Some(IdentificationConfig {
                holdout_every: 4,
                fpir: 0.5,
                ..IdentificationConfig::default()
            }),
            attacks: true,
        };
        let out = evaluate(&Toy, root, "print", opts).unwrap();
        let v = &out.verification;
        assert_eq!(v.samples, 60);
        assert_eq!(v.acquisition.failed_enrolments, 1);
        assert_eq!(v.acquisition.failed_attempts, 1);
        assert_eq!(v.genuine, 18 * 3 + 2);
        assert_eq!(v.eer, Some(0.0));
        let json = v.to_json();
        assert_eq!(json["identities"], 20);
        assert!((json["fte"].as_f64().unwrap() - 0.05).abs() < 1e-12);
        let id = out.identification.unwrap();
        assert_eq!(id.rank1, 1.0);
        assert_eq!(out.attacks.len(), 1);
        let photo = &out.attacks[0];
        assert_eq!(
            (
                photo.attack.as_str(),
                photo.presentations,
                photo.pad_rejected
            ),
            ("photo", 1, 1)
        );
        assert!(photo
            .at
            .iter()
            .all(|a| a.accepted == 0 && a.accepted_without_pad == 1));
    }

    #[test]
    fn corrupt_image_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/0.print.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
        let err = evaluate(&Toy, dir.path(), "print", EvalOptions::default()).unwrap_err();
        assert!(err.to_string().contains("identity a, sample 0"), "{err}");
    }
}
