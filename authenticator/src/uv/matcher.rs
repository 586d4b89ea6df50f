//! The palm engine as palm UV uses it: extraction with quality, presentation-attack detection,
//! 1:1 scores at the calibrated threshold, and the probe side of the 1:N pre-selection.

use crate::palm::capture::Capture;
use crate::palm::engine::{Engine, ExtractError};
use crate::palm::eval::engine_bio::{EngineBiometric, EvalModality};
use crate::palm::pad::{self, PadParams, PadVerdict};
use crate::palm::search::quick::QuickProbe;
use crate::palm::template::Template;

/// What one presentation gave.
#[derive(Debug)]
pub enum Judged {
    /// A bona fide palm, coded.
    Template(Template),
    /// A failure to acquire (exposure, blur, occlusion, no hand…): recapture, never a retry.
    Unusable(ExtractError),
    /// A suspected presentation attack (photo, mismatched bands).
    Attack(PadVerdict),
}

/// The calibrated fused engine (print + vein) with PAD. Cheap to share (`&self` only).
#[derive(Debug, Clone)]
pub struct PalmMatcher {
    bio: EngineBiometric,
    pad_engine: Engine,
}

impl Default for PalmMatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl PalmMatcher {
    pub fn new() -> Self {
        PalmMatcher {
            bio: EngineBiometric::new(EvalModality::Fused, false),
            pad_engine: Engine::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        self.bio.engine()
    }

    /// Quality + coding first (a bad capture is a failure to acquire, whatever is on the
    /// sensor), then PAD on the usable capture.
    pub fn judge(&self, capture: &Capture) -> Judged {
        let template = match self.engine().extract(capture) {
            Ok(t) => t,
            Err(e) => return Judged::Unusable(e),
        };
        let decision = pad::assess_with(&self.pad_engine, capture, &PadParams::default());
        match decision.verdict {
            PadVerdict::BonaFide => Judged::Template(template),
            // PAD could not look at it although extraction could: treat as unusable.
            PadVerdict::Unusable => Judged::Unusable(ExtractError::NoImage),
            verdict => Judged::Attack(verdict),
        }
    }

    /// Fused log-odds similarity (higher = more alike).
    pub fn score(&self, probe: &Template, reference: &Template) -> f32 {
        self.engine().compare(probe, reference).fused
    }

    /// The calibrated decision threshold (FMR ≈ 1e-6 per comparison).
    pub fn threshold(&self) -> f32 {
        self.engine().config().fusion.threshold
    }

    /// The probe side of the 1:N pre-selection, weighting the modalities as the fusion does.
    pub fn quick_probe(&self, probe: &Template) -> QuickProbe {
        QuickProbe::new(probe, self.engine().config().fusion.fused.weights)
    }
}
