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
    let req = Request::parse(&params, auth.config.max_cred_blob_length)?;

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
    // Steps 15–18: extensions, key pair, storage.
    let credential = create(auth, &req, &rp_id_hash, &verified, rk)?;
    // Steps 19–20: authenticator data and attestation.
    let counter = verification::next_counter(auth)?;
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
