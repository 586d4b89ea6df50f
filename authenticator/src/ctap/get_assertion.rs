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
    // userSelected (response 0x06): under built-in UV the palm identified the person and
    // `locate` kept only their credentials, so when that leaves exactly one discoverable
    // credential, presenting the palm *was* the account choice. Without it Chromium shows its
    // account chooser for any usernameless answer whose user entity has a name — a chooser
    // that nobody at a shared terminal is there to click (the sign-in then never finishes).
    // CTAP 2.1 forbids it with an allowList, with numberOfCredentials > 1 and in
    // getNextAssertion; a PIN names no person, so PIN-verified requests never set it.
    let user_selected = req.allow_list.is_none() && total == 1 && verified.person().is_some();
    let response = assertion(
        auth,
        &context,
        &first,
        (total > 1).then_some(total),
        user_selected,
    )?;
    verification::report_success(auth, req.rp_id, &verified);
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
    let response = assertion(auth, &state.context, &credential, None, false)?;
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
    let store = auth.store()?;
    let state = store.state();
    let uv = verified.user_verified();
    let usable = |c: &Credential, listed: bool| {
        verified.may_use(c, store.enrollments()) && c.cred_protect.permits(uv, listed)
    };
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
    user_selected: bool,
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
        .insert_opt(0x06, user_selected.then_some(true))
        .encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::auth_data::rp_id_hash;
    use crate::ctap::cbor::{MapBuilder, Value};
    use crate::ctap::pin::PinProtocol;
    use crate::ctap::test_support::*;

    const GA: u8 = 0x02;
    const GNA: u8 = 0x08;

    fn allow(ids: &[&[u8]]) -> Value {
        Value::Array(ids.iter().map(|id| descriptor(id)).collect())
    }

    fn rk(h: &mut Harness, user_id: &[u8]) -> Made {
        make(
            h,
            make_credential_params(user_id).insert(0x07, options(&[("rk", true)])),
        )
    }

    #[test]
    fn assertion_with_a_wrapped_credential() {
        let mut h = Harness::new();
        let made = make(&mut h, make_credential_params(b"u"));
        let response = h
            .call(
                GA,
                Some(
                    get_assertion_params()
                        .insert(0x03, allow(&[b"junk", &made.id]))
                        .build(),
                ),
            )
            .unwrap();
        let a = check_assertion(&response, &made.key);
        assert_eq!(a.id, made.id);
        assert_eq!(a.auth_data.rp_id_hash, rp_id_hash(TEST_RP));
        assert_eq!(a.auth_data.flags, 0x01, "UP only");
        assert!(a.auth_data.counter > made.auth_data.counter);
        assert!(
            a.map.get(0x04u64).is_none(),
            "no user for a non-discoverable credential"
        );
        assert!(a.map.get(0x05u64).is_none());
    }

    #[test]
    fn wrapped_id_of_another_rp_is_unknown() {
        let mut h = Harness::new();
        let made = make(&mut h, make_credential_params(b"u"));
        let params = MapBuilder::new()
            .insert(0x01, "evil.example")
            .insert(0x02, cbor::bytes(CDH.to_vec()))
            .insert(0x03, allow(&[&made.id]));
        assert_eq!(
            h.call(GA, Some(params.build())),
            Err(CtapError::NoCredentials)
        );
    }

    #[test]
    fn discoverable_credentials_newest_first_with_next_assertion() {
        let mut h = Harness::new();
        let a = rk(&mut h, b"a");
        let b = rk(&mut h, b"b");
        let c = rk(&mut h, b"c");
        let first = h.call(GA, Some(get_assertion_params().build())).unwrap();
        let first = check_assertion(&first, &c.key);
        assert_eq!(first.id, c.id);
        assert_eq!(first.map.required(0x05u64, cbor::as_uint), Ok(3));
        // Without UV only the user ID is disclosed.
        let user = first.map.required(0x04u64, cbor::as_map).unwrap();
        assert_eq!(user.required("id", cbor::as_bytes), Ok(&b"c"[..]));
        assert!(user.get("name").is_none() && user.get("displayName").is_none());
        let second = h.call(GNA, None).unwrap();
        let second = check_assertion(&second, &b.key);
        assert!(second.map.get(0x05u64).is_none());
        assert!(second.auth_data.counter > first.auth_data.counter);
        let third = h.call(GNA, None).unwrap();
        assert_eq!(check_assertion(&third, &a.key).id, a.id);
        assert_eq!(h.call(GNA, None), Err(CtapError::NotAllowed));
    }

    #[test]
    fn next_assertion_state_is_dropped_by_other_commands_and_time() {
        let mut h = Harness::new();
        rk(&mut h, b"a");
        rk(&mut h, b"b");
        assert_eq!(h.call(GNA, None), Err(CtapError::NotAllowed));
        h.call(GA, Some(get_assertion_params().build())).unwrap();
        h.call(0x04, None).unwrap();
        assert_eq!(h.call(GNA, None), Err(CtapError::NotAllowed));
        h.auth.config.next_assertion_timeout = std::time::Duration::ZERO;
        h.call(GA, Some(get_assertion_params().build())).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(h.call(GNA, None), Err(CtapError::NotAllowed));
    }

    #[test]
    fn user_details_with_pin_uv() {
        let mut h = Harness::new();
        let token = h.pin_token(crate::ctap::pin::Permission::MC);
        let made = make(
            &mut h,
            make_credential_params(b"a")
                .insert(0x07, options(&[("rk", true)]))
                .insert(0x08, pin_auth(&token, &CDH))
                .insert(0x09, 2),
        );
        let token = h.pin_token(crate::ctap::pin::Permission::GA);
        let params = get_assertion_params()
            .insert(0x06, pin_auth(&token, &CDH))
            .insert(0x07, 2);
        let response = h.call(GA, Some(params.build())).unwrap();
        let a = check_assertion(&response, &made.key);
        assert_eq!(a.auth_data.flags, 0x05, "UP + UV");
        let user = a.map.required(0x04u64, cbor::as_map).unwrap();
        assert_eq!(
            user.required("name", cbor::as_text),
            Ok("alice@example.com")
        );
        assert_eq!(user.required("displayName", cbor::as_text), Ok("Alice"));
    }

    #[test]
    fn silent_assertion_and_options() {
        let mut h = Harness::with_presence(Box::new(NoTouch));
        h.update(|s| s.device.credential_wrap_key = crate::store::state::SecretKey([9; 32]));
        let cred = credential::new_wrapped(
            &crate::store::state::SecretKey([9; 32]),
            &rp_id_hash(TEST_RP),
            credential::WrapOptions::default(),
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        let base = || get_assertion_params().insert(0x03, allow(&[&cred.id]));
        // up=false needs no touch and leaves UP clear.
        let response = h
            .call(
                GA,
                Some(base().insert(0x05, options(&[("up", false)])).build()),
            )
            .unwrap();
        let a = check_assertion(&response, &cred.key.public_key());
        assert_eq!(a.auth_data.flags, 0x00);
        // With presence required, nobody touching is OperationDenied.
        assert_eq!(
            h.call(GA, Some(base().build())),
            Err(CtapError::OperationDenied)
        );
        assert_eq!(
            h.call(
                GA,
                Some(base().insert(0x05, options(&[("rk", true)])).build())
            ),
            Err(CtapError::UnsupportedOption)
        );
        assert_eq!(
            h.call(
                GA,
                Some(base().insert(0x05, options(&[("uv", true)])).build())
            ),
            Err(CtapError::InvalidOption)
        );
    }

    #[test]
    fn cred_protect_filtering() {
        let mut h = Harness::new();
        let level = |n: u64| MapBuilder::new().insert("credProtect", n).build();
        let rk_opt = || options(&[("rk", true)]);
        let l2 = make(
            &mut h,
            make_credential_params(b"two")
                .insert(0x06, level(2))
                .insert(0x07, rk_opt()),
        );
        let l3 = make(
            &mut h,
            make_credential_params(b"three")
                .insert(0x06, level(3))
                .insert(0x07, rk_opt()),
        );
        // Without UV neither is discoverable ...
        assert_eq!(
            h.call(GA, Some(get_assertion_params().build())),
            Err(CtapError::NoCredentials)
        );
        // ... level 2 works from an allowList, level 3 does not.
        let r = h
            .call(
                GA,
                Some(
                    get_assertion_params()
                        .insert(0x03, allow(&[&l2.id]))
                        .build(),
                ),
            )
            .unwrap();
        check_assertion(&r, &l2.key);
        assert_eq!(
            h.call(
                GA,
                Some(
                    get_assertion_params()
                        .insert(0x03, allow(&[&l3.id]))
                        .build()
                )
            ),
            Err(CtapError::NoCredentials)
        );
        // With UV both are found.
        let token = h.pin_token(crate::ctap::pin::Permission::GA);
        let params = get_assertion_params()
            .insert(0x06, pin_auth(&token, &CDH))
            .insert(0x07, 2);
        let r = h.call(GA, Some(params.build())).unwrap();
        let a = check_assertion(&r, &l3.key);
        assert_eq!(a.map.required(0x05u64, cbor::as_uint), Ok(2));
    }

    #[test]
    fn cred_blob_is_returned() {
        let mut h = Harness::new();
        let ext = MapBuilder::new()
            .insert("credBlob", cbor::bytes(b"secret blob".to_vec()))
            .build();
        let with_blob = make(
            &mut h,
            make_credential_params(b"u").insert(0x06, ext.clone()),
        );
        let stored = make(
            &mut h,
            make_credential_params(b"v")
                .insert(0x06, ext)
                .insert(0x07, options(&[("rk", true)])),
        );
        let without = make(&mut h, make_credential_params(b"w"));
        let want = MapBuilder::new().insert("credBlob", true).build();
        for (made, expect) in [
            (&with_blob, &b"secret blob"[..]),
            (&stored, b"secret blob"),
            (&without, b""),
        ] {
            let r = h
                .call(
                    GA,
                    Some(
                        get_assertion_params()
                            .insert(0x03, allow(&[&made.id]))
                            .insert(0x04, want.clone())
                            .build(),
                    ),
                )
                .unwrap();
            let a = check_assertion(&r, &made.key);
            let ext = a.auth_data.extensions.expect("extension outputs");
            assert_eq!(
                cbor::as_map(&ext)
                    .unwrap()
                    .required("credBlob", cbor::as_bytes),
                Ok(expect)
            );
        }
    }

    /// The platform side of hmac-secret: encrypt and authenticate salts for a getAssertion
    /// naming `made`; `salt_auth` overrides the correct authentication.
    fn hmac_secret_request(
        h: &Harness,
        made: &Made,
        protocol: PinProtocol,
        salts: &[u8],
        salt_auth: Option<Vec<u8>>,
    ) -> (MapBuilder, crate::ctap::pin::SharedSecret) {
        let device_key = h.auth.pin_uv.key_agreement(protocol);
        let (platform_key, shared) = protocol.encapsulate(&device_key, &mut rand::rngs::OsRng);
        let salt_enc = shared.encrypt(salts).unwrap();
        let salt_auth = salt_auth.unwrap_or_else(|| shared.authenticate(&salt_enc));
        let input = MapBuilder::new()
            .insert(0x01, platform_key.to_value())
            .insert(0x02, cbor::bytes(salt_enc))
            .insert(0x03, cbor::bytes(salt_auth))
            .insert(0x04, protocol.version())
            .build();
        let params = get_assertion_params()
            .insert(0x03, allow(&[&made.id]))
            .insert(0x04, MapBuilder::new().insert("hmac-secret", input).build());
        (params, shared)
    }

    /// hmac-secret outputs for `salts`, decrypted as the platform would.
    fn hmac_secret_roundtrip(
        h: &mut Harness,
        made: &Made,
        protocol: PinProtocol,
        salts: &[u8],
        uv_token: Option<&[u8]>,
    ) -> Vec<u8> {
        let (mut params, shared) = hmac_secret_request(h, made, protocol, salts, None);
        if let Some(token) = uv_token {
            params = params.insert(0x06, pin_auth(token, &CDH)).insert(0x07, 2);
        }
        let r = h.call(GA, Some(params.build())).unwrap();
        let a = check_assertion(&r, &made.key);
        let ext = a.auth_data.extensions.unwrap();
        let out = cbor::as_map(&ext)
            .unwrap()
            .required("hmac-secret", cbor::as_bytes)
            .unwrap()
            .to_vec();
        shared.decrypt(&out).unwrap().to_vec()
    }

    #[test]
    fn hmac_secret_outputs() {
        let mut h = Harness::new();
        let ext = MapBuilder::new().insert("hmac-secret", true).build();
        let wrapped = make(
            &mut h,
            make_credential_params(b"u").insert(0x06, ext.clone()),
        );
        let stored = make(
            &mut h,
            make_credential_params(b"v")
                .insert(0x06, ext)
                .insert(0x07, options(&[("rk", true)])),
        );
        for made in [&wrapped, &stored] {
            let salt1 = [1u8; 32];
            let salt2 = [2u8; 32];
            let both = [salt1, salt2].concat();
            let one = hmac_secret_roundtrip(&mut h, made, PinProtocol::One, &salt1, None);
            assert_eq!(one.len(), 32);
            let two = hmac_secret_roundtrip(&mut h, made, PinProtocol::Two, &both, None);
            assert_eq!(two.len(), 64);
            assert_eq!(&two[..32], &one[..], "same salt, same output, any protocol");
            assert_ne!(&two[32..], &one[..]);
            let token = h.pin_token(crate::ctap::pin::Permission::GA);
            let with_uv =
                hmac_secret_roundtrip(&mut h, made, PinProtocol::Two, &salt1, Some(&token));
            assert_ne!(with_uv, one, "UV and non-UV outputs differ");
        }
        // A credential made without hmac-secret and a different credential give other outputs.
        let other = make(
            &mut h,
            make_credential_params(b"w")
                .insert(0x06, MapBuilder::new().insert("hmac-secret", true).build()),
        );
        assert_ne!(
            hmac_secret_roundtrip(&mut h, &other, PinProtocol::Two, &[1; 32], None),
            hmac_secret_roundtrip(&mut h, &wrapped, PinProtocol::Two, &[1; 32], None)
        );
    }

    #[test]
    fn hmac_secret_bad_input() {
        let mut h = Harness::new();
        let ext = MapBuilder::new().insert("hmac-secret", true).build();
        let made = make(&mut h, make_credential_params(b"u").insert(0x06, ext));
        let (params, _) =
            hmac_secret_request(&h, &made, PinProtocol::Two, &[1; 32], Some(vec![0; 32]));
        assert_eq!(
            h.call(GA, Some(params.build())),
            Err(CtapError::PinAuthInvalid)
        );
        let (params, _) = hmac_secret_request(&h, &made, PinProtocol::One, &[1; 48], None);
        assert_eq!(
            h.call(GA, Some(params.build())),
            Err(CtapError::InvalidLength)
        );
    }

    #[test]
    fn palm_owner_sees_only_their_credentials() {
        let mut h = Harness::new();
        let palm = FakePalm::default();
        h.auth.set_builtin_uv(Box::new(palm.clone()));
        let uv_rk = || options(&[("rk", true), ("uv", true)]);
        palm.present(Some(b"A"));
        let a = make(
            &mut h,
            make_credential_params(b"user-a").insert(0x07, uv_rk()),
        );
        palm.present(Some(b"B"));
        let b = make(
            &mut h,
            make_credential_params(b"user-b").insert(0x07, uv_rk()),
        );
        let uv = || get_assertion_params().insert(0x05, options(&[("uv", true)]));
        // Usernameless: each person gets exactly their own account.
        for (who, made, user_id) in [(&b"A"[..], &a, &b"user-a"[..]), (b"B", &b, b"user-b")] {
            palm.present(Some(who));
            let r = h.call(GA, Some(uv().build())).unwrap();
            let asserted = check_assertion(&r, &made.key);
            assert_eq!(asserted.auth_data.flags, 0x05);
            assert!(asserted.map.get(0x05u64).is_none(), "one credential");
            assert_eq!(
                asserted.map.required(0x06u64, cbor::as_bool),
                Ok(true),
                "the palm chose the account: userSelected, so no platform account chooser"
            );
            let user = asserted.map.required(0x04u64, cbor::as_map).unwrap();
            assert_eq!(user.required("id", cbor::as_bytes), Ok(user_id));
        }
        // A's palm with an allowList: the RP chose the credential, no userSelected.
        palm.present(Some(b"A"));
        let r = h
            .call(GA, Some(uv().insert(0x03, allow(&[&a.id])).build()))
            .unwrap();
        assert!(check_assertion(&r, &a.key).map.get(0x06u64).is_none());
        // B's palm with an allowList naming only A's credential: nothing.
        palm.present(Some(b"B"));
        assert_eq!(
            h.call(GA, Some(uv().insert(0x03, allow(&[&a.id])).build())),
            Err(CtapError::NoCredentials)
        );
        // An unenrolled palm fails UV.
        palm.present(None);
        assert_eq!(h.call(GA, Some(uv().build())), Err(CtapError::UvInvalid));
    }

    #[test]
    fn user_selected_only_for_a_palm_that_leaves_one_account() {
        let mut h = Harness::new();
        let palm = FakePalm::default();
        h.auth.set_builtin_uv(Box::new(palm.clone()));
        let uv_rk = || options(&[("rk", true), ("uv", true)]);
        palm.present(Some(b"A"));
        let first = make(&mut h, make_credential_params(b"a-1").insert(0x07, uv_rk()));
        let second = make(&mut h, make_credential_params(b"a-2").insert(0x07, uv_rk()));
        // Two accounts for the palm: the platform must let the person choose.
        let uv = || get_assertion_params().insert(0x05, options(&[("uv", true)]));
        let r = h.call(GA, Some(uv().build())).unwrap();
        let asserted = check_assertion(&r, &second.key);
        assert_eq!(asserted.map.required(0x05u64, cbor::as_uint), Ok(2));
        assert!(asserted.map.get(0x06u64).is_none());
        let next = h.call(GNA, None).unwrap();
        assert!(check_assertion(&next, &first.key)
            .map
            .get(0x06u64)
            .is_none());
        // A palm-issued pinUvAuthToken acts for its person (what Chromium uses): B's palm,
        // B's only credential, chosen by the palm.
        palm.present(Some(b"B"));
        let b = make(&mut h, make_credential_params(b"b-1").insert(0x07, uv_rk()));
        let p = crate::ctap::pin::testing::Platform::new(PinProtocol::Two);
        let token = p
            .get_token_using_uv(&mut h.auth, crate::ctap::pin::Permission::GA, Some(TEST_RP))
            .unwrap();
        let params = get_assertion_params()
            .insert(0x06, cbor::bytes(p.auth(&token, &CDH)))
            .insert(0x07, 2);
        let r = h.call(GA, Some(params.build())).unwrap();
        let asserted = check_assertion(&r, &b.key);
        assert_eq!(asserted.map.required(0x06u64, cbor::as_bool), Ok(true));
        // PIN UV names no person: one discoverable credential, but no userSelected.
        let mut h = Harness::new();
        let made = rk(&mut h, b"only");
        let token = h.pin_token(crate::ctap::pin::Permission::GA);
        let params = get_assertion_params()
            .insert(0x06, pin_auth(&token, &CDH))
            .insert(0x07, 2);
        let r = h.call(GA, Some(params.build())).unwrap();
        let asserted = check_assertion(&r, &made.key);
        assert_eq!(asserted.auth_data.flags, 0x05, "UP + UV");
        assert!(asserted.map.get(0x05u64).is_none());
        assert!(asserted.map.get(0x06u64).is_none());
    }

    #[test]
    fn parameter_errors() {
        let mut h = Harness::new();
        let only_hash = MapBuilder::new().insert(0x02, cbor::bytes(CDH.to_vec()));
        assert_eq!(
            h.call(GA, Some(only_hash.build())),
            Err(CtapError::MissingParameter)
        );
        let only_rp = MapBuilder::new().insert(0x01, TEST_RP);
        assert_eq!(
            h.call(GA, Some(only_rp.build())),
            Err(CtapError::MissingParameter)
        );
        let bad_rp = MapBuilder::new()
            .insert(0x01, 5)
            .insert(0x02, cbor::bytes(CDH.to_vec()));
        assert_eq!(
            h.call(GA, Some(bad_rp.build())),
            Err(CtapError::CborUnexpectedType)
        );
        let bad_allow =
            get_assertion_params().insert(0x03, Value::Array(vec![cbor::bytes(vec![1])]));
        assert_eq!(
            h.call(GA, Some(bad_allow.build())),
            Err(CtapError::CborUnexpectedType)
        );
        let no_id = get_assertion_params().insert(
            0x03,
            Value::Array(vec![MapBuilder::new().insert("type", "public-key").build()]),
        );
        assert_eq!(
            h.call(GA, Some(no_id.build())),
            Err(CtapError::MissingParameter)
        );
        assert_eq!(
            h.call(GA, Some(get_assertion_params().build())),
            Err(CtapError::NoCredentials)
        );
        assert_eq!(h.raw(&[GA, 0x80]), Err(CtapError::CborUnexpectedType));
        let probe = get_assertion_params()
            .insert(0x06, cbor::bytes(vec![]))
            .insert(0x07, 1);
        assert_eq!(h.call(GA, Some(probe.build())), Err(CtapError::PinNotSet));
    }
}
