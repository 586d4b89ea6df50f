//! Host side of the simulated sensor's vendor commands (DESIGN.md contract, `--sensor sim`):
//! 0x51 puts a simulated hand on the sensor, 0x52 power-cycles the simulated device.

use ciborium::Value;

use super::error::{ClientError, Result};
use super::{Client, CtapTransport};
use crate::ctap::cbor::MapBuilder;

/// CTAPHID vendor command: simulated sensor control.
pub const SENSOR_CONTROL: u8 = 0x51;
/// CTAPHID vendor command: simulated power cycle.
pub const POWER_CYCLE: u8 = 0x52;

/// What the simulated sensor sees at its next captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimulatedHand {
    /// That synthetic person holds out their palm; every capture is a fresh natural sample.
    Synthetic { identity: u64 },
    /// The images of one sample of the `--sim-dataset` folder.
    Dataset { identity: String, sample: String },
    /// A printed photo of that synthetic palm (a presentation attack).
    PhotoAttack { identity: u64 },
    /// No hand on the sensor.
    None,
}

impl SimulatedHand {
    /// The vendor command payload: a CBOR map with text keys.
    pub fn to_cbor(&self) -> Vec<u8> {
        let map = match self {
            SimulatedHand::Synthetic { identity } => MapBuilder::new()
                .insert("mode", "synthetic")
                .insert("identity", *identity),
            SimulatedHand::Dataset { identity, sample } => MapBuilder::new()
                .insert("mode", "dataset")
                .insert("identity", Value::Text(identity.clone()))
                .insert("sample", Value::Text(sample.clone())),
            SimulatedHand::PhotoAttack { identity } => MapBuilder::new()
                .insert("mode", "photo-attack")
                .insert("identity", *identity),
            SimulatedHand::None => MapBuilder::new().insert("mode", "none"),
        };
        map.encode()
    }
}

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
