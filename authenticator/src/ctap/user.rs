//! The seam between the CTAP core and the person in front of the device.
//!
//! The transport supplies an [`Interaction`] for each request (keep-alive status, cancel);
//! the device supplies [`UserPresence`] (a button, or auto-approval in the simulator) and,
//! later, a built-in user-verification method (the palm).

use super::CtapError;

/// Status carried by CTAPHID KEEPALIVE while a request waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeepaliveStatus {
    Processing = 1,
    UpNeeded = 2,
}

/// What the transport offers a running request.
pub trait Interaction: Sync {
    /// Report what the request is waiting on; the transport repeats it as KEEPALIVE at least
    /// every 100 ms until the response is sent.
    fn set_status(&self, status: KeepaliveStatus);
    /// True once the host sent CTAPHID CANCEL for this request's channel.
    fn is_cancelled(&self) -> bool;
}

/// An [`Interaction`] for callers outside a transport (tests, benches): never cancelled.
#[derive(Debug, Default)]
pub struct NoInteraction;

impl Interaction for NoInteraction {
    fn set_status(&self, _status: KeepaliveStatus) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Test of user presence.
pub trait UserPresence: Send {
    /// Wait for the user to confirm presence, honouring CANCEL (→ `KeepaliveCancel`) and
    /// timing out (→ `UserActionTimeout`).
    fn check(&mut self, io: &dyn Interaction) -> Result<(), CtapError>;
}

/// The simulator's presence: always approved at once (DESIGN.md: simulator mode).
#[derive(Debug, Default)]
pub struct AutoApprove;

impl UserPresence for AutoApprove {
    fn check(&mut self, io: &dyn Interaction) -> Result<(), CtapError> {
        if io.is_cancelled() {
            return Err(CtapError::KeepaliveCancel);
        }
        Ok(())
    }
}

/// Who a built-in user verification identified: one enrolled person (a CTAP bio-enrollment
/// templateId). Credentials made under built-in UV get this person as their owner; a
/// non-discoverable credential carries the owner inside its ID, so template IDs must be at
/// most [`crate::ctap::credential::MAX_OWNER_LENGTH`] (32) bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    pub template_id: crate::store::state::TemplateId,
}

/// A built-in user-verification method (the palm, later). It identifies *who* is present
/// (1:N), not just *that* an enrolled person is, so the CTAP core can bind credentials to
/// their owner and hide other people's credentials.
pub trait BuiltInUv: Send {
    /// True once someone is enrolled: getInfo then reports `uv: true` and requests may ask
    /// for the `uv` option.
    fn is_enrolled(&self, state: &crate::store::State) -> bool;

    /// performBuiltInUv: capture and identify, counting failed attempts in the store's
    /// `uv_retries`. Errors: `UvInvalid` (no match), `UvBlocked`, `KeepaliveCancel`,
    /// `UserActionTimeout`.
    fn verify(
        &mut self,
        store: &mut crate::store::Store,
        io: &dyn Interaction,
    ) -> Result<VerifiedUser, CtapError>;
}
