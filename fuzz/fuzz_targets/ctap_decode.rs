//! The CTAP request decoders alone, without a device and without public-key cryptography:
//! the decoder-only companion of `ctap_process`, so the decoders get their 10 M executions
//! even though a full-stack input costs P-256 work.
//!
//! An input is one CTAP2 message (command byte + CBOR), like a seed of `ctap_process`. For
//! every command (makeCredential, getAssertion, clientPIN, credentialManagement, bioEnrollment
//! 0x09/0x40, config, and the simulated sensor's vendor payload), it runs:
//! - `cbor::decode` and `Params::parse`, the decoders every command handler starts with
//!   (single top-level map, no trailing bytes, no duplicate keys, bounded nesting);
//! - every structured sub-decoder of palmkey's handlers on every map, array and byte string in
//!   the request, at every depth: `RpEntity`, `UserEntity`, `Options`, the makeCredential and
//!   getAssertion extension inputs (credProtect, hmac-secret, credBlob, minPinLength), the
//!   hmac-secret input, credential descriptors, `CoseKey` (ES256 and the PIN protocol's
//!   ECDH-ES key: point validation only) and wrapped credential IDs (`credential::unwrap`
//!   under a fixed key: length and version checks, AEAD);
//! - for message byte 0x51, `SimulatedHand::from_cbor` on the payload (vendor sensor control).
//!
//! The handlers of clientPIN, credentialManagement, bioEnrollment and config read their fields
//! with the typed getters of `cbor::Params`/`cbor::Map` directly; those getters are driven here
//! on every key of every map with every type conversion.
//! Checks: no panic; a decoded request re-encodes to CBOR that decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmkey::ctap::auth_data;
use palmkey::ctap::cbor::{self, Map, Params, Value};
use palmkey::ctap::cose::{CoseAlgorithm, CoseKey};
use palmkey::ctap::credential::{self, RpEntity, UserEntity};
use palmkey::ctap::extensions::hmac_secret;
use palmkey::ctap::extensions::{GetAssertionInputs, MakeCredentialInputs};
use palmkey::ctap::verification::Options;
use palmkey::sensor::sim::SimulatedHand;
use palmkey::store::state::SecretKey;

/// Vendor command 0x51 (sensor control) as a message byte here; 0x52 carries no payload.
const SENSOR_CONTROL: u8 = 0x51;

fuzz_target!(|data: &[u8]| {
    let Some((&command, payload)) = data.split_first() else {
        return;
    };
    if command == SENSOR_CONTROL {
        if let Ok(hand) = SimulatedHand::from_cbor(payload) {
            let again = SimulatedHand::from_cbor(&hand.to_cbor()).expect("own encoding parses");
            assert_eq!(again, hand);
        }
        return;
    }
    if let Ok(value) = cbor::decode(payload) {
        let again = cbor::encode(value.clone());
        cbor::decode(&again).expect("a decoded request re-encodes to decodable CBOR");
    }
    let Ok(params) = Params::parse(payload) else {
        return;
    };
    let map = params.map();
    // The RP a wrapped credential ID is bound to: getAssertion's rpId (key 1) when it is
    // text; any 32 bytes do for the decoder.
    let rp_id_hash = map
        .get(1u64)
        .and_then(|v| cbor::as_text(v).ok())
        .map_or([0u8; 32], auth_data::rp_id_hash);
    let _ = Options::parse(None);
    walk_map(map, &rp_id_hash);
});

/// Every getter on every key, then every sub-decoder on every value.
fn walk_map(map: Map<'_>, rp_id_hash: &[u8; 32]) {
    for (key, value) in map.entries() {
        if let Ok(k) = cbor::as_uint(key) {
            let _ = map.required(k, cbor::as_bytes);
            let _ = map.optional(k, cbor::as_text);
            let _ = map.optional(k, cbor::as_bool);
            let _ = map.optional(k, cbor::as_int);
            let _ = map.optional(k, cbor::as_u8);
            let _ = map.optional(k, cbor::as_array);
        }
        if let Ok(name) = cbor::as_text(key) {
            let _ = map.optional(name, cbor::as_uint);
            let _ = map.optional(name, cbor::as_map);
        }
        walk(value, rp_id_hash);
    }
}

fn walk(value: &Value, rp_id_hash: &[u8; 32]) {
    match value {
        Value::Map(_) => {
            let map = cbor::as_map(value).expect("a map");
            let _ = RpEntity::parse(map);
            let _ = UserEntity::parse(map);
            let _ = Options::parse(Some(map));
            let _ = MakeCredentialInputs::parse(map, 32);
            let _ = GetAssertionInputs::parse(map);
            let _ = map.text_entries();
            let _ = hmac_secret::Input::parse(value);
            if let Ok(Some(id)) = credential::descriptor_id(value) {
                let _ = credential::unwrap(&SecretKey([0x42; 32]), rp_id_hash, id);
            }
            for alg in [CoseAlgorithm::Es256, CoseAlgorithm::EcdhEsHkdf256] {
                if let Ok(key) = CoseKey::from_value(value, alg) {
                    let again = CoseKey::from_slice(&key.to_vec(), alg).expect("own encoding");
                    assert_eq!(again.to_vec(), key.to_vec());
                }
            }
            walk_map(map, rp_id_hash);
        }
        Value::Array(items) => {
            for item in items {
                walk(item, rp_id_hash);
            }
        }
        Value::Bytes(bytes) => {
            let _ = credential::unwrap(&SecretKey([0x42; 32]), rp_id_hash, bytes);
        }
        Value::Tag(_, inner) => walk(inner, rp_id_hash),
        _ => {}
    }
}
