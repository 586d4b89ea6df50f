//! authenticatorGetAssertion (0x02) and authenticatorGetNextAssertion (0x08), in the
//! processing order of CTAP 2.1 §6.2.2 and §6.3.
//!
//! Which credentials a request may see: those of the RP (named in the allowList, or its
//! discoverable ones, newest first), filtered by credProtect and — under built-in UV — by
//! owner, so one person's palm never reveals or uses another person's credential.

use std::collections::VecDeque;
use std::time::Instant;

use super::auth_data::{self, Flags};
use super::cbor::{self, MapBuilder, Params};
use super::credential::{self, Credential};
use super::extensions::{self, cred_blob, hmac_secret, GetAssertionInputs};
use super::pin::Permission;
use super::status::{CtapError, CtapResult};
use super::verification::{self, Options, PinUvAuth, Verification};
use super::{Authenticator, Interaction};

const RP_ID: u64 = 0x01;
const CLIENT_DATA_HASH: u64 = 0x02;
const ALLOW_LIST: u64 = 0x03;
const EXTENSIONS: u64 = 0x04;
const OPTIONS: u64 = 0x05;
const PIN_UV_AUTH_PARAM: u64 = 0x06;
const PIN_UV_AUTH_PROTOCOL: u64 = 0x07;

#[derive(Debug)]
struct Request<'a> {
    rp_id: &'a str,
    client_data_hash: &'a [u8],
    /// `None` when absent or empty (both mean "discoverable credentials").
    allow_list: Option<Vec<&'a [u8]>>,
    extensions: GetAssertionInputs,
    options: Options,
    pin_uv_auth: PinUvAuth<'a>,
}

impl<'a> Request<'a> {
    fn parse(params: &'a Params) -> CtapResult<Self> {
        let rp_id = params.required(RP_ID, cbor::as_text)?;
        let client_data_hash = params.required(CLIENT_DATA_HASH, cbor::as_bytes)?;
        let allow_list = match params.optional(ALLOW_LIST, cbor::as_array)? {
            Some(items) if !items.is_empty() => Some(
                items
                    .iter()
                    .map(credential::descriptor_id)
                    .filter_map(Result::transpose)
                    .collect::<CtapResult<Vec<_>>>()?,
            ),
            _ => None,
        };
        let extensions = match params.optional(EXTENSIONS, cbor::as_map)? {
            Some(map) => GetAssertionInputs::parse(map)?,
            None => GetAssertionInputs::default(),
        };
        Ok(Request {
            rp_id,
            client_data_hash,
            allow_list,
            extensions,
            options: Options::parse(params.optional(OPTIONS, cbor::as_map)?)?,
            pin_uv_auth: PinUvAuth {
                param: params.optional(PIN_UV_AUTH_PARAM, cbor::as_bytes)?,
                protocol: params.optional(PIN_UV_AUTH_PROTOCOL, cbor::as_u8)?,
            },
        })
    }
}

/// What every assertion of one request shares (kept for getNextAssertion).
#[derive(Debug)]
struct Context {
    rp_id_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    flags: Flags,
    user_verified: bool,
    hmac_secret: Option<hmac_secret::Session>,
    cred_blob: bool,
}

/// The credentials still to be returned by getNextAssertion, and until when.
#[derive(Debug)]
pub struct NextAssertion {
    context: Context,
    remaining: VecDeque<Credential>,
    deadline: Instant,
}

