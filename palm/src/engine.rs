//! The engine: capture → template, template × template → scores → decision.
//!
//! Score scale ([`MatchScores`]): `print` and `vein` are similarities in `[0, 1]` (1 − normalised
//! angular Hamming distance; ≈ 0.5 for different palms, → 1 for the same palm), `fused` is the
//! natural-log odds of "same palm" from the learned fusion model ([`crate::fusion`]); higher is
//! always more alike. [`Engine::is_match`] applies the calibrated threshold (FMR ≈ 1e-6).

use crate::capture::Capture;
use crate::code::{BankParams, CodeMap, Coder};
use crate::filters::Plane;
use crate::fusion::FusionModel;
use crate::matcher::{self, SearchRange};
use crate::quality::{self, QualityIssue, QualityParams};
use crate::roi::{self, PalmFrame, RoiError};
use crate::template::{ModalityCode, Template};
use crate::{normalize, print, vein};

/// Which image of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    Print,
    Vein,
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Modality::Print => "print",
            Modality::Vein => "vein",
        })
    }
}

/// Why no template could be extracted: a failure to acquire (FTA), never a non-match.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    #[error("capture has no image the engine is configured to use")]
    NoImage,
    #[error("{modality} image: {issue}")]
    Quality {
        modality: Modality,
        issue: QualityIssue,
    },
    #[error("{modality} image: {error}")]
    Roi { modality: Modality, error: RoiError },
    #[error("{modality} image: too few usable code cells ({cells})")]
    NoFeatures { modality: Modality, cells: u32 },
}

/// Engine configuration. `Default` is the calibrated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Images are whole-hand photos: locate the palm from the finger valleys.
    pub full_hand: bool,
    /// Use the print image when present.
    pub use_print: bool,
    /// Use the vein image when present.
    pub use_vein: bool,
    /// Rotations of the sampling frame stored in templates (degrees, 0 first). Together with
    /// the matcher's translation search they absorb residual ROI misalignment.
    pub rotations_deg: Vec<i8>,
    pub search: SearchRange,
    /// Print code: working ROI side (pixels) and filter bank.
    pub print_side: usize,
    pub print_bank: BankParams,
    /// Vein code: working ROI side (pixels) and filter bank.
    pub vein_side: usize,
    pub vein_bank: BankParams,
    /// Quality thresholds of the print image.
    pub quality: QualityParams,
    /// Quality thresholds of the NIR image (softer: skin scatters NIR, so it is never as
    /// sharp as the visible image).
    pub vein_quality: QualityParams,
    pub fusion: FusionModel,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            full_hand: false,
            use_print: true,
            use_vein: true,
            rotations_deg: vec![0, -5, 5, -10, 10],
            search: SearchRange::default(),
            print_side: print::SIDE,
            print_bank: print::BANK,
            vein_side: vein::SIDE,
            vein_bank: vein::BANK,
            quality: QualityParams::default(),
            vein_quality: QualityParams {
                min_sharpness: 0.6,
                ..QualityParams::default()
            },
            fusion: FusionModel::default(),
        }
    }
}

/// Scores of one comparison (see the module doc for the scales).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchScores {
    pub print: Option<f32>,
    pub vein: Option<f32>,
    /// Fused log odds; `f32::NEG_INFINITY` when nothing was comparable.
    pub fused: f32,
}

/// The palm recognition engine. Cheap to share across threads (`&self` everywhere).
#[derive(Debug, Clone)]
pub struct Engine {
    config: EngineConfig,
    print_coder: Coder,
    vein_coder: Coder,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(EngineConfig::default())
    }
}

