//! The seam between CTAPHID and the authenticator behind it, and the per-request
//! [`Interaction`] the transport hands to a running request.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use super::command::{HidError, VendorCommand};
use crate::ctap::{Interaction, KeepaliveStatus};

/// What CTAPHID needs from the device application. Calls run on the transport's worker
/// thread, one at a time, while the transport keeps answering the host.
pub trait App: Send {
    /// CTAPHID_CBOR: command byte + CBOR parameters in, status byte + CBOR out.
    fn cbor(&mut self, request: &[u8], io: &dyn Interaction) -> Vec<u8>;

    /// CTAPHID_WINK: identify the device visibly (LED, log line).
    fn wink(&mut self) {
        tracing::info!("wink");
    }

    /// A vendor command (0x40..=0x7f). `None` means "not implemented" (answered
    /// ERR_INVALID_CMD); `Some(Err(code))` is answered with CTAPHID_ERROR `code`;
    /// `Some(Ok(payload))` with the same command and that payload.
    fn vendor(
        &mut self,
        _cmd: VendorCommand,
        _payload: &[u8],
    ) -> Option<Result<Vec<u8>, HidError>> {
        None
    }
}

/// The state a transport shares with one in-flight request: the keep-alive status the request
/// reports and whether the host cancelled it.
#[derive(Debug)]
pub struct InFlight {
    status: AtomicU8,
    cancelled: AtomicBool,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            status: AtomicU8::new(KeepaliveStatus::Processing as u8),
            cancelled: AtomicBool::new(false),
        }
    }
}

impl InFlight {
    /// The status the transport repeats in KEEPALIVE.
    pub fn status(&self) -> KeepaliveStatus {
        match self.status.load(Ordering::Acquire) {
            2 => KeepaliveStatus::UpNeeded,
            _ => KeepaliveStatus::Processing,
        }
    }

    /// Mark the request cancelled (CTAPHID_CANCEL, channel re-INIT, shutdown).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }
}

impl Interaction for InFlight {
    fn set_status(&self, status: KeepaliveStatus) {
        self.status.store(status as u8, Ordering::Release);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}
