//! authenticatorMakeCredential (0x01), in the processing order of CTAP 2.1 §6.1.2.

use rand::rngs::OsRng;

use super::auth_data::{self, AttestedCredential, Flags};
use super::cbor::{self, MapBuilder, Params, Value};
use super::cose::CoseAlgorithm;
use super::credential::{self, Credential, CredentialKey, RpEntity, UserEntity, WrapOptions};
use super::extensions::{self, min_pin_length, MakeCredentialInputs};
use super::pin::Permission;
use super::status::{CtapError, CtapResult};
use super::verification::{self, Options, PinUvAuth, Verification};
use super::{attestation, storage_error, Authenticator, Interaction};
use crate::store::state::SecretKey;

const CLIENT_DATA_HASH: u64 = 0x01;
const RP: u64 = 0x02;
const USER: u64 = 0x03;
const PUB_KEY_CRED_PARAMS: u64 = 0x04;
const EXCLUDE_LIST: u64 = 0x05;
const EXTENSIONS: u64 = 0x06;
const OPTIONS: u64 = 0x07;
const PIN_UV_AUTH_PARAM: u64 = 0x08;
const PIN_UV_AUTH_PROTOCOL: u64 = 0x09;
const ENTERPRISE_ATTESTATION: u64 = 0x0A;

/// A parsed request; parsing checks presence and CBOR types of every parameter.
#[derive(Debug)]
struct Request<'a> {
    client_data_hash: &'a [u8],
    rp: RpEntity,
    user: UserEntity,
    /// Whether pubKeyCredParams offers ES256, the one algorithm supported.
    es256_offered: bool,
    exclude_list: Vec<&'a [u8]>,
    extensions: MakeCredentialInputs,
    options: Options,
    pin_uv_auth: PinUvAuth<'a>,
    enterprise_attestation: bool,
}

impl<'a> Request<'a> {
    fn parse(params: &'a Params, max_cred_blob_length: usize) -> CtapResult<Self> {
        let client_data_hash = params.required(CLIENT_DATA_HASH, cbor::as_bytes)?;
        let rp = RpEntity::parse(params.required(RP, cbor::as_map)?)?;
        let user = UserEntity::parse(params.required(USER, cbor::as_map)?)?;
        let mut es256_offered = false;
        for item in params.required(PUB_KEY_CRED_PARAMS, cbor::as_array)? {
            let item = cbor::as_map(item)?;
            let alg = item.required("alg", cbor::as_int)?;
            let kind = item.required("type", cbor::as_text)?;
            es256_offered |= kind == "public-key" && alg == i128::from(CoseAlgorithm::Es256.id());
        }
        let exclude_list = match params.optional(EXCLUDE_LIST, cbor::as_array)? {
            Some(items) => items
                .iter()
                .map(credential::descriptor_id)
                .filter_map(Result::transpose)
                .collect::<CtapResult<_>>()?,
            None => Vec::new(),
        };
        let extensions = match params.optional(EXTENSIONS, cbor::as_map)? {
            Some(map) => MakeCredentialInputs::parse(map, max_cred_blob_length)?,
            None => MakeCredentialInputs::default(),
        };
        Ok(Request {
            client_data_hash,
            rp,
            user,
            es256_offered,
            exclude_list,
            extensions,
            options: Options::parse(params.optional(OPTIONS, cbor::as_map)?)?,
            pin_uv_auth: PinUvAuth {
                param: params.optional(PIN_UV_AUTH_PARAM, cbor::as_bytes)?,
                protocol: params.optional(PIN_UV_AUTH_PROTOCOL, cbor::as_u8)?,
            },
            enterprise_attestation: params
                .optional(ENTERPRISE_ATTESTATION, cbor::as_uint)?
                .is_some(),
        })
    }
}

