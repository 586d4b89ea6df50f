//! The CTAP 2.1 core as the CTAPHID application, plus the simulated sensor's vendor commands.
//!
//! Transport agnostic: UDP and uhid serve the same [`CtapApp`], so a VM test over /dev/uhid
//! drives the simulated sensor exactly like a python-fido2 test over UDP.

use super::app::App;
use super::command::{HidError, VendorCommand};
use crate::ctap::{Authenticator, Interaction};
use crate::sensor::sim::{SimControl, POWER_CYCLE, SENSOR_CONTROL};

impl App for Authenticator {
    fn cbor(&mut self, request: &[u8], io: &dyn Interaction) -> Vec<u8> {
        self.process(request, io)
    }

    fn wink(&mut self) {
        Authenticator::wink(self);
    }
}

/// The device as CTAPHID sees it: the authenticator and, with `--sensor sim`, the control of
/// its simulated sensor (vendor commands 0x51 sensor control and 0x52 power cycle). Without a
/// simulated sensor the vendor commands are unknown (ERR_INVALID_CMD), as on real hardware.
pub struct CtapApp {
    authenticator: Authenticator,
    sim: Option<SimControl>,
}

impl std::fmt::Debug for CtapApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtapApp")
            .field("authenticator", &self.authenticator)
            .field("simulated_sensor", &self.sim.is_some())
            .finish()
    }
}

impl CtapApp {
    pub fn new(authenticator: Authenticator) -> Self {
        CtapApp {
            authenticator,
            sim: None,
        }
    }

    /// Accept the simulated sensor's vendor commands, acting on `control`.
    pub fn with_simulated_sensor(mut self, control: SimControl) -> Self {
        self.sim = Some(control);
        self
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    pub fn authenticator_mut(&mut self) -> &mut Authenticator {
        &mut self.authenticator
    }
}

impl App for CtapApp {
    fn cbor(&mut self, request: &[u8], io: &dyn Interaction) -> Vec<u8> {
        self.authenticator.process(request, io)
    }

    fn wink(&mut self) {
        self.authenticator.wink();
    }

    fn vendor(&mut self, cmd: VendorCommand, payload: &[u8]) -> Option<Result<Vec<u8>, HidError>> {
        let sim = self.sim.as_ref()?;
        match cmd.code() {
            SENSOR_CONTROL => Some(match sim.apply(payload) {
                Ok(()) => Ok(Vec::new()),
                Err(error) => {
                    tracing::info!(%error, "simulated sensor control refused");
                    Err(HidError::InvalidPar)
                }
            }),
            POWER_CYCLE => {
                // A real power cycle takes no parameters either; refuse rather than ignore.
                if !payload.is_empty() {
                    return Some(Err(HidError::InvalidPar));
                }
                tracing::info!("simulated power cycle");
                self.authenticator.power_cycle();
                Some(Ok(Vec::new()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::test_support::Harness;
    use crate::ctap::user::NoInteraction;
    use crate::sensor::sim::{SimConfig, SimulatedHand};

    fn app(with_sim: bool) -> (CtapApp, SimControl, tempfile::TempDir) {
        let Harness { auth, dir } = Harness::new();
        let control = SimControl::new(SimConfig::default()).unwrap();
        let app = CtapApp::new(auth);
        let app = if with_sim {
            app.with_simulated_sensor(control.clone())
        } else {
            app
        };
        (app, control, dir)
    }

    fn vendor(code: u8) -> VendorCommand {
        VendorCommand::new(code).unwrap()
    }

    #[test]
    fn sensor_control_sets_the_hand_and_refuses_bad_payloads() {
        let (mut app, control, _dir) = app(true);
        let hand = SimulatedHand::Synthetic { identity: 9 };
        assert_eq!(
            app.vendor(vendor(SENSOR_CONTROL), &hand.to_cbor()),
            Some(Ok(Vec::new()))
        );
        assert_eq!(control.current(), hand);
        assert_eq!(
            app.vendor(vendor(SENSOR_CONTROL), b"\xa0"),
            Some(Err(HidError::InvalidPar))
        );
        assert_eq!(control.current(), hand, "a refused payload changes nothing");
        assert_eq!(app.vendor(vendor(0x53), &[]), None);
    }

    #[test]
    fn power_cycle_takes_no_payload() {
        let (mut app, _control, _dir) = app(true);
        assert_eq!(app.vendor(vendor(POWER_CYCLE), &[]), Some(Ok(Vec::new())));
        assert_eq!(
            app.vendor(vendor(POWER_CYCLE), &[1]),
            Some(Err(HidError::InvalidPar))
        );
        // Still a working authenticator afterwards.
        assert_eq!(app.cbor(&[0x04], &NoInteraction)[0], 0);
    }

    #[test]
    fn without_a_simulated_sensor_vendor_commands_are_unknown() {
        let (mut app, _control, _dir) = app(false);
        let hand = SimulatedHand::None.to_cbor();
        assert_eq!(app.vendor(vendor(SENSOR_CONTROL), &hand), None);
        assert_eq!(app.vendor(vendor(POWER_CYCLE), &[]), None);
    }
}
