//! COSE_Key parsing (credential public keys and the PIN protocol's key agreement keys).
//! Checks: no panic; a parsed key re-serialises to a key that parses to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmkey::ctap::cose::{CoseAlgorithm, CoseKey};

fuzz_target!(|data: &[u8]| {
    for alg in [CoseAlgorithm::Es256, CoseAlgorithm::EcdhEsHkdf256] {
        if let Ok(key) = CoseKey::from_slice(data, alg) {
            let again = CoseKey::from_slice(&key.to_vec(), alg).expect("own encoding parses");
            assert_eq!(again.to_vec(), key.to_vec());
        }
    }
});
