//! Presentation-attack detection (PAD) for paired visible + near-infrared captures.
//!
//! Three cues, each physical rather than tied to a generator:
//! - **vessels**: living palms show a network of wide, dark, oriented vessels at 850 nm; paper
//!   does not. Measured as the orientation selectivity of the vein-scale Gabor bank on the
//!   flattened NIR image (winner vs. mean response, averaged over the ROI): high for vessel
//!   networks, low for flat paper, ink halftone and noise.
//! - **print-in-NIR**: skin scatters NIR light, so the fine print texture (wrinkles, ridges)
//!   is almost invisible in a live NIR image; a printed photo shows the same ink in both bands.
//!   Measured as the print-code similarity between the visible and the NIR image.
//! - **cross-spectral consistency**: the two images of one capture come from one hand; the
//!   principal creases, faintly visible in NIR, must line up with the visible ones. Measured as
//!   the similarity of coarse crease codes of both images; a print/vein pair from two different
//!   palms (or two presentations) scores at chance level (≈ 0.5).
//!
//! Single-image captures cannot be checked for the cross-spectral cues; only the vessel cue is
//! applied to a lone NIR image.

use crate::capture::Capture;
use crate::code::{BankParams, Coder, ORIENTATIONS};
use crate::engine::Engine;
use crate::filters::{Kernel, Plane};
use crate::matcher::{self, SearchRange};
use crate::template::ModalityCode;
use crate::{normalize, print, vein};

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadVerdict {
    BonaFide,
    /// A printed photo (or screen): no vessels, the same texture in both bands.
    PhotoAttack,
    /// Visible and NIR images that do not come from the same hand at the same time.
    MismatchedPair,
    /// The capture could not be assessed (no usable image); treat as a failure to acquire.
    Unusable,
}

/// The measured cues (see the module doc); `None` when not measurable on this capture.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PadScores {
    pub vessels: Option<f32>,
    pub print_in_nir: Option<f32>,
    pub cross_spectral: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PadDecision {
    pub verdict: PadVerdict,
    pub scores: PadScores,
}

impl PadDecision {
    pub fn is_bona_fide(&self) -> bool {
        self.verdict == PadVerdict::BonaFide
    }
}

/// Decision thresholds (calibrated on training seeds; see the engine report).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PadParams {
    /// Vessel selectivity below this: no vessels.
    pub min_vessels: f32,
    /// Print-code similarity between the bands above this: printed photo.
    pub max_print_in_nir: f32,
    /// Crease-code similarity between the bands below this: mismatched pair.
    pub min_cross_spectral: f32,
}

impl Default for PadParams {
    fn default() -> Self {
        Self {
            min_vessels: 0.30,
            max_print_in_nir: 0.80,
            min_cross_spectral: 0.56,
        }
    }
}

/// Crease-scale bank: principal creases are a few mm wide, visible in both bands.
const CREASE_BANK: BankParams = BankParams {
    sigma: 0.045,
    wavelength: 0.13,
    min_energy: 0.05,
};
/// Side used for the cross-spectral comparisons.
const CROSS_SIDE: usize = 64;

/// Assesses a capture of ROI squares with the default engine configuration.
pub fn assess(capture: &Capture) -> PadDecision {
    assess_with(&Engine::default(), capture, &PadParams::default())
}

/// Assesses a capture with an engine's ROI configuration (e.g. whole-hand images).
pub fn assess_with(engine: &Engine, capture: &Capture, params: &PadParams) -> PadDecision {
    let Ok(rois) = engine.rois(capture) else {
        return PadDecision {
            verdict: PadVerdict::Unusable,
            scores: PadScores::default(),
        };
    };
    let mut scores = PadScores::default();
    if let Some(nir) = &rois.vein {
        scores.vessels = Some(vessel_selectivity(&normalize::vein(nir)));
    }
    if let (Some(vis), Some(nir)) = (&rois.print, &rois.vein) {
        let nir_hi = nir.resize(vis.w, vis.h);
        let fine = Coder::new(print::BANK, print::SIDE, &[0]);
        scores.print_in_nir = similarity(&fine, &normalize::print(vis), &normalize::print(&nir_hi));
        let coarse = Coder::new(CREASE_BANK, CROSS_SIDE, &[0]);
        let (v, n) = (
            vis.resize(CROSS_SIDE, CROSS_SIDE),
            nir.resize(CROSS_SIDE, CROSS_SIDE),
        );
        scores.cross_spectral = similarity(&coarse, &normalize::print(&v), &normalize::print(&n));
    }
    let verdict = if scores.vessels.is_some_and(|v| v < params.min_vessels)
        || scores
            .print_in_nir
            .is_some_and(|p| p > params.max_print_in_nir)
    {
        PadVerdict::PhotoAttack
    } else if scores
        .cross_spectral
        .is_some_and(|c| c < params.min_cross_spectral)
    {
        PadVerdict::MismatchedPair
    } else if scores.vessels.is_none() && scores.print_in_nir.is_none() {
        // A lone visible image: nothing to assess it with.
        PadVerdict::Unusable
    } else {
        PadVerdict::BonaFide
    };
    PadDecision { verdict, scores }
}

fn similarity(coder: &Coder, a: &Plane, b: &Plane) -> Option<f32> {
    let code = |p: &Plane| ModalityCode::new(coder.encode(p, &|_, _| true)).ok();
    let (ca, cb) = (code(a)?, code(b)?);
    matcher::compare(&ca, &cb, SearchRange { max_shift: 1 }).map(|al| al.similarity)
}

/// Mean over a lattice of `(mean response − winning response) / mean |response|`: 0 for
/// isotropic texture or noise, larger where one orientation dominates (a vessel).
fn vessel_selectivity(nir: &Plane) -> f32 {
    let side = nir.w as f32;
    let kernels: Vec<Kernel> = (0..ORIENTATIONS)
        .map(|k| {
            let theta = k as f32 * std::f32::consts::PI / ORIENTATIONS as f32;
            Kernel::gabor_even(theta, vein::BANK.sigma * side, vein::BANK.wavelength * side)
        })
        .collect();
    let n = 12;
    let mut total = 0.0;
    let mut count = 0;
    for j in 0..n {
        for i in 0..n {
            let x = ((i as f32 + 0.5) / n as f32 * side) as i32;
            let y = ((j as f32 + 0.5) / n as f32 * side) as i32;
            let r: Vec<f32> = kernels.iter().map(|k| k.apply_at(nir, x, y)).collect();
            let mean = r.iter().sum::<f32>() / r.len() as f32;
            let mean_abs = r.iter().map(|v| v.abs()).sum::<f32>() / r.len() as f32;
            let min = r.iter().copied().fold(f32::INFINITY, f32::min);
            if mean_abs > 1e-6 {
                total += (mean - min) / mean_abs;
                count += 1;
            }
        }
    }
    total / count.max(1) as f32
}
