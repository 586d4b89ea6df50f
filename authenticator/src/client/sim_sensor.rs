//! Host side of the simulated sensor's vendor commands (DESIGN.md contract, `--sensor sim`):
//! 0x51 puts a simulated hand on the sensor, 0x52 power-cycles the simulated device.

use super::error::{ClientError, Result};
use super::{Client, CtapTransport};
/// The hand types and command codes are the device's own, so host and device cannot drift.
pub use crate::sensor::sim::{SimulatedHand, POWER_CYCLE, SENSOR_CONTROL};

impl<T: CtapTransport> Client<T> {
    /// Put a simulated hand on the sensor (the device answers with an empty echo).
    pub fn set_simulated_hand(&mut self, hand: &SimulatedHand) -> Result<()> {
        expect_empty(self.vendor(SENSOR_CONTROL, &hand.to_cbor())?)
    }

    /// Simulated power cycle: volatile state (tokens, PIN mismatch streak, key agreement) is
    /// lost as after a real one, and the reset window reopens.
    pub fn simulated_power_cycle(&mut self) -> Result<()> {
        expect_empty(self.vendor(POWER_CYCLE, &[])?)
    }
}

fn expect_empty(echo: Vec<u8>) -> Result<()> {
    if echo.is_empty() {
        Ok(())
    } else {
        Err(ClientError::malformed(format!(
            "vendor command answered {} bytes, expected an empty echo",
            echo.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::Value;

    fn decoded(hand: &SimulatedHand) -> Value {
        ciborium::from_reader(&hand.to_cbor()[..]).unwrap()
    }

    #[test]
    fn payloads_follow_the_contract() {
        let v = decoded(&SimulatedHand::Synthetic { identity: 7 });
        let m = v.as_map().unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.contains(&(Value::from("mode"), Value::from("synthetic"))));
        assert!(m.contains(&(Value::from("identity"), Value::from(7u64))));
        let v = decoded(&SimulatedHand::Dataset {
            identity: "p01".into(),
            sample: "s2".into(),
        });
        let m = v.as_map().unwrap();
        assert!(m.contains(&(Value::from("identity"), Value::from("p01"))));
        assert!(m.contains(&(Value::from("sample"), Value::from("s2"))));
        let v = decoded(&SimulatedHand::PhotoAttack { identity: 1 });
        assert!(v
            .as_map()
            .unwrap()
            .contains(&(Value::from("mode"), Value::from("photo-attack"))));
        assert_eq!(
            decoded(&SimulatedHand::None),
            Value::Map(vec![(Value::from("mode"), Value::from("none"))])
        );
    }
}
