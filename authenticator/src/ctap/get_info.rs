//! authenticatorGetInfo (0x04): what this authenticator supports and how it is configured.
//!
//! Answers even on a disabled (tampered) device, so hosts can still see it and reset it.

use super::cbor::{self, MapBuilder, Value};
use super::cose::CoseAlgorithm;
use super::credential::MAX_ID_LENGTH;
use super::extensions;
use super::pin::PinProtocol;
use super::status::{CtapError, CtapResult};
use super::{Authenticator, Device};

/// A getInfo request carries no parameters.
pub fn handle(auth: &mut Authenticator, params: &[u8]) -> CtapResult {
    if !params.is_empty() {
        return Err(CtapError::InvalidLength);
    }
    Ok(cbor::encode(info(auth)))
}

/// The getInfo response map.
pub fn info(auth: &Authenticator) -> Value {
    let config = &auth.config;
    let state = match &auth.device {
        Device::Ready(store) => Some(store.state()),
        Device::Disabled(_) => None,
    };
    let pin_set = state.is_some_and(|s| s.pin.pin_hash.is_some());
    let always_uv = state.is_some_and(|s| s.config.always_uv);
    let mut options = MapBuilder::new()
        .insert("rk", true)
        .insert("up", true)
        .insert("plat", false)
        .insert("clientPin", pin_set)
        .insert("pinUvAuthToken", true)
        .insert("credMgmt", true)
        .insert("setMinPINLength", true)
        .insert("makeCredUvNotRqd", !always_uv)
        .insert("alwaysUv", always_uv)
        .insert("authnrCfg", true);
    if let (Some(uv), Some(state)) = (&auth.builtin_uv, state) {
        options = options.insert("uv", uv.is_enrolled(state));
    }
    let remaining = state.map(|s| {
        config
            .max_discoverable_credentials
            .saturating_sub(s.credentials.len())
    });
    let text_array = |items: &[&str]| Value::Array(items.iter().map(|s| (*s).into()).collect());
    MapBuilder::new()
        .insert(0x01, text_array(&["FIDO_2_0", "FIDO_2_1"]))
        .insert(0x02, text_array(&extensions::SUPPORTED))
        .insert(0x03, cbor::bytes(config.aaguid.to_vec()))
        .insert(0x04, options.build())
        .insert(0x05, config.max_msg_size as u64)
        .insert(
            0x06,
            Value::Array(
                PinProtocol::ALL
                    .iter()
                    .map(|p| cbor::int(p.version()))
                    .collect(),
            ),
        )
        .insert(0x07, config.max_credential_count_in_list as u64)
        .insert(0x08, MAX_ID_LENGTH as u64)
        .insert(0x09, text_array(&["usb"]))
        .insert(
            0x0A,
            Value::Array(vec![MapBuilder::new()
                .insert("type", "public-key")
                .insert("alg", CoseAlgorithm::Es256.id())
                .build()]),
        )
        .insert(
            0x0C,
            state.is_some_and(|s| s.pin.force_change && s.pin.pin_hash.is_some()),
        )
        .insert(0x0D, state.map_or(4, |s| s.pin.min_length))
        .insert(0x0E, config.firmware_version)
        .insert(0x0F, config.max_cred_blob_length as u64)
        .insert(0x10, config.max_rp_ids_for_min_pin_length as u64)
        .insert_opt(0x14, remaining.map(|r| r as u64))
        .build()
}