pub fn handle(auth: &mut Authenticator, params: &[u8], io: &dyn Interaction) -> CtapResult {
    let params = Params::parse(params)?;
    let req = Request::parse(&params)?;

    // Steps 1–2: zero-length pinUvAuthParam probe; protocol present and supported.
    verification::check_pin_uv_auth(auth, req.pin_uv_auth, io)?;
    // Step 4: options. Discoverability is not a getAssertion option.
    if req.options.rk.is_some() {
        return Err(CtapError::UnsupportedOption);
    }
    let up = req.options.up.unwrap_or(true);
    let builtin = verification::wants_builtin_uv(auth, &req.options, req.pin_uv_auth)?;
    // Step 5: alwaysUv applies to assertions with user presence.
    if up {
        verification::require_uv_if_needed(
            auth,
            req.pin_uv_auth.param.is_some() || builtin,
            false,
        )?;
    }
    // Step 6: verify the user.
    let verified = verification::verify(
        auth,
        req.pin_uv_auth,
        builtin,
        req.client_data_hash,
        Permission::GA,
        req.rp_id,
        io,
    )?;
    // Step 7: locate the applicable credentials.
    let rp_id_hash = auth_data::rp_id_hash(req.rp_id);
    let mut credentials = locate(auth, &req, &rp_id_hash, &verified)?;
    if credentials.is_empty() {
        return Err(CtapError::NoCredentials);
    }
    // Steps 8–9: user presence.
    if up {
        verification::collect_presence(auth, &verified, req.pin_uv_auth, io)?;
    }
    // Step 10: extensions.
    let hmac_secret = match &req.extensions.hmac_secret {
        Some(input) => Some(input.open(&auth.pin_uv)?),
        None => None,
    };
    let context = Context {
        rp_id_hash,
        client_data_hash: req.client_data_hash.to_vec(),
        flags: Flags::new(up, verified.user_verified()),
        user_verified: verified.user_verified(),
        hmac_secret,
        cred_blob: req.extensions.cred_blob,
    };
    // Steps 11–12: one credential for an allowList; all of them, newest first, otherwise.
    let first = credentials.remove(0);
    let total = if req.allow_list.is_some() {
        1
    } else {
        credentials.len() + 1
    };
    let response = assertion(auth, &context, &first, (total > 1).then_some(total))?;
    if total > 1 {
        auth.next_assertion = Some(NextAssertion {
            context,
            remaining: credentials.into(),
            deadline: Instant::now() + auth.config.next_assertion_timeout,
        });
    }
    Ok(response)
}

/// getNextAssertion: the next credential of the last getAssertion, within 30 s of the
/// previous response and with no other command in between.
pub fn handle_next(auth: &mut Authenticator, _params: &[u8]) -> CtapResult {
    let mut state = auth.next_assertion.take().ok_or(CtapError::NotAllowed)?;
    if Instant::now() > state.deadline {
        return Err(CtapError::NotAllowed);
    }
    let credential = state.remaining.pop_front().ok_or(CtapError::NotAllowed)?;
    let response = assertion(auth, &state.context, &credential, None)?;
    if !state.remaining.is_empty() {
        state.deadline = Instant::now() + auth.config.next_assertion_timeout;
        auth.next_assertion = Some(state);
    }
    Ok(response)
}

/// Step 7: the credentials this request may use.
fn locate(
    auth: &Authenticator,
    req: &Request<'_>,
    rp_id_hash: &[u8; 32],
    verified: &Verification,
) -> CtapResult<Vec<Credential>> {
    let state = auth.store()?.state();
    let uv = verified.user_verified();
    let usable =
        |c: &Credential, listed: bool| verified.may_use(c) && c.cred_protect.permits(uv, listed);
    match &req.allow_list {
        Some(ids) => {
            let mut found: Vec<Credential> = Vec::new();
            for id in ids {
                if found.iter().any(|c| c.id == *id) {
                    continue;
                }
                if let Some(c) = credential::find(state, req.rp_id, rp_id_hash, id)? {
                    if usable(&c, true) {
                        found.push(c);
                    }
                }
            }
            Ok(found)
        }
        None => Ok(credential::discoverable_for(state, req.rp_id)?
            .into_iter()
            .filter(|c| usable(c, false))
            .collect()),
    }
}

/// Sign one assertion and encode the response map.
fn assertion(
    auth: &mut Authenticator,
    context: &Context,
    credential: &Credential,
    number_of_credentials: Option<usize>,
) -> CtapResult {
    let counter = verification::next_counter(auth)?;
    let mut ext = MapBuilder::new();
    if let (Some(session), Some(cred_random)) = (&context.hmac_secret, &credential.hmac_secret) {
        ext = ext.insert(
            extensions::HMAC_SECRET,
            session.output(cred_random, context.user_verified)?,
        );
    }
    if context.cred_blob {
        ext = ext.insert(
            extensions::CRED_BLOB,
            cred_blob::output(credential.cred_blob.as_deref()),
        );
    }
    let auth_data = auth_data::encode(
        &context.rp_id_hash,
        context.flags,
        counter,
        None,
        (!ext.is_empty()).then(|| ext.build()),
    );
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&context.client_data_hash);
    let signature = credential.key.sign(&signed);
    let descriptor = MapBuilder::new()
        .insert("id", cbor::bytes(credential.id.clone()))
        .insert("type", "public-key")
        .build();
    Ok(MapBuilder::new()
        .insert(0x01, descriptor)
        .insert(0x02, cbor::bytes(auth_data))
        .insert(0x03, cbor::bytes(signature))
        .insert_opt(
            0x04,
            credential
                .user
                .as_ref()
                .map(|user| user.to_value(context.user_verified)),
        )
        .insert_opt(0x05, number_of_credentials.map(|n| n as u64))
        .encode())
}
