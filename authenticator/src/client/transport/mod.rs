//! Host side of CTAPHID: moving 64-byte reports to an authenticator ([`ReportIo`]: UDP for the
//! simulator, hidapi for real devices) and the CTAPHID protocol on top ([`CtapHid`]).
//!
//! ```no_run
//! use palmkey::client::transport::CtapHid;
//! let mut dev = CtapHid::connect_udp("127.0.0.1:8111".parse().unwrap())?;
//! let info = dev.cbor(&[0x04])?; // authenticatorGetInfo: status byte + CBOR
//! # Ok::<(), palmkey::client::transport::TransportError>(())
//! ```

mod ctaphid;
mod hid;
mod udp;

use std::time::Duration;

use thiserror::Error;

use crate::hid::packet::{FrameError, Report};
use crate::hid::HidError;

pub use ctaphid::{CancelToken, CtapHid, InitInfo, DEFAULT_TIMEOUT};
pub use hid::{list_devices, HidDeviceInfo, HidReports, FIDO_USAGE, FIDO_USAGE_PAGE};
pub use udp::UdpReports;

/// Moves whole 64-byte reports between the host and one authenticator.
///
/// Methods take `&self` so a connection can be shared behind an `Arc` if needed.
pub trait ReportIo: Send {
    /// Send one report (without report-ID byte: implementations add what the OS needs).
    fn send(&self, report: &Report) -> Result<(), TransportError>;
    /// Wait up to `timeout` for the next report; `Ok(None)` when none arrived in time.
    fn recv(&self, timeout: Duration) -> Result<Option<Report>, TransportError>;
}

/// Errors of the host-side transport.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("transport I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("HID device: {0}")]
    Hid(String),
    #[error("no FIDO HID device found (usage page 0xF1D0)")]
    NoDevice,
    #[error("timed out waiting for the authenticator")]
    Timeout,
    /// The authenticator answered CTAPHID_ERROR.
    #[error("authenticator answered CTAPHID error {0:?} ({0})")]
    Device(HidError),
    /// The authenticator answered something CTAPHID does not allow here.
    #[error("unexpected CTAPHID response: {0}")]
    Protocol(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl From<hidapi::HidError> for TransportError {
    fn from(err: hidapi::HidError) -> Self {
        TransportError::Hid(err.to_string())
    }
}
