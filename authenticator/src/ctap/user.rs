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

/// A built-in user-verification method (the palm). It identifies *who* is present
/// (1:N), not just *that* an enrolled person is, so the CTAP core can bind credentials to
/// their owner and hide other people's credentials.
pub trait BuiltInUv: Send {
    /// True once someone is enrolled: getInfo then reports `uv: true` and requests may ask
    /// for the `uv` option.
    fn is_enrolled(&self, state: &crate::store::State) -> bool {
        state.enrollments.count > 0
    }

    /// performBuiltInUv: capture and identify, counting failed attempts in the store's
    /// `uv_retries`. Errors: `UvInvalid` (no match), `UvBlocked`, `KeepaliveCancel`,
    /// `UserActionTimeout`.
    fn verify(
        &mut self,
        store: &mut crate::store::Store,
        io: &dyn Interaction,
    ) -> Result<VerifiedUser, CtapError>;

    /// The enrollment side of the method (authenticatorBioEnrollment), if it can enroll.
    fn enroller(&mut self) -> Option<&mut dyn BioEnroller> {
        None
    }
}

/// What authenticatorBioEnrollment reports about the sensor (getFingerprintSensorInfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorInfo {
    /// CTAP fingerprintKind: 1 = touch/placement, 2 = swipe.
    pub kind: u8,
    /// maxCaptureSamplesRequiredForEnroll.
    pub samples_required: u8,
    /// maxTemplateFriendlyName (bytes of UTF-8).
    pub max_friendly_name: usize,
}

/// The outcome of one enrollment capture: lastEnrollSampleStatus and remainingSamples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleReport {
    /// CTAP lastEnrollSampleStatus (`0` = good; see `crate::uv::feedback`).
    pub status: u8,
    pub remaining: u8,
    /// Set when this sample completed the enrollment (the person is now stored).
    pub completed: bool,
}

/// Capturing and storing enrollments. Listing, renaming and removing are plain store
/// operations ([`crate::store::Store::enrollments`]) done by the command itself.
pub trait BioEnroller {
    fn sensor_info(&self) -> SensorInfo;

    /// enrollBegin: start a new enrollment (cancelling any other) and take its first sample.
    /// `timeout` bounds the wait for the hand.
    fn begin(
        &mut self,
        store: &mut crate::store::Store,
        timeout: Option<std::time::Duration>,
        io: &dyn Interaction,
    ) -> Result<(crate::store::state::TemplateId, SampleReport), CtapError>;

    /// enrollCaptureNextSample for the enrollment in progress (`InvalidParameter` if
    /// `template_id` is not the one in progress).
    fn capture_next(
        &mut self,
        store: &mut crate::store::Store,
        template_id: &[u8],
        timeout: Option<std::time::Duration>,
        io: &dyn Interaction,
    ) -> Result<SampleReport, CtapError>;

    /// cancelCurrentEnrollment: `false` when nothing was in progress.
    fn cancel(&mut self) -> bool;
}