pub fn handle(auth: &mut Authenticator, params: &[u8], io: &dyn Interaction) -> CtapResult {
    let params = Params::parse(params)?;
    let req = Request::parse(&params, auth.config.cred_blob_limit())?;

    // Steps 1–2: zero-length pinUvAuthParam probe; protocol present and supported.
    verification::check_pin_uv_auth(auth, req.pin_uv_auth, io)?;
    // Step 3: ES256 is the only algorithm.
    if !req.es256_offered {
        return Err(CtapError::UnsupportedAlgorithm);
    }
    // Step 5: options. rk is supported; up=false makes no sense for a new credential.
    let rk = req.options.rk.unwrap_or(false);
    if req.options.up == Some(false) {
        return Err(CtapError::InvalidOption);
    }
    let builtin = verification::wants_builtin_uv(auth, &req.options, req.pin_uv_auth)?;
    // Steps 7–8: alwaysUv; makeCredUvNotRqd (only discoverable credentials need UV).
    verification::require_uv_if_needed(auth, req.pin_uv_auth.param.is_some() || builtin, rk)?;
    // Step 9: no enterprise attestation on this device.
    if req.enterprise_attestation {
        return Err(CtapError::InvalidParameter);
    }
    // Step 11: verify the user.
    let verified = verification::verify(
        auth,
        req.pin_uv_auth,
        builtin,
        req.client_data_hash,
        Permission::MC,
        &req.rp.id,
        io,
    )?;
    let rp_id_hash = auth_data::rp_id_hash(&req.rp.id);
    // Step 12: excludeList.
    check_exclude_list(auth, &req, &rp_id_hash, &verified, io)?;
    // Steps 13–14: user presence.
    verification::collect_presence(auth, &verified, req.pin_uv_auth, io)?;
    // The counter first: a failure after storing the credential would leave an orphan.
    let counter = verification::next_counter(auth)?;
    // Steps 15–18: extensions, key pair, storage.
    let credential = create(auth, &req, &rp_id_hash, &verified, rk)?;
    // Steps 19–20: authenticator data and attestation.
    let extension_outputs = extension_outputs(auth, &req)?;
    let attested = AttestedCredential {
        aaguid: auth.config.aaguid,
        credential_id: &credential.id,
        public_key: credential.key.public_key(),
    };
    let auth_data = auth_data::encode(
        &rp_id_hash,
        Flags::new(true, verified.user_verified()),
        counter,
        Some(&attested),
        extension_outputs,
    );
    let batch = auth.store()?.state().device.attestation.clone();
    let statement = attestation::packed(
        &auth_data,
        req.client_data_hash,
        &credential.key,
        batch.as_ref(),
    )?;
    tracing::debug!(rp = %req.rp.id, discoverable = rk, "credential created");
    verification::report_success(auth, &req.rp.id, &verified);
    Ok(MapBuilder::new()
        .insert(0x01, attestation::FORMAT)
        .insert(0x02, cbor::bytes(auth_data))
        .insert(0x03, statement)
        .encode())
}

/// Step 12: a credential of this device for this RP in the excludeList ends the request with
/// CredentialExcluded after a touch (so a host cannot probe silently) — unless it is a
/// credProtect level 3 credential and the user was not verified, in which case it is treated
/// as unknown.
fn check_exclude_list(
    auth: &mut Authenticator,
    req: &Request<'_>,
    rp_id_hash: &[u8; 32],
    verified: &Verification,
    io: &dyn Interaction,
) -> CtapResult<()> {
    let state = auth.store()?.state();
    let mut excluded = false;
    for id in &req.exclude_list {
        if let Some(found) = credential::find(state, &req.rp.id, rp_id_hash, id)? {
            if found.cred_protect.permits(verified.user_verified(), true) {
                excluded = true;
                break;
            }
        }
    }
    if !excluded {
        return Ok(());
    }
    let present = matches!(verified, Verification::BuiltIn(_))
        || (req.pin_uv_auth.param.is_some() && auth.pin_uv.token_user_present());
    if !present {
        // The outcome is the same whether the user touches or not.
        let _ = auth.user_presence(io);
    }
    Err(CtapError::CredentialExcluded)
}

