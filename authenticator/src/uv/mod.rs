//! The palm as the authenticator's built-in user verification (CTAP 2.1 built-in UV) and its
//! bio enrollment, with the shared-terminal semantics of DESIGN.md: a palm identifies *which*
//! enrolled person is present (1:N), and the CTAP core binds credentials to that person.
//!
//! - [`PalmUv`] implements [`crate::ctap::BuiltInUv`] and [`crate::ctap::user::BioEnroller`]
//!   over a [`crate::sensor::PalmSensor`]. Wire it in with
//!   `authenticator.set_builtin_uv(Box::new(PalmUv::new(sensor)))`.
//! - [`index`]: decoded templates + pre-selection codes for 1:N identification.
//! - [`feedback`]: palm quality reasons → CTAP lastEnrollSampleStatus.
//! - [`probe`]: sensor → judged capture (and pre-extracted probes for the bench).
//!
//! The enrolled templates themselves are stored by [`crate::store::enrollments`].

pub mod feedback;
pub mod index;
pub mod matcher;
pub mod palm_uv;
pub mod probe;

pub use index::IdentifyConfig;
pub use matcher::PalmMatcher;
pub use palm_uv::{PalmUv, PalmUvConfig};