/// Minimum valid cells (of 1024) for a modality code to be worth storing.
const MIN_CELLS: u32 = 200;

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        let print_coder = Coder::new(config.print_bank, config.print_side, &config.rotations_deg);
        let vein_coder = Coder::new(config.vein_bank, config.vein_side, &config.rotations_deg);
        Self {
            config,
            print_coder,
            vein_coder,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Extracts a template. Every present (and enabled) image must pass quality: a capture with
    /// one bad image is re-taken rather than silently matched on one modality.
    pub fn extract(&self, capture: &Capture) -> Result<Template, ExtractError> {
        let rois = self.rois(capture)?;
        let code = |m: Modality, roi: &Plane| -> Result<ModalityCode, ExtractError> {
            let params = match m {
                Modality::Print => &self.config.quality,
                Modality::Vein => &self.config.vein_quality,
            };
            let occlusion = quality::assess(roi, params)
                .map_err(|issue| ExtractError::Quality { modality: m, issue })?;
            let (plane, coder) = match m {
                Modality::Print => (normalize::print(roi), &self.print_coder),
                Modality::Vein => (normalize::vein(roi), &self.vein_coder),
            };
            let side = plane.w;
            let maps: Vec<(i8, CodeMap)> =
                coder.encode(&plane, &|x, y| !occlusion.covers(x, y, side));
            let cells = maps[0].1.valid_cells();
            if cells < MIN_CELLS {
                return Err(ExtractError::NoFeatures { modality: m, cells });
            }
            Ok(ModalityCode::new(maps).expect("coder frames start at 0°"))
        };
        let print = rois
            .print
            .as_ref()
            .map(|r| code(Modality::Print, r))
            .transpose()?;
        let vein = rois
            .vein
            .as_ref()
            .map(|r| code(Modality::Vein, r))
            .transpose()?;
        Template::new(print, vein).map_err(|_| ExtractError::NoImage)
    }

    /// The raw (un-normalised) ROIs of a capture at the working resolutions.
    pub fn rois(&self, capture: &Capture) -> Result<Rois, ExtractError> {
        let print_img = capture
            .print
            .as_ref()
            .filter(|_| self.config.use_print)
            .map(Plane::from_gray);
        let vein_img = capture
            .vein
            .as_ref()
            .filter(|_| self.config.use_vein)
            .map(Plane::from_gray);
        if print_img.is_none() && vein_img.is_none() {
            return Err(ExtractError::NoImage);
        }
        let frame_of = |m: Modality, img: &Plane| -> Result<PalmFrame, ExtractError> {
            if self.config.full_hand {
                roi::locate_palm(img).map_err(|error| ExtractError::Roi { modality: m, error })
            } else {
                Ok(PalmFrame::centred_square(img.w, img.h))
            }
        };
        // The two images of a paired capture are registered: locate the palm once, in the
        // visible-light image where the hand outline is sharpest, and reuse it for the NIR.
        let shared = match (&print_img, &vein_img) {
            (Some(p), Some(v)) if self.config.full_hand && (p.w, p.h) == (v.w, v.h) => {
                Some(frame_of(Modality::Print, p)?)
            }
            _ => None,
        };
        let roi = |m: Modality,
                   img: &Option<Plane>,
                   side: usize|
         -> Result<Option<Plane>, ExtractError> {
            let Some(img) = img else { return Ok(None) };
            let frame = match shared {
                Some(f) => f,
                None => frame_of(m, img)?,
            };
            Ok(Some(frame.extract(img, side)))
        };
        Ok(Rois {
            print: roi(Modality::Print, &print_img, self.config.print_side)?,
            vein: roi(Modality::Vein, &vein_img, self.config.vein_side)?,
        })
    }

    /// Compares a probe with a reference template. Symmetric in meaning, not bit-exact: the
    /// probe's canonical frame is aligned against the reference's rotated frames.
    pub fn compare(&self, probe: &Template, reference: &Template) -> MatchScores {
        let range = self.config.search;
        let mut pairs = Vec::with_capacity(2);
        if let (Some(a), Some(b)) = (probe.print(), reference.print()) {
            pairs.push((Modality::Print, (a, b)));
        }
        if let (Some(a), Some(b)) = (probe.vein(), reference.vein()) {
            pairs.push((Modality::Vein, (a, b)));
        }
        let codes: Vec<_> = pairs.iter().map(|(_, c)| *c).collect();
        let (print, vein) = match matcher::compare_joint(&codes, range) {
            Some((scores, _)) => {
                let of = |m: Modality| {
                    pairs
                        .iter()
                        .zip(&scores)
                        .find(|((pm, _), _)| *pm == m)
                        .and_then(|(_, s)| *s)
                };
                (of(Modality::Print), of(Modality::Vein))
            }
            None => (None, None),
        };
        let fused = self
            .config
            .fusion
            .fuse(print, vein)
            .unwrap_or(f32::NEG_INFINITY);
        MatchScores { print, vein, fused }
    }

    /// The decision at the calibrated operating point (FMR ≈ 1e-6, see [`crate::fusion`]).
    pub fn is_match(&self, scores: &MatchScores) -> bool {
        scores.fused >= self.config.fusion.threshold
    }
}

