//! The simulated sensor's vendor commands: 0x51 sensor control (CBOR map with text keys) and
//! 0x52 power cycle, as CTAPHID hands them to the application. Checks: no panic; a refused
//! payload leaves the sensor as it was; an accepted one round-trips through `to_cbor`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmkey::hid::{App, VendorCommand};
use palmkey::sensor::sim::{SimulatedHand, POWER_CYCLE, SENSOR_CONTROL};
use palmkey_fuzz::Device;

fuzz_target!(|data: &[u8]| {
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
    let mut device = Device::fresh();
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
});
