//! The CTAP 2.1 authenticator core: one module per command family.
//!
//! [`Authenticator::process`] takes one CTAPHID CBOR message (command byte + CBOR parameters)
//! and returns the response (status byte + CBOR). Transports call it from a worker thread and
//! pass an [`Interaction`] so long operations can send keep-alives and notice CANCEL.

pub mod cbor;
pub mod cose;
pub mod pin;
pub mod status;
pub mod user;

pub use status::CtapError;
pub use user::{Interaction, KeepaliveStatus, UserPresence};