/// Steps 15–18: make the key pair and either store a discoverable credential (replacing one
/// for the same RP and user) or wrap it into a non-discoverable credential ID.
fn create(
    auth: &mut Authenticator,
    req: &Request<'_>,
    rp_id_hash: &[u8; 32],
    verified: &Verification,
    rk: bool,
) -> CtapResult<Credential> {
    let ext = &req.extensions;
    let cred_protect = ext.cred_protect.unwrap_or_default();
    let cred_blob = ext.cred_blob.clone().flatten();
    let owner = verified.owner();
    let max = auth.config.max_discoverable_credentials;
    let store = auth.store_mut()?;
    if !rk {
        return credential::new_wrapped(
            &store.state().device.credential_wrap_key,
            rp_id_hash,
            WrapOptions {
                cred_protect,
                hmac_secret: ext.hmac_secret,
                owner,
                cred_blob,
            },
            &mut OsRng,
        );
    }
    let same_account = |c: &crate::store::state::CredentialRecord| {
        c.rp_id == req.rp.id && c.user_id == req.user.id
    };
    let state = store.state();
    let kept = state
        .credentials
        .iter()
        .filter(|c| !same_account(c))
        .count();
    if kept >= max {
        return Err(CtapError::KeyStoreFull);
    }
    let hmac_secret = ext.hmac_secret.then(|| {
        let mut pair = (SecretKey([0; 32]), SecretKey([0; 32]));
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut pair.0 .0);
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut pair.1 .0);
        pair
    });
    let credential = Credential {
        id: credential::new_discoverable_id(&mut OsRng),
        key: CredentialKey::generate(&mut OsRng),
        cred_protect,
        hmac_secret,
        cred_blob,
        owner,
        user: Some(req.user.clone()),
    };
    let created = state
        .credentials
        .iter()
        .map(|c| c.created)
        .max()
        .map_or(0, |m| m + 1);
    let record = credential.to_record(&req.rp, &req.user, created);
    store
        .update(|s| {
            s.credentials.retain(|c| !same_account(c));
            s.credentials.push(record);
        })
        .map_err(storage_error)?;
    Ok(credential)
}

