//! authenticatorConfig (0x0D), CTAP 2.1 §6.11: toggleAlwaysUv and setMinPINLength.
//!
//! enableEnterpriseAttestation is not supported: palmkey has no enterprise attestation
//! certificate, so getInfo announces no "ep" option and the subcommand answers
//! `InvalidSubcommand`, as does vendorPrototype.
//!
//! Once the device is protected (a PIN is set, built-in UV is configured, or alwaysUv is on)
//! every subcommand needs a token with the acfg permission, MACed over
//! `32 × 0xff || 0x0d || subCommand || subCommandParams`.

use super::cbor::{as_array, as_bool, as_bytes, as_map, as_text, as_u8, as_uint, Map, Params};
use super::pin::{Permission, PinUv};
use super::status::CtapResult;
use super::{storage_error, Authenticator, CtapError};
use crate::store::Store;

/// Request parameter keys.
mod key {
    pub const SUB_COMMAND: u64 = 0x01;
    pub const SUB_COMMAND_PARAMS: u64 = 0x02;
    pub const PROTOCOL: u64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: u64 = 0x04;
    // setMinPINLength's subCommandParams
    pub const NEW_MIN_PIN_LENGTH: u64 = 0x01;
    pub const MIN_PIN_LENGTH_RP_IDS: u64 = 0x02;
    pub const FORCE_CHANGE_PIN: u64 = 0x03;
}

/// The authenticatorConfig command byte, part of the authenticated message.
const COMMAND: u8 = 0x0d;

subcommand_enum! {
    /// authenticatorConfig subcommands.
    pub enum SubCommand {
        ToggleAlwaysUv = 0x02,
        SetMinPinLength = 0x03,
    }
}

/// Longest PIN minimum that can be configured: a PIN has at most 63 bytes, so at most 63
/// code points.
pub const MAX_MIN_PIN_LENGTH: u8 = 63;

/// authenticatorConfig as the authenticator dispatches it.
pub fn handle(auth: &mut Authenticator, params: &[u8]) -> CtapResult {
    let params = Params::parse(params)?;
    let max_rp_ids = auth.config.max_rp_ids_for_min_pin_length;
    let builtin_uv_configured = match (&auth.builtin_uv, auth.store()) {
        (Some(uv), Ok(store)) => uv.is_enrolled(store.state()),
        _ => false,
    };
    let (store, pin_uv) = auth.store_and_pin()?;
    AuthenticatorConfig {
        pin_uv,
        store,
        max_rp_ids,
        builtin_uv_configured,
    }
    .handle(&params)
}

/// What authenticatorConfig works on.
pub struct AuthenticatorConfig<'a> {
    pub pin_uv: &'a mut PinUv,
    pub store: &'a mut Store,
    /// maxRPIDsForSetMinPINLength.
    pub max_rp_ids: usize,
    /// True when a built-in UV method (palm) has enrollments: that protects the device too.
    pub builtin_uv_configured: bool,
}

