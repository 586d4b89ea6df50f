//! Where a probe comes from: a presentation on the sensor, judged by the engine (quality,
//! coding, PAD). The bench swaps in pre-extracted templates to time identification without the
//! capture simulation.

use std::time::{Duration, Instant};

use super::matcher::{Judged, PalmMatcher};
use crate::ctap::user::{Interaction, KeepaliveStatus};
use crate::palm::template::Template;
use crate::sensor::{PalmSensor, SensorError};

/// One presentation, judged.
pub trait ProbeSource: Send {
    fn acquire(
        &mut self,
        matcher: &PalmMatcher,
        io: &dyn Interaction,
    ) -> Result<Judged, SensorError>;
}

/// The real thing: the sensor waits for a hand (KEEPALIVE UPNEEDED), the engine judges the
/// capture (KEEPALIVE PROCESSING). The capture is dropped here: images never go further.
pub struct SensorProbe(pub Box<dyn PalmSensor>);

impl ProbeSource for SensorProbe {
    fn acquire(
        &mut self,
        matcher: &PalmMatcher,
        io: &dyn Interaction,
    ) -> Result<Judged, SensorError> {
        io.set_status(KeepaliveStatus::UpNeeded);
        let capture = self.0.capture(io)?;
        io.set_status(KeepaliveStatus::Processing);
        Ok(matcher.judge(&capture))
    }
}

/// Templates extracted beforehand, served in turn (benchmarks: identification and CTAP time
/// without rendering and coding a synthetic capture).
pub struct PreExtracted {
    templates: Vec<Template>,
    next: usize,
}

impl PreExtracted {
    pub fn new(templates: Vec<Template>) -> Self {
        assert!(!templates.is_empty(), "at least one probe template");
        PreExtracted { templates, next: 0 }
    }
}

impl ProbeSource for PreExtracted {
    fn acquire(
        &mut self,
        _matcher: &PalmMatcher,
        io: &dyn Interaction,
    ) -> Result<Judged, SensorError> {
        if io.is_cancelled() {
            return Err(SensorError::Cancelled);
        }
        io.set_status(KeepaliveStatus::Processing);
        let t = self.templates[self.next % self.templates.len()].clone();
        self.next += 1;
        Ok(Judged::Template(t))
    }
}

/// An [`Interaction`] that also "cancels" once a deadline passes, so a sensor waiting for a
/// hand stops at the CTAP timeout; [`Deadline::expired`] tells a timeout from a real CANCEL.
pub struct Deadline<'a> {
    io: &'a dyn Interaction,
    until: Option<Instant>,
}

impl<'a> Deadline<'a> {
    pub fn new(io: &'a dyn Interaction, timeout: Option<Duration>) -> Self {
        Deadline {
            io,
            until: timeout.map(|t| Instant::now() + t),
        }
    }

    pub fn expired(&self) -> bool {
        self.until.is_some_and(|u| Instant::now() >= u)
    }
}

impl Interaction for Deadline<'_> {
    fn set_status(&self, status: KeepaliveStatus) {
        self.io.set_status(status);
    }

    fn is_cancelled(&self) -> bool {
        self.io.is_cancelled() || self.expired()
    }
}
