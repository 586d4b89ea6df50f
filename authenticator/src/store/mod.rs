//! Encrypted, integrity-protected, atomically written device state (DESIGN.md security model).
//!
//! Contract used by the CTAP core (the store helper fills in the bodies):
//! - [`Store::open`] loads `DIR` (a new empty DIR is a factory-fresh device) or fails with
//!   [`StoreError::Integrity`] when the sealed state does not verify (tamper).
//! - [`Store::update`] applies a change and persists it before returning; on error the
//!   in-memory state is unchanged.
//! - [`Store::next_signature_counter`] hands out a value that is never handed out again, even
//!   across a crash.

pub mod state;

pub use state::State;
