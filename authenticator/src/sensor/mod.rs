//! Palm sensors: the seam between the person in front of the terminal and the palm engine.
//!
//! A sensor delivers one paired capture (visible light + near-infrared) per presentation. The
//! CTAP core never sees images: palm UV and bio enrollment ask a [`PalmSensor`] for a capture,
//! hand it to the engine, and drop it. Raw images are never persisted or logged.

pub mod sim;

use crate::ctap::user::Interaction;
use crate::palm::capture::Capture;

/// Why a sensor produced no capture.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SensorError {
    /// No hand was presented before the sensor's wait ran out (CTAP: USER_ACTION_TIMEOUT).
    #[error("no hand presented before the timeout")]
    NoHand,
    /// The host cancelled the request while the sensor waited (CTAP: KEEPALIVE_CANCEL).
    #[error("cancelled by the host")]
    Cancelled,
    /// The sensor itself failed (device unplugged, unreadable dataset sample, …).
    #[error("sensor failure: {0}")]
    Device(String),
}

/// A palm sensor. Implementations wait for a hand, reporting `UpNeeded` through the
/// interaction while they wait and honouring CANCEL.
pub trait PalmSensor: Send {
    /// Capture one presentation: a paired print + vein capture of whatever is on the sensor
    /// (which may be a presentation attack; judging it is the engine's job, not the sensor's).
    fn capture(&mut self, io: &dyn Interaction) -> Result<Capture, SensorError>;
}
