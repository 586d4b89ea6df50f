//! 1:N identification with a fast pre-selection: short binary sketches scanned with popcount
//! pick K candidates, the full matcher decides among them.

pub mod bench;
pub mod cascade;
pub mod derive;
pub mod gallery;
pub mod quick;
pub mod sketch;

pub use gallery::{Gallery, Hit, Scratch};