/// Raw ROIs in `[0, 1]`: print at [`print::SIDE`], vein at [`vein::SIDE`].
#[derive(Debug, Clone)]
pub struct Rois {
    pub print: Option<Plane>,
    pub vein: Option<Plane>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Identity;

    #[test]
    fn same_palm_scores_above_different_palms() {
        let engine = Engine::default();
        let a = Identity::new(11, 0);
        let b = Identity::new(11, 1);
        let a0 = engine.extract(&a.sample(0)).unwrap();
        let a1 = engine.extract(&a.sample(1)).unwrap();
        let b0 = engine.extract(&b.sample(0)).unwrap();
        let same = engine.compare(&a0, &a1);
        let diff = engine.compare(&a0, &b0);
        assert!(
            same.print.unwrap() > diff.print.unwrap(),
            "{same:?} {diff:?}"
        );
        assert!(same.vein.unwrap() > diff.vein.unwrap(), "{same:?} {diff:?}");
        assert!(same.fused > diff.fused);
        assert!(!engine.is_match(&diff));
        let itself = engine.compare(&a0, &a0);
        assert!(
            itself.print.unwrap() > 0.95 && engine.is_match(&itself),
            "{itself:?}"
        );
    }

    #[test]
    fn templates_survive_serialisation_with_identical_scores() {
        let engine = Engine::default();
        let p = Identity::new(12, 3);
        let t0 = engine.extract(&p.sample(0)).unwrap();
        let t1 = engine.extract(&p.sample(1)).unwrap();
        let bytes = t1.to_bytes();
        assert!(bytes.len() < 6 * 1024, "{} bytes", bytes.len());
        let back = Template::from_bytes(&bytes).unwrap();
        assert_eq!(engine.compare(&t0, &t1), engine.compare(&t0, &back));
    }

    #[test]
    fn failures_to_acquire_carry_a_reason() {
        let engine = Engine::default();
        let dark = image::GrayImage::from_pixel(128, 128, image::Luma([5]));
        let err = engine
            .extract(&Capture {
                print: Some(dark),
                vein: None,
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Quality {
                    modality: Modality::Print,
                    ..
                }
            ),
            "{err}"
        );
        let err = engine
            .extract(&Capture {
                print: None,
                vein: None,
            })
            .unwrap_err();
        assert_eq!(err, ExtractError::NoImage);
    }

    #[test]
    fn full_hand_mode_reports_missing_fingers() {
        let engine = Engine::new(EngineConfig {
            full_hand: true,
            ..EngineConfig::default()
        });
        let blob = image::GrayImage::from_fn(200, 200, |x, y| {
            let d = (x as f32 - 100.0).hypot(y as f32 - 100.0);
            image::Luma([if d < 60.0 { 200 } else { 20 }])
        });
        let err = engine
            .extract(&Capture {
                print: Some(blob),
                vein: None,
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Roi {
                    error: RoiError::FingersNotFound,
                    ..
                }
            ),
            "{err}"
        );
    }
}
