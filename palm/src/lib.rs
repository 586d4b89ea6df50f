//! palmkey's biometric engine.
//!
//! Capture (visible-light print image and/or near-infrared vein image) → ROI → quality →
//! print code + vein code → versioned template → 1:1 / 1:N matching with a fused, calibrated
//! decision. Also the synthetic data source and the ISO/IEC 19795-1 evaluation used to state
//! the engine's accuracy.

pub mod capture;
pub mod cli;
pub mod code;
pub mod dataset;
pub mod engine;
pub mod eval;
pub mod filters;
pub mod fusion;
pub mod matcher;
pub mod normalize;
pub mod pad;
pub mod print;
pub mod quality;
pub mod roi;
pub mod search;
pub mod synth;
pub mod template;
#[cfg(target_arch = "x86_64")]
mod vector;
pub mod vein;