impl AuthenticatorConfig<'_> {
    /// Handle one request; returns the (always empty) response payload.
    pub fn handle(&mut self, params: &Params) -> CtapResult {
        let sub = SubCommand::try_from(params.required(key::SUB_COMMAND, as_u8)?)?;
        let sub_params = params.optional(key::SUB_COMMAND_PARAMS, as_map)?;
        self.authorize(sub, params)?;
        match sub {
            SubCommand::ToggleAlwaysUv => {
                let on = self
                    .store
                    .update(|s| {
                        s.config.always_uv = !s.config.always_uv;
                        s.config.always_uv
                    })
                    .map_err(storage_error)?;
                tracing::info!(always_uv = on, "alwaysUv toggled");
            }
            SubCommand::SetMinPinLength => self.set_min_pin_length(sub_params)?,
        }
        Ok(Vec::new())
    }

    fn authorize(&mut self, sub: SubCommand, params: &Params) -> Result<(), CtapError> {
        let state = self.store.state();
        let protected =
            state.pin.pin_hash.is_some() || state.config.always_uv || self.builtin_uv_configured;
        if !protected {
            return Ok(());
        }
        let auth_param = params
            .optional(key::PIN_UV_AUTH_PARAM, as_bytes)?
            .ok_or(CtapError::PinRequired)?;
        let protocol = params.required(key::PROTOCOL, as_u8)?;
        let mut message = vec![0xff; 32];
        message.extend([COMMAND, sub as u8]);
        if let Some(sub_params) = params.map().get(key::SUB_COMMAND_PARAMS) {
            ciborium::into_writer(sub_params, &mut message).expect("writing to a Vec cannot fail");
        }
        self.pin_uv
            .authorize(protocol, &message, auth_param, Permission::ACFG)
    }

    /// setMinPINLength: the minimum may only grow; raising it above the current PIN's length
    /// (or forceChangePin) forces a PIN change before the next token.
    fn set_min_pin_length(&mut self, sub_params: Option<Map<'_>>) -> Result<(), CtapError> {
        let current = self.store.state().pin.min_length;
        let (new_min, rp_ids, force) = match sub_params {
            None => (None, None, false),
            Some(p) => (
                p.optional(key::NEW_MIN_PIN_LENGTH, as_uint)?,
                p.optional(key::MIN_PIN_LENGTH_RP_IDS, as_array)?
                    .map(|ids| {
                        ids.iter()
                            .map(|v| as_text(v).map(str::to_owned))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?,
                p.optional(key::FORCE_CHANGE_PIN, as_bool)?.unwrap_or(false),
            ),
        };
        let new_min = match new_min {
            None => current,
            Some(n) if n < u64::from(current) => return Err(CtapError::PinPolicyViolation),
            Some(n) => u8::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_MIN_PIN_LENGTH)
                .ok_or(CtapError::PinPolicyViolation)?,
        };
        if rp_ids
            .as_ref()
            .is_some_and(|ids| ids.len() > self.max_rp_ids)
        {
            return Err(CtapError::KeyStoreFull);
        }
        let pin = &self.store.state().pin;
        if force && pin.pin_hash.is_none() {
            return Err(CtapError::PinNotSet);
        }
        let too_short = pin.pin_hash.is_some() && pin.pin_code_points < new_min;
        self.store
            .update(|s| {
                s.pin.min_length = new_min;
                if let Some(ids) = rp_ids {
                    s.pin.min_length_rp_ids = ids;
                }
                s.pin.force_change |= force || too_short;
            })
            .map_err(storage_error)?;
        tracing::info!(
            min_pin_length = new_min,
            force_change = force || too_short,
            "PIN policy updated"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ciborium::Value;

    use super::*;
    use crate::ctap::cbor::{self, bytes, MapBuilder};
    use crate::ctap::pin::testing::{command, field, Platform};
    use crate::ctap::pin::PinProtocol;
    use crate::ctap::test_support::Harness;

    const PIN: &str = "1234";

    fn config(
        h: &mut Harness,
        sub: u8,
        sub_params: Option<Value>,
        token: Option<(Platform, &[u8])>,
    ) -> Result<Value, CtapError> {
        let mut request = MapBuilder::new().insert(1, sub);
        let mut message = vec![0xff; 32];
        message.extend([0x0d, sub]);
        if let Some(p) = sub_params {
            message.extend(cbor::encode(p.clone()));
            request = request.insert(2, p);
        }
        if let Some((platform, token)) = token {
            request = request
                .insert(3, platform.protocol.version())
                .insert(4, bytes(platform.auth(token, &message)));
        }
        command(&mut h.auth, 0x0d, request)
    }

    fn info(h: &mut Harness) -> Value {
        command(&mut h.auth, 0x04, MapBuilder::new()).unwrap()
    }

    fn option(info: &Value, name: &str) -> Option<bool> {
        field(info, 4)
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .and_then(|(_, v)| v.as_bool())
    }

    fn min_pin(info: &Value) -> (i128, bool) {
        (
            i128::from(field(info, 0x0d).as_integer().unwrap()),
            field(info, 0x0c).as_bool().unwrap(),
        )
    }

    fn min_length(n: u64) -> Option<Value> {
        Some(MapBuilder::new().insert(1, n).build())
    }

    #[test]
    fn unprotected_device_configures_without_a_token() {
        let mut h = Harness::new();
        assert_eq!(option(&info(&mut h), "alwaysUv"), Some(false));
        config(&mut h, 0x02, None, None).unwrap();
        let info = info(&mut h);
        assert_eq!(option(&info, "alwaysUv"), Some(true));
        assert_eq!(option(&info, "makeCredUvNotRqd"), Some(false));
        // alwaysUv itself protects the configuration now.
        assert_eq!(
            config(&mut h, 0x02, None, None),
            Err(CtapError::PinRequired)
        );
    }

    #[test]
    fn a_pin_requires_an_acfg_token() {
        for protocol in PinProtocol::ALL {
            let p = Platform::new(protocol);
            let mut h = Harness::new();
            p.set_pin(&mut h.auth, PIN).unwrap();
            assert_eq!(
                config(&mut h, 0x02, None, None),
                Err(CtapError::PinRequired)
            );
            let cm = p.get_token(&mut h.auth, PIN, Permission::CM, None).unwrap();
            assert_eq!(
                config(&mut h, 0x02, None, Some((p, &cm))),
                Err(CtapError::PinAuthInvalid)
            );
            let token = p
                .get_token(&mut h.auth, PIN, Permission::ACFG, None)
                .unwrap();
            // MAC over the subcommand alone (without the 0xff prefix and command byte) fails.
            let unprefixed = MapBuilder::new()
                .insert(1, 2)
                .insert(3, protocol.version())
                .insert(4, bytes(p.auth(&token, &[2])));
            assert_eq!(
                command(&mut h.auth, 0x0d, unprefixed),
                Err(CtapError::PinAuthInvalid)
            );
            let no_protocol = MapBuilder::new().insert(1, 2).insert(4, bytes(vec![0; 32]));
            assert_eq!(
                command(&mut h.auth, 0x0d, no_protocol),
                Err(CtapError::MissingParameter)
            );
            assert_eq!(option(&info(&mut h), "alwaysUv"), Some(false));
            config(&mut h, 0x02, None, Some((p, &token))).unwrap();
            assert_eq!(option(&info(&mut h), "alwaysUv"), Some(true));
            config(&mut h, 0x02, None, Some((p, &token))).unwrap();
            assert_eq!(option(&info(&mut h), "alwaysUv"), Some(false));
        }
    }

    #[test]
    fn raising_the_minimum_forces_a_pin_change() {
        for protocol in PinProtocol::ALL {
            let p = Platform::new(protocol);
            let mut h = Harness::new();
            p.set_pin(&mut h.auth, PIN).unwrap();
            assert_eq!(min_pin(&info(&mut h)), (4, false));
            let token = p
                .get_token(&mut h.auth, PIN, Permission::ACFG, None)
                .unwrap();
            let params = MapBuilder::new()
                .insert(1, 6)
                .insert(2, Value::Array(vec!["a.example".into()]))
                .build();
            config(&mut h, 0x03, Some(params), Some((p, &token))).unwrap();
            assert_eq!(min_pin(&info(&mut h)), (6, true));
            assert_eq!(h.state().pin.min_length_rp_ids, ["a.example"]);
            assert_eq!(
                p.get_pin_token(&mut h.auth, PIN),
                Err(CtapError::PinPolicyViolation)
            );
            // The minimum never goes down.
            assert_eq!(
                config(&mut h, 0x03, min_length(5), Some((p, &token))),
                Err(CtapError::PinPolicyViolation)
            );
            assert_eq!(
                p.change_pin(&mut h.auth, PIN, "12345"),
                Err(CtapError::PinPolicyViolation)
            );
            p.change_pin(&mut h.auth, PIN, "123456").unwrap();
            assert_eq!(min_pin(&info(&mut h)), (6, false));
            p.get_pin_token(&mut h.auth, "123456").unwrap();
        }
    }

    #[test]
    fn force_change_pin_and_limits() {
        let p = Platform::new(PinProtocol::Two);
        let mut h = Harness::new();
        // Without a PIN there is nothing to change.
        let force = MapBuilder::new().insert(3, true).build();
        assert_eq!(
            config(&mut h, 0x03, Some(force.clone()), None),
            Err(CtapError::PinNotSet)
        );
        // Raising the minimum without a PIN forces nothing.
        config(&mut h, 0x03, min_length(5), None).unwrap();
        assert_eq!(min_pin(&info(&mut h)), (5, false));
        assert_eq!(
            p.set_pin(&mut h.auth, PIN),
            Err(CtapError::PinPolicyViolation)
        );
        p.set_pin(&mut h.auth, "12345").unwrap();
        let token = p
            .get_token(&mut h.auth, "12345", Permission::ACFG, None)
            .unwrap();
        let too_many = MapBuilder::new()
            .insert(
                2,
                Value::Array((0..9).map(|i| format!("rp{i}.example").into()).collect()),
            )
            .build();
        assert_eq!(
            config(&mut h, 0x03, Some(too_many), Some((p, &token))),
            Err(CtapError::KeyStoreFull)
        );
        assert_eq!(
            config(&mut h, 0x03, min_length(64), Some((p, &token))),
            Err(CtapError::PinPolicyViolation)
        );
        config(&mut h, 0x03, Some(force), Some((p, &token))).unwrap();
        assert_eq!(min_pin(&info(&mut h)), (5, true));
        assert_eq!(h.state().pin.min_length, 5);
    }

    #[test]
    fn unsupported_subcommands() {
        let mut h = Harness::new();
        // enableEnterpriseAttestation: no enterprise attestation on this device.
        assert_eq!(
            config(&mut h, 0x01, None, None),
            Err(CtapError::InvalidSubcommand)
        );
        assert_eq!(
            config(&mut h, 0xff, None, None),
            Err(CtapError::InvalidSubcommand)
        );
        assert_eq!(
            command(
                &mut h.auth,
                0x0d,
                MapBuilder::new().insert(2, MapBuilder::new().build())
            ),
            Err(CtapError::MissingParameter)
        );
        assert_eq!(option(&info(&mut h), "ep"), None);
    }
}
