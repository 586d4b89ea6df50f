//! 1:N identification: a cascade of quick comparisons pre-selects K candidates among everyone
//! enrolled, the full matcher decides among them ([`gallery`] is the search every caller runs).

pub mod bench;
pub mod cascade;
pub mod derive;
pub mod gallery;
pub mod histograms;
pub mod quick;
#[cfg(target_arch = "x86_64")]
mod simd;

pub use gallery::{Gallery, Hit, Outcome, SearchConfig};
