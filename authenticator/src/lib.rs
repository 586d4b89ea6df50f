//! palmkey: a CTAP 2.1 authenticator whose built-in user verification is a palm.
//!
//! Dependencies point inward: transports ([`hid`]) call the CTAP core ([`ctap`]), which keeps
//! its state in [`store`] and asks a [`ctap::user`] seam for presence and verification. The
//! palm engine lives in its own crate, re-exported as [`palm`]. [`client`] is the host side,
//! used by the desktop app, the relying-party demo and the tests.

pub mod client;
pub mod ctap;
pub mod events;
pub mod hid;
pub mod sensor;
pub mod store;
pub mod uv;

pub use palmkey_palm as palm;
