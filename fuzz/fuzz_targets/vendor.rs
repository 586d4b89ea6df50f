//! The simulated sensor's vendor commands: 0x51 sensor control (CBOR map with text keys) and
//! 0x52 power cycle, as CTAPHID hands them to the application. Input: a selector byte (bit 0:
//! send to a device, bit 1: 0x52 instead of 0x51, bit 2: a synthetic hand, identity = the
//! bits above, is on the sensor first) and the payload. Checks: no panic; a refused
//! payload leaves the sensor as it was; an accepted one round-trips through `to_cbor`.
//! One device per process, factory-fresh with nothing on the sensor before each input
//! (`palmkey_fuzz::Reusable`).
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use palmkey::hid::{App, VendorCommand};
use palmkey::sensor::sim::{SimulatedHand, POWER_CYCLE, SENSOR_CONTROL};
use palmkey_fuzz::Reusable;

thread_local! {
    static DEVICE: RefCell<Reusable> = RefCell::new(Reusable::new());
}

fuzz_target!(|data: &[u8]| {
    DEVICE.with_borrow_mut(|reusable| run(reusable, data));
});

fn run(reusable: &mut Reusable, data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    // Sensor-control parsing alone (no device) first: the cheap, exhaustive part.
    if let Ok(hand) = SimulatedHand::from_cbor(payload) {
        let again = SimulatedHand::from_cbor(&hand.to_cbor()).expect("own encoding parses");
        assert_eq!(again, hand);
    }
    if selector & 1 == 0 {
        return;
    }
    let device = reusable.fresh();
    // Sometimes a hand is already on the sensor, so "left as it was" is not just "empty".
    if selector & 4 != 0 {
        let hand = SimulatedHand::Synthetic {
            identity: u64::from(selector >> 3),
        };
        device
            .control
            .set(hand)
            .expect("a synthetic hand is accepted");
    }
    let before = device.control.current();
    let code = if selector & 2 == 0 {
        SENSOR_CONTROL
    } else {
        POWER_CYCLE
    };
    let cmd = VendorCommand::new(code).expect("vendor range");
    match device.app.vendor(cmd, payload) {
        Some(Ok(reply)) => assert!(reply.is_empty()),
        Some(Err(_)) => {
            if code == SENSOR_CONTROL {
                assert_eq!(
                    device.control.current(),
                    before,
                    "refused payload changed the sensor"
                );
            }
        }
        None => panic!("vendor command unknown with the simulated sensor"),
    }
}
