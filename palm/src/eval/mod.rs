//! ISO/IEC 19795-1 style evaluation of the palm engine: verification (all pairs), identification
//! (closed and open set), presentation-attack acceptance, and the `palmkey palm eval` report.

pub mod attacks;
pub mod command;
pub mod confidence;
pub mod det_plot;
pub mod engine_bio;
pub mod histogram;
pub mod identification;
pub mod metrics;
pub mod report;
pub mod run;
pub mod verification;
