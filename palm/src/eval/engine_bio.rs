//! The palmkey [`Engine`] seen through the evaluation's [`Biometric`] trait, for one modality.

use super::identification::Preselection;
use super::run::Biometric;
use super::verification::ScoreScale;
use crate::capture::Capture;
use crate::engine::{Engine, EngineConfig};
use crate::pad::{self, PadParams};
use crate::search::quick::{QuickProbe, QuickRef};
use crate::template::Template;

/// Which score the evaluation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalModality {
    /// Palm print alone (the vein image is not used, not even for quality).
    Print,
    /// Palm vein alone.
    Vein,
    /// Both, fused by the engine's calibrated model.
    Fused,
}

impl EvalModality {
    pub fn name(self) -> &'static str {
        match self {
            EvalModality::Print => "print",
            EvalModality::Vein => "vein",
            EvalModality::Fused => "fused",
        }
    }
}

impl std::str::FromStr for EvalModality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "print" => Ok(Self::Print),
            "vein" => Ok(Self::Vein),
            "fused" => Ok(Self::Fused),
            other => Err(format!(
                "unknown modality {other:?} (expected print, vein or fused)"
            )),
        }
    }
}

/// Histogram bins over a modality's score range.
const BINS: usize = 1 << 20;

/// The engine configured for one modality.
#[derive(Debug, Clone)]
pub struct EngineBiometric {
    engine: Engine,
    /// PAD always sees both images (the sensor captures both), whatever modality is scored.
    pad_engine: Engine,
    modality: EvalModality,
}

impl EngineBiometric {
    /// The calibrated engine restricted to `modality`.
    pub fn new(modality: EvalModality, full_hand: bool) -> Self {
        let config = EngineConfig {
            full_hand,
            use_print: modality != EvalModality::Vein,
            use_vein: modality != EvalModality::Print,
            ..EngineConfig::default()
        };
        let pad_engine = Engine::new(EngineConfig {
            full_hand,
            ..EngineConfig::default()
        });
        Self {
            engine: Engine::new(config),
            pad_engine,
            modality,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Biometric for EngineBiometric {
    type Template = Template;

    fn extract(&self, capture: &Capture) -> Result<Template, String> {
        self.engine.extract(capture).map_err(|e| e.to_string())
    }

    fn compare(&self, a: &Template, b: &Template) -> f32 {
        let s = self.engine.compare(a, b);
        match self.modality {
            EvalModality::Print => s.print.unwrap_or(f32::NEG_INFINITY),
            EvalModality::Vein => s.vein.unwrap_or(f32::NEG_INFINITY),
            EvalModality::Fused => s.fused,
        }
    }

    fn scale(&self) -> ScoreScale {
        // Similarities are 1 − a rescaled distance: within [-0.25, 1.25] by construction. The
        // fused log odds are affine in them, so the corners of that square bound them.
        let (lo, hi) = (-0.25f32, 1.25f32);
        match self.modality {
            EvalModality::Print | EvalModality::Vein => ScoreScale {
                lo: lo.into(),
                hi: hi.into(),
                bins: BINS,
            },
            EvalModality::Fused => {
                let fusion = &self.engine.config().fusion;
                let corners = [(lo, lo), (lo, hi), (hi, lo), (hi, hi)];
                let mut values: Vec<f32> = corners
                    .iter()
                    .flat_map(|&(p, v)| {
                        [
                            fusion.fuse(Some(p), Some(v)),
                            fusion.fuse(Some(p), None),
                            fusion.fuse(None, Some(v)),
                        ]
                    })
                    .flatten()
                    .collect();
                values.sort_by(f32::total_cmp);
                ScoreScale {
                    lo: values[0].into(),
                    hi: f64::from(values[values.len() - 1]) + 1e-3,
                    bins: BINS,
                }
            }
        }
    }

    fn assess_presentation(&self, capture: &Capture) -> Result<(), String> {
        let decision = pad::assess_with(&self.pad_engine, capture, &PadParams::default());
        if decision.is_bona_fide() {
            Ok(())
        } else {
            Err(format!("{:?} ({:?})", decision.verdict, decision.scores))
        }
    }

    fn preselection(&self) -> Option<&dyn Preselection<Template>> {
        Some(self)
    }
}

/// The cascade's codes, weighting the modalities as the fusion does (as the authenticator's
/// palm UV does).
impl Preselection<Template> for EngineBiometric {
    fn quick_ref(&self, template: &Template) -> QuickRef {
        QuickRef::new(template)
    }

    fn quick_probe(&self, template: &Template) -> QuickProbe {
        QuickProbe::new(template, self.engine.config().fusion.fused.weights)
    }
}
