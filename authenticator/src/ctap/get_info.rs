//! authenticatorGetInfo (0x04): what this authenticator supports and how it is configured.
//!
//! Answers even on a disabled (tampered) device, so hosts can still see it and reset it.

use super::cbor::{self, MapBuilder, Value};
use super::cose::CoseAlgorithm;
use super::credential::MAX_ID_LENGTH;
use super::extensions;
use super::pin::{Permission, PinProtocol};
use super::status::{CtapError, CtapResult};
use super::{Authenticator, Device};

/// uvModality of a palm: USER_VERIFY_HANDPRINT_INTERNAL in the FIDO registry of predefined
/// values (the closest registered modality to a palm print + palm vein sensor).
pub const USER_VERIFY_HANDPRINT_INTERNAL: u64 = 0x100;

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
    let mut uv_modality = None;
    if let (Some(uv), Some(state)) = (&auth.builtin_uv, state) {
        let enrolled = uv.is_enrolled(state);
        options = options.insert("uv", enrolled);
        if auth.pin_uv.grantable().contains(Permission::BE) {
            // Bio enrollment is supported; `true` once someone is enrolled. Tokens from the
            // palm itself never carry `be` or `acfg`: enrollment and configuration are the
            // administrator's (PIN), so uvBioEnroll and uvAcfg are false.
            options = options
                .insert("bioEnroll", enrolled)
                .insert("uvBioEnroll", false)
                .insert("uvAcfg", false);
        }
        uv_modality = Some(USER_VERIFY_HANDPRINT_INTERNAL);
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
        .insert(0x0F, config.cred_blob_limit() as u64)
        .insert(0x10, config.max_rp_ids_for_min_pin_length as u64)
        .insert_opt(0x12, uv_modality)
        .insert_opt(0x14, remaining.map(|r| r as u64))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::test_support::*;

    #[test]
    fn info_reflects_configuration_and_state() {
        let mut h = Harness::new();
        let info = h.call(0x04, None).unwrap();
        let map = cbor::as_map(&info).unwrap();
        let texts = |key: u64| -> Vec<String> {
            map.required(key, cbor::as_array)
                .unwrap()
                .iter()
                .map(|v| cbor::as_text(v).unwrap().to_owned())
                .collect()
        };
        assert_eq!(texts(0x01), ["FIDO_2_0", "FIDO_2_1"]);
        assert_eq!(
            texts(0x02),
            ["credProtect", "hmac-secret", "credBlob", "minPinLength"]
        );
        assert_eq!(
            map.required(0x03u64, cbor::as_bytes),
            Ok(&crate::ctap::AAGUID[..])
        );
        let options = map.required(0x04u64, cbor::as_map).unwrap();
        for (name, value) in [
            ("rk", true),
            ("up", true),
            ("plat", false),
            ("clientPin", false),
            ("pinUvAuthToken", true),
            ("credMgmt", true),
            ("setMinPINLength", true),
            ("makeCredUvNotRqd", true),
            ("alwaysUv", false),
            ("authnrCfg", true),
        ] {
            assert_eq!(options.required(name, cbor::as_bool), Ok(value), "{name}");
        }
        assert!(options.get("uv").is_none(), "no built-in UV yet");
        assert!(options.get("bioEnroll").is_none());
        assert_eq!(map.required(0x05u64, cbor::as_uint), Ok(7609));
        let protocols: Vec<u64> = map
            .required(0x06u64, cbor::as_array)
            .unwrap()
            .iter()
            .map(|v| cbor::as_uint(v).unwrap())
            .collect();
        assert_eq!(protocols, [2, 1]);
        assert_eq!(
            map.required(0x08u64, cbor::as_uint),
            Ok(MAX_ID_LENGTH as u64)
        );
        assert_eq!(texts(0x09), ["usb"]);
        let alg = cbor::as_map(&map.required(0x0Au64, cbor::as_array).unwrap()[0]).unwrap();
        assert_eq!(alg.required("alg", cbor::as_int), Ok(-7));
        assert_eq!(map.required(0x0Cu64, cbor::as_bool), Ok(false));
        assert_eq!(map.required(0x0Du64, cbor::as_uint), Ok(4));
        assert_eq!(map.required(0x0Fu64, cbor::as_uint), Ok(32));
        assert_eq!(map.required(0x14u64, cbor::as_uint), Ok(1000));

        // State changes show up.
        make(
            &mut h,
            make_credential_params(b"u").insert(0x07, options_rk()),
        );
        h.update(|s| {
            s.pin.pin_hash = Some([1; 16]);
            s.config.always_uv = true;
        });
        let info = h.call(0x04, None).unwrap();
        let map = cbor::as_map(&info).unwrap();
        let options = map.required(0x04u64, cbor::as_map).unwrap();
        assert_eq!(options.required("clientPin", cbor::as_bool), Ok(true));
        assert_eq!(options.required("alwaysUv", cbor::as_bool), Ok(true));
        assert_eq!(
            options.required("makeCredUvNotRqd", cbor::as_bool),
            Ok(false)
        );
        assert_eq!(map.required(0x14u64, cbor::as_uint), Ok(999));
    }

    fn options_rk() -> Value {
        options(&[("rk", true)])
    }

    #[test]
    fn builtin_uv_appears_in_options() {
        let mut h = Harness::new();
        h.auth.set_builtin_uv(Box::new(FakePalm::default()));
        let info = h.call(0x04, None).unwrap();
        let options = cbor::as_map(&info)
            .unwrap()
            .required(0x04u64, cbor::as_map)
            .unwrap();
        assert_eq!(options.required("uv", cbor::as_bool), Ok(true));
    }

    #[test]
    fn get_info_takes_no_parameters() {
        let mut h = Harness::new();
        assert_eq!(h.raw(&[0x04, 0xa0]), Err(CtapError::InvalidLength));
    }
}