/// The authenticator-data extension outputs for the extensions the platform asked for.
fn extension_outputs(auth: &Authenticator, req: &Request<'_>) -> CtapResult<Option<Value>> {
    let ext = &req.extensions;
    let state = auth.store()?.state();
    let mut out = MapBuilder::new();
    if let Some(level) = ext.cred_protect {
        out = out.insert(extensions::CRED_PROTECT, level.level());
    }
    if ext.hmac_secret {
        out = out.insert(extensions::HMAC_SECRET, true);
    }
    if let Some(blob) = &ext.cred_blob {
        out = out.insert(extensions::CRED_BLOB, blob.is_some());
    }
    if ext.min_pin_length {
        out = out.insert_opt(
            extensions::MIN_PIN_LENGTH,
            min_pin_length::output(&state.pin, &req.rp.id),
        );
    }
    Ok((!out.is_empty()).then(|| out.build()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::auth_data::rp_id_hash;
    use crate::ctap::test_support::*;
    use crate::store::state::BatchAttestation;

    const MC: u8 = 0x01;

    #[test]
    fn non_discoverable_credential_with_self_attestation() {
        let mut h = Harness::new();
        let made = make(&mut h, make_credential_params(b"user-1"));
        let ad = &made.auth_data;
        assert_eq!(ad.rp_id_hash, rp_id_hash(TEST_RP));
        assert_eq!(ad.flags, 0x41, "UP + AT, no UV without verification");
        assert!(ad.counter > 0);
        assert_eq!(ad.aaguid, Some(crate::ctap::AAGUID));
        assert!(made.id.len() <= credential::MAX_ID_LENGTH);
        // Nothing stored: the ID carries the key.
        assert!(h.state().credentials.is_empty());
        let opened = credential::unwrap(
            &h.state().device.credential_wrap_key,
            &rp_id_hash(TEST_RP),
            &made.id,
        )
        .expect("wrapped for this RP");
        assert_eq!(opened.key.public_key(), made.key);
    }

    #[test]
    fn counters_never_repeat() {
        let mut h = Harness::new();
        let a = make(&mut h, make_credential_params(b"u"));
        let b = make(&mut h, make_credential_params(b"u"));
        assert!(b.auth_data.counter > a.auth_data.counter);
    }

    #[test]
    fn discoverable_credentials_are_stored_and_overwritten_per_user() {
        let mut h = Harness::new();
        let rk = || options(&[("rk", true)]);
        let first = make(&mut h, make_credential_params(b"alice").insert(0x07, rk()));
        assert_eq!(h.state().credentials.len(), 1);
        assert_eq!(h.state().credentials[0].id, first.id);
        assert_eq!(
            h.state().credentials[0].user_name.as_deref(),
            Some("alice@example.com")
        );
        let second = make(&mut h, make_credential_params(b"alice").insert(0x07, rk()));
        assert_eq!(h.state().credentials.len(), 1, "same RP + user replaces");
        assert_eq!(h.state().credentials[0].id, second.id);
        make(&mut h, make_credential_params(b"bob").insert(0x07, rk()));
        assert_eq!(h.state().credentials.len(), 2);
    }

    #[test]
    fn key_store_full() {
        let mut h = Harness::new();
        h.auth.config.max_discoverable_credentials = 1;
        let rk = || options(&[("rk", true)]);
        make(&mut h, make_credential_params(b"a").insert(0x07, rk()));
        let err = h.call(
            MC,
            Some(make_credential_params(b"b").insert(0x07, rk()).build()),
        );
        assert_eq!(err, Err(CtapError::KeyStoreFull));
        // Replacing the same account still works at capacity.
        make(&mut h, make_credential_params(b"a").insert(0x07, rk()));
    }

    #[test]
    fn pin_token_sets_uv_and_is_consumed() {
        let mut h = Harness::new();
        let token = h.pin_token(Permission::MC);
        let params = || {
            make_credential_params(b"u")
                .insert(0x07, options(&[("rk", true)]))
                .insert(0x08, pin_auth(&token, &CDH))
                .insert(0x09, 2)
        };
        let made = make(&mut h, params());
        assert_eq!(made.auth_data.flags, 0x45, "UP + UV + AT");
        // The token's mc permission was used up by the presence check.
        assert_eq!(
            h.call(MC, Some(params().build())),
            Err(CtapError::PinAuthInvalid)
        );
    }

    #[test]
    fn pin_auth_errors() {
        let mut h = Harness::new();
        // Zero-length probe: PinNotSet before a PIN exists, PinInvalid after.
        let probe = || {
            make_credential_params(b"u")
                .insert(0x08, cbor::bytes(vec![]))
                .insert(0x09, 2)
        };
        assert_eq!(h.call(MC, Some(probe().build())), Err(CtapError::PinNotSet));
        let token = h.pin_token(Permission::MC);
        assert_eq!(
            h.call(MC, Some(probe().build())),
            Err(CtapError::PinInvalid)
        );
        let with = |param: Value, protocol: Option<u8>| {
            let mut p = make_credential_params(b"u").insert(0x08, param);
            if let Some(protocol) = protocol {
                p = p.insert(0x09, protocol);
            }
            p.build()
        };
        let good = pin_auth(&token, &CDH);
        assert_eq!(
            h.call(MC, Some(with(good.clone(), None))),
            Err(CtapError::MissingParameter)
        );
        assert_eq!(
            h.call(MC, Some(with(good, Some(3)))),
            Err(CtapError::InvalidParameter)
        );
        let wrong = pin_auth(&token, b"another client data hash........");
        assert_eq!(
            h.call(MC, Some(with(wrong, Some(2)))),
            Err(CtapError::PinAuthInvalid)
        );
        // A token without the mc permission.
        let ga_only = h.pin_token(Permission::GA);
        assert_eq!(
            h.call(MC, Some(with(pin_auth(&ga_only, &CDH), Some(2)))),
            Err(CtapError::PinAuthInvalid)
        );
    }

    #[test]
    fn token_bound_to_another_rp_is_refused() {
        let mut h = Harness::new();
        h.update(|s| s.pin.pin_hash = Some([1; 16]));
        let token = h
            .auth
            .pin_uv
            .issue_token(Permission::MC, Some("other.example".into()), true)
            .to_vec();
        let params = make_credential_params(b"u")
            .insert(0x08, pin_auth(&token, &CDH))
            .insert(0x09, 2);
        assert_eq!(
            h.call(MC, Some(params.build())),
            Err(CtapError::PinAuthInvalid)
        );
    }

    #[test]
    fn uv_policy_with_a_pin() {
        let mut h = Harness::new();
        h.update(|s| s.pin.pin_hash = Some([1; 16]));
        // makeCredUvNotRqd: a non-discoverable credential needs no UV ...
        make(&mut h, make_credential_params(b"u"));
        // ... a discoverable one does.
        let rk = make_credential_params(b"u").insert(0x07, options(&[("rk", true)]));
        assert_eq!(h.call(MC, Some(rk.build())), Err(CtapError::PinRequired));
        // alwaysUv: nothing without UV.
        h.update(|s| s.config.always_uv = true);
        assert_eq!(
            h.call(MC, Some(make_credential_params(b"u").build())),
            Err(CtapError::PinRequired)
        );
    }

    #[test]
    fn always_uv_without_a_pin() {
        let mut h = Harness::new();
        h.update(|s| s.config.always_uv = true);
        assert_eq!(
            h.call(MC, Some(make_credential_params(b"u").build())),
            Err(CtapError::PinNotSet)
        );
    }

    #[test]
    fn option_errors() {
        let mut h = Harness::new();
        let with = |o: Value| make_credential_params(b"u").insert(0x07, o).build();
        assert_eq!(
            h.call(MC, Some(with(options(&[("up", false)])))),
            Err(CtapError::InvalidOption)
        );
        // No built-in UV on this device yet.
        assert_eq!(
            h.call(MC, Some(with(options(&[("uv", true)])))),
            Err(CtapError::InvalidOption)
        );
        let not_bool = MapBuilder::new().insert("rk", 1).build();
        assert_eq!(
            h.call(MC, Some(with(not_bool))),
            Err(CtapError::CborUnexpectedType)
        );
        // Unknown options are ignored; up=true and uv=false are fine.
        make(
            &mut h,
            make_credential_params(b"u")
                .insert(0x07, options(&[("up", true), ("uv", false), ("x", true)])),
        );
    }

    #[test]
    fn parameter_errors() {
        let mut h = Harness::new();
        for missing in [0x01, 0x02, 0x03, 0x04] {
            let params = with_entry(make_credential_params(b"u"), missing, None);
            assert_eq!(
                h.call(MC, Some(params)),
                Err(CtapError::MissingParameter),
                "missing {missing}"
            );
        }
        let wrong_types = [
            (0x01, Value::Text("hash".into())),
            (0x02, Value::Text("example.com".into())),
            (0x03, cbor::bytes(vec![1])),
            (0x04, MapBuilder::new().build()),
            (0x05, cbor::bytes(vec![1])),
            (0x06, Value::Array(vec![])),
        ];
        for (key, value) in wrong_types {
            let params = with_entry(make_credential_params(b"u"), key, Some(value));
            assert_eq!(
                h.call(MC, Some(params)),
                Err(CtapError::CborUnexpectedType),
                "wrong type for {key}"
            );
        }
        let no_rp_id = make_credential_params(b"u").build();
        let mut entries = cbor::as_map(&no_rp_id).unwrap().entries().to_vec();
        entries[1].1 = MapBuilder::new().insert("name", "x").build();
        assert_eq!(
            h.call(MC, Some(Value::Map(entries))),
            Err(CtapError::MissingParameter)
        );
        // Malformed CBOR and trailing bytes.
        assert_eq!(h.raw(&[MC, 0xa1, 0x01]), Err(CtapError::InvalidCbor));
        let mut trailing = vec![MC];
        trailing.extend(cbor::encode(make_credential_params(b"u").build()));
        trailing.push(0x00);
        assert_eq!(h.raw(&trailing), Err(CtapError::InvalidCbor));
        assert_eq!(h.raw(&[MC]), Err(CtapError::MissingParameter));
        assert_eq!(
            h.call(
                MC,
                Some(make_credential_params(b"u").insert(0x0A, 1).build())
            ),
            Err(CtapError::InvalidParameter),
            "no enterprise attestation"
        );
    }

    #[test]
    fn unsupported_algorithm() {
        let mut h = Harness::new();
        let offer = |algs: &[(i64, &str)]| {
            let list = algs
                .iter()
                .map(|(alg, kind)| {
                    MapBuilder::new()
                        .insert("alg", *alg)
                        .insert("type", *kind)
                        .build()
                })
                .collect();
            with_entry(make_credential_params(b"u"), 0x04, Some(Value::Array(list)))
        };
        assert_eq!(
            h.call(MC, Some(offer(&[(-8, "public-key"), (-7, "other")]))),
            Err(CtapError::UnsupportedAlgorithm)
        );
        // ES256 later in the list is found.
        let response = h.call(MC, Some(offer(&[(-257, "public-key"), (-7, "public-key")])));
        check_attestation(&response.unwrap());
    }

    #[test]
    fn exclude_list() {
        let mut h = Harness::new();
        let existing = make(&mut h, make_credential_params(b"u"));
        let excluded = make_credential_params(b"u").insert(
            0x05,
            Value::Array(vec![descriptor(b"unknown"), descriptor(&existing.id)]),
        );
        assert_eq!(
            h.call(MC, Some(excluded.build())),
            Err(CtapError::CredentialExcluded)
        );
        // Unknown IDs alone do not exclude.
        make(
            &mut h,
            make_credential_params(b"u").insert(0x05, Value::Array(vec![descriptor(b"unknown")])),
        );
    }

    #[test]
    fn exclude_list_hides_uv_required_credentials_without_uv() {
        let mut h = Harness::new();
        let ext = MapBuilder::new().insert("credProtect", 3).build();
        let protected = make(&mut h, make_credential_params(b"u").insert(0x06, ext));
        let params = || {
            make_credential_params(b"u").insert(0x05, Value::Array(vec![descriptor(&protected.id)]))
        };
        make(&mut h, params());
        let token = h.pin_token(Permission::MC);
        let with_uv = params()
            .insert(0x08, pin_auth(&token, &CDH))
            .insert(0x09, 2);
        assert_eq!(
            h.call(MC, Some(with_uv.build())),
            Err(CtapError::CredentialExcluded)
        );
    }

    #[test]
    fn extension_outputs() {
        let mut h = Harness::new();
        h.update(|s| {
            s.pin.min_length = 6;
            s.pin.min_length_rp_ids = vec![TEST_RP.into()];
        });
        let ext = MapBuilder::new()
            .insert("credProtect", 2)
            .insert("hmac-secret", true)
            .insert("credBlob", cbor::bytes(vec![7; 32]))
            .insert("minPinLength", true)
            .insert("unknown", 1)
            .build();
        let made = make(&mut h, make_credential_params(b"u").insert(0x06, ext));
        let out = made
            .auth_data
            .extensions
            .expect("ED flag and extension map");
        let out = cbor::as_map(&out).unwrap();
        assert_eq!(out.required("credProtect", cbor::as_uint), Ok(2));
        assert_eq!(out.required("hmac-secret", cbor::as_bool), Ok(true));
        assert_eq!(out.required("credBlob", cbor::as_bool), Ok(true));
        assert_eq!(out.required("minPinLength", cbor::as_uint), Ok(6));
        assert_eq!(out.entries().len(), 4);
        // A blob over the limit is refused in the output, not with an error.
        let ext = MapBuilder::new()
            .insert("credBlob", cbor::bytes(vec![7; 33]))
            .build();
        let made = make(&mut h, make_credential_params(b"u").insert(0x06, ext));
        let out = made.auth_data.extensions.unwrap();
        assert_eq!(
            cbor::as_map(&out)
                .unwrap()
                .required("credBlob", cbor::as_bool),
            Ok(false)
        );
        // No extensions requested: no ED flag.
        let made = make(&mut h, make_credential_params(b"u"));
        assert!(made.auth_data.extensions.is_none());
    }

    #[test]
    fn batch_attestation_when_provisioned() {
        let mut h = Harness::new();
        let batch_key = credential::CredentialKey::generate(&mut rand::rngs::OsRng);
        let secret = batch_key.secret();
        h.update(|s| {
            s.device.attestation = Some(BatchAttestation {
                private_key: secret,
                certificate_der: vec![0x30, 0x03, 0x02, 0x01, 0x01],
            })
        });
        let response = h
            .call(MC, Some(make_credential_params(b"u").build()))
            .unwrap();
        let map = cbor::as_map(&response).unwrap();
        let raw = map.required(0x02u64, cbor::as_bytes).unwrap();
        let statement = map.required(0x03u64, cbor::as_map).unwrap();
        verify_signature(
            &batch_key.public_key(),
            raw,
            statement.required("sig", cbor::as_bytes).unwrap(),
        );
        assert_eq!(statement.required("x5c", cbor::as_array).unwrap().len(), 1);
    }

    #[test]
    fn builtin_uv_makes_owned_credentials() {
        let mut h = Harness::new();
        let palm = FakePalm::default();
        h.auth.set_builtin_uv(Box::new(palm.clone()));
        palm.present(Some(b"person-a"));
        let uv =
            || make_credential_params(b"a").insert(0x07, options(&[("rk", true), ("uv", true)]));
        let made = make(&mut h, uv());
        assert_eq!(made.auth_data.flags, 0x45);
        assert_eq!(
            h.state().credentials[0].owner.as_deref(),
            Some(&b"person-a"[..])
        );
        // Non-discoverable: the owner travels inside the wrapped ID.
        let made = make(
            &mut h,
            make_credential_params(b"a").insert(0x07, options(&[("uv", true)])),
        );
        let opened = credential::unwrap(
            &h.state().device.credential_wrap_key,
            &rp_id_hash(TEST_RP),
            &made.id,
        )
        .unwrap();
        assert_eq!(opened.owner.as_deref(), Some(&b"person-a"[..]));
        // No match: the UV error comes back.
        palm.present(None);
        assert_eq!(h.call(MC, Some(uv().build())), Err(CtapError::UvInvalid));
    }

    #[test]
    fn presence_refused() {
        let mut h = Harness::with_presence(Box::new(NoTouch));
        assert_eq!(
            h.call(MC, Some(make_credential_params(b"u").build())),
            Err(CtapError::OperationDenied)
        );
    }
}
