//! authenticatorClientPIN (0x06), CTAP 2.1 §6.5.5.
//!
//! The PIN itself is never stored: only LEFT(SHA-256(PIN), 16), the retry counter and the
//! policy live in the store's `PinState`. Every retry-counter decrement is persisted *before*
//! the PIN hash is compared, so cutting power mid-attempt never yields a free guess.
//! [`pad_pin`] and [`pin_hash`] are the platform-side encodings, shared with the host client.

use ciborium::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Permission, PinProtocol, PinUv, SharedSecret};
use crate::ctap::cbor::{as_bytes, as_text, as_u8, bytes, MapBuilder, Params};
use crate::ctap::status::CtapResult;
use crate::ctap::{storage_error, Authenticator, CtapError, Device, Interaction};
use crate::store::Store;

/// Request parameter keys.
mod key {
    pub const PROTOCOL: u64 = 0x01;
    pub const SUB_COMMAND: u64 = 0x02;
    pub const KEY_AGREEMENT: u64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: u64 = 0x04;
    pub const NEW_PIN_ENC: u64 = 0x05;
    pub const PIN_HASH_ENC: u64 = 0x06;
    pub const PERMISSIONS: u64 = 0x09;
    pub const RP_ID: u64 = 0x0A;
}

/// Response keys.
mod out {
    pub const KEY_AGREEMENT: u8 = 0x01;
    pub const PIN_UV_AUTH_TOKEN: u8 = 0x02;
    pub const PIN_RETRIES: u8 = 0x03;
    pub const POWER_CYCLE_STATE: u8 = 0x04;
    pub const UV_RETRIES: u8 = 0x05;
}

subcommand_enum! {
    /// clientPIN subcommands.
    pub enum SubCommand {
        GetPinRetries = 0x01,
        GetKeyAgreement = 0x02,
        SetPin = 0x03,
        ChangePin = 0x04,
        GetPinToken = 0x05,
        GetPinUvAuthTokenUsingUvWithPermissions = 0x06,
        GetUvRetries = 0x07,
        GetPinUvAuthTokenUsingPinWithPermissions = 0x09,
    }
}

/// PIN attempts a fresh (or just-verified) PIN gets.
pub const MAX_PIN_RETRIES: u8 = 8;
/// The padded PIN block is at least this long; a PIN fills at most this minus one byte.
pub const PADDED_PIN_LEN: usize = 64;
/// Longest PIN in bytes.
pub const MAX_PIN_BYTES: usize = PADDED_PIN_LEN - 1;

/// Platform side: the newPin plaintext, the PIN's UTF-8 bytes zero-padded to 64 bytes.
/// A PIN longer than 63 bytes or containing NUL is `PinPolicyViolation`.
pub fn pad_pin(pin: &str) -> Result<Zeroizing<[u8; PADDED_PIN_LEN]>, CtapError> {
    if pin.len() > MAX_PIN_BYTES || pin.bytes().any(|b| b == 0) {
        return Err(CtapError::PinPolicyViolation);
    }
    let mut padded = Zeroizing::new([0u8; PADDED_PIN_LEN]);
    padded[..pin.len()].copy_from_slice(pin.as_bytes());
    Ok(padded)
}

/// LEFT(SHA-256(PIN), 16): what the authenticator stores and the platform sends as pinHash.
pub fn pin_hash(pin: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(pin);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// authenticatorClientPIN as the authenticator dispatches it. Only the built-in UV
/// subcommand needs more than the PIN state and the store (the UV method, and `io` for
/// keep-alives while the person presents their palm).
pub fn handle(auth: &mut Authenticator, params: &[u8], io: &dyn Interaction) -> CtapResult {
    let params = Params::parse(params)?;
    if params.optional(key::SUB_COMMAND, as_u8)?
        == Some(SubCommand::GetPinUvAuthTokenUsingUvWithPermissions as u8)
    {
        return get_token_using_uv(auth, &params, io);
    }
    let (store, pin_uv) = auth.store_and_pin()?;
    client_pin(pin_uv, store, &params)
}

/// Handle one authenticatorClientPIN request; returns the CBOR response payload.
pub fn client_pin(pin_uv: &mut PinUv, store: &mut Store, params: &Params) -> CtapResult {
    let sub = SubCommand::try_from(params.required(key::SUB_COMMAND, as_u8)?)?;
    match sub {
        SubCommand::GetPinRetries => Ok(MapBuilder::new()
            .insert(out::PIN_RETRIES, store.state().pin.retries)
            .insert(out::POWER_CYCLE_STATE, pin_uv.power_cycle_required())
            .encode()),
        SubCommand::GetUvRetries => Ok(MapBuilder::new()
            .insert(out::UV_RETRIES, store.state().uv_retries)
            .encode()),
        SubCommand::GetKeyAgreement => {
            let protocol = protocol(params)?;
            Ok(MapBuilder::new()
                .insert(
                    out::KEY_AGREEMENT,
                    pin_uv.key_agreement(protocol).to_value(),
                )
                .encode())
        }
        SubCommand::SetPin => set_pin(pin_uv, store, params),
        SubCommand::ChangePin => change_pin(pin_uv, store, params),
        SubCommand::GetPinToken => get_pin_token(pin_uv, store, params),
        SubCommand::GetPinUvAuthTokenUsingPinWithPermissions => {
            get_token_with_permissions(pin_uv, store, params)
        }
        // Needs the built-in UV method: only [`handle`] has it.
        SubCommand::GetPinUvAuthTokenUsingUvWithPermissions => Err(CtapError::InvalidSubcommand),
    }
}

/// The required pinUvAuthProtocol (missing → `MissingParameter`, unknown → `InvalidParameter`).
fn protocol(params: &Params) -> Result<PinProtocol, CtapError> {
    PinProtocol::try_from(params.required(key::PROTOCOL, as_u8)?)
}

/// The shared secret with the platform's required keyAgreement key.
fn shared_secret(
    pin_uv: &PinUv,
    params: &Params,
    protocol: PinProtocol,
) -> Result<SharedSecret, CtapError> {
    let platform_key: &Value = params.required(key::KEY_AGREEMENT, Ok)?;
    pin_uv.shared_secret(protocol, platform_key)
}

fn set_pin(pin_uv: &mut PinUv, store: &mut Store, params: &Params) -> CtapResult {
    let protocol = protocol(params)?;
    let auth_param = params.required(key::PIN_UV_AUTH_PARAM, as_bytes)?;
    let new_pin_enc = params.required(key::NEW_PIN_ENC, as_bytes)?;
    params.required(key::KEY_AGREEMENT, Ok)?;
    if store.state().pin.pin_hash.is_some() {
        return Err(CtapError::NotAllowed);
    }
    let shared = shared_secret(pin_uv, params, protocol)?;
    shared.verify(new_pin_enc, auth_param)?;
    let new_pin = NewPin::decrypt(&shared, new_pin_enc, store.state().pin.min_length)?;
    new_pin.store(store)?;
    tracing::info!("PIN set");
    Ok(Vec::new())
}

fn change_pin(pin_uv: &mut PinUv, store: &mut Store, params: &Params) -> CtapResult {
    let protocol = protocol(params)?;
    let auth_param = params.required(key::PIN_UV_AUTH_PARAM, as_bytes)?;
    let new_pin_enc = params.required(key::NEW_PIN_ENC, as_bytes)?;
    let pin_hash_enc = params.required(key::PIN_HASH_ENC, as_bytes)?;
    params.required(key::KEY_AGREEMENT, Ok)?;
    check_pin_usable(pin_uv, store)?;
    let shared = shared_secret(pin_uv, params, protocol)?;
    shared.verify(&[new_pin_enc, pin_hash_enc].concat(), auth_param)?;
    check_pin_hash(pin_uv, store, &shared, pin_hash_enc)?;
    let new_pin = NewPin::decrypt(&shared, new_pin_enc, store.state().pin.min_length)?;
    let pin = &store.state().pin;
    if pin.force_change
        && pin
            .pin_hash
            .is_some_and(|old| bool::from(old.ct_eq(&new_pin.hash)))
    {
        return Err(CtapError::PinPolicyViolation);
    }
    new_pin.store(store)?;
    // Tokens issued under the old PIN must not outlive it.
    pin_uv.reset_token();
    tracing::info!("PIN changed");
    Ok(Vec::new())
}

fn get_pin_token(pin_uv: &mut PinUv, store: &mut Store, params: &Params) -> CtapResult {
    let protocol = protocol(params)?;
    let pin_hash_enc = params.required(key::PIN_HASH_ENC, as_bytes)?;
    params.required(key::KEY_AGREEMENT, Ok)?;
    if params.contains(key::PERMISSIONS) || params.contains(key::RP_ID) {
        return Err(CtapError::InvalidParameter);
    }
    // The legacy command grants what a CTAP 2.0 platform expects: mc and ga, any RP.
    issue_token_with_pin(
        pin_uv,
        store,
        params,
        protocol,
        pin_hash_enc,
        Permission::MC | Permission::GA,
        None,
    )
}

fn get_token_with_permissions(
    pin_uv: &mut PinUv,
    store: &mut Store,
    params: &Params,
) -> CtapResult {
    let protocol = protocol(params)?;
    let pin_hash_enc = params.required(key::PIN_HASH_ENC, as_bytes)?;
    params.required(key::KEY_AGREEMENT, Ok)?;
    let (permissions, rp_id) = requested_permissions(pin_uv, params)?;
    issue_token_with_pin(
        pin_uv,
        store,
        params,
        protocol,
        pin_hash_enc,
        permissions,
        rp_id,
    )
}

/// The permissions (and permissions RP ID) a token request asks for: some, all grantable on
/// this device, and an RP ID when mc or ga is among them.
fn requested_permissions(
    pin_uv: &PinUv,
    params: &Params,
) -> Result<(Permission, Option<String>), CtapError> {
    let permissions = Permission::from_bits(params.required(key::PERMISSIONS, as_u8)?);
    let rp_id = params.optional(key::RP_ID, as_text)?.map(str::to_owned);
    if permissions.is_empty() {
        return Err(CtapError::InvalidParameter);
    }
    if !pin_uv.grantable().contains(permissions) {
        return Err(CtapError::UnauthorizedPermission);
    }
    if permissions.needs_rp_id() && rp_id.is_none() {
        return Err(CtapError::MissingParameter);
    }
    Ok((permissions, rp_id))
}

/// getPinUvAuthTokenUsingUvWithPermissions: built-in UV (the palm) identifies the person,
/// and the token remembers who it was. Without a built-in UV method the subcommand is
/// unsupported; with nobody enrolled it is not allowed. UV failures (`UvInvalid`,
/// `UvBlocked`, cancel, timeout) come from the method and its retry counter.
fn get_token_using_uv(
    auth: &mut Authenticator,
    params: &Params,
    io: &dyn Interaction,
) -> CtapResult {
    let protocol = protocol(params)?;
    params.required(key::KEY_AGREEMENT, Ok)?;
    let Authenticator {
        device,
        pin_uv,
        builtin_uv,
        events,
        ..
    } = auth;
    let Device::Ready(store) = device else {
        return Err(CtapError::IntegrityFailure);
    };
    let uv = builtin_uv.as_mut().ok_or(CtapError::InvalidSubcommand)?;
    let (permissions, rp_id) = requested_permissions(pin_uv, params)?;
    // Enrollment, configuration and credential management are the administrator's (PIN):
    // a palm never gets them (getInfo: uvBioEnroll and uvAcfg false).
    if permissions.contains(Permission::BE)
        || permissions.contains(Permission::ACFG)
        || permissions.contains(Permission::CM)
    {
        return Err(CtapError::UnauthorizedPermission);
    }
    if !uv.is_enrolled(store.state()) {
        return Err(CtapError::NotAllowed);
    }
    let shared = shared_secret(pin_uv, params, protocol)?;
    let user = uv.verify(store, io).inspect_err(|&error| {
        crate::ctap::verification::report_builtin_failure(
            events,
            rp_id.as_deref(),
            Some(store.state().uv_retries),
            error,
        )
    })?;
    let token = pin_uv.issue_token_for_user(permissions, rp_id, user);
    let token_enc = shared.encrypt(token)?;
    tracing::debug!(
        permissions = permissions.bits(),
        "pinUvAuthToken issued after built-in UV"
    );
    Ok(MapBuilder::new()
        .insert(out::PIN_UV_AUTH_TOKEN, bytes(token_enc))
        .encode())
}

/// The common tail of getPinToken and getPinUvAuthTokenUsingPinWithPermissions: check the
/// PIN, refuse while a PIN change is forced, then issue and encrypt a new token.
fn issue_token_with_pin(
    pin_uv: &mut PinUv,
    store: &mut Store,
    params: &Params,
    protocol: PinProtocol,
    pin_hash_enc: &[u8],
    permissions: Permission,
    rp_id: Option<String>,
) -> CtapResult {
    check_pin_usable(pin_uv, store)?;
    let shared = shared_secret(pin_uv, params, protocol)?;
    check_pin_hash(pin_uv, store, &shared, pin_hash_enc)?;
    if store.state().pin.force_change {
        return Err(CtapError::PinPolicyViolation);
    }
    let token = pin_uv.issue_token(permissions, rp_id, false);
    let token_enc = shared.encrypt(token)?;
    tracing::debug!(permissions = permissions.bits(), "pinUvAuthToken issued");
    Ok(MapBuilder::new()
        .insert(out::PIN_UV_AUTH_TOKEN, bytes(token_enc))
        .encode())
}

/// Refuse PIN entry when there is no PIN, it is blocked, or a power cycle is needed.
fn check_pin_usable(pin_uv: &PinUv, store: &Store) -> Result<(), CtapError> {
    let pin = &store.state().pin;
    if pin.pin_hash.is_none() {
        return Err(CtapError::PinNotSet);
    }
    if pin.retries == 0 {
        return Err(CtapError::PinBlocked);
    }
    if pin_uv.power_cycle_required() {
        return Err(CtapError::PinAuthBlocked);
    }
    Ok(())
}

/// Compare the platform's encrypted PIN hash with the stored one, consuming a retry first.
fn check_pin_hash(
    pin_uv: &mut PinUv,
    store: &mut Store,
    shared: &SharedSecret,
    pin_hash_enc: &[u8],
) -> Result<(), CtapError> {
    // pinHashEnc is one AES block (plus the IV in protocol 2); anything else is malformed,
    // which is not a guess and so costs no retry.
    let expected_len = match shared.protocol() {
        PinProtocol::One => 16,
        PinProtocol::Two => 32,
    };
    if pin_hash_enc.len() != expected_len {
        return Err(CtapError::InvalidParameter);
    }
    // Persist the decrement before comparing: a crash now must not refund the attempt.
    let retries = store
        .update(|s| {
            s.pin.retries = s.pin.retries.saturating_sub(1);
            s.pin.retries
        })
        .map_err(storage_error)?;
    let presented = shared.decrypt(pin_hash_enc)?;
    let stored = store.state().pin.pin_hash.ok_or(CtapError::PinNotSet)?;
    if !bool::from(stored.as_slice().ct_eq(presented.as_slice())) {
        pin_uv.record_mismatch();
        tracing::warn!(
            retries,
            mismatches = pin_uv.consecutive_mismatches(),
            "wrong PIN"
        );
        return Err(if retries == 0 {
            CtapError::PinBlocked
        } else if pin_uv.power_cycle_required() {
            CtapError::PinAuthBlocked
        } else {
            CtapError::PinInvalid
        });
    }
    pin_uv.clear_mismatches();
    // A correct PIN also unblocks built-in UV (CTAP 2.1: uvRetries reset to the maximum).
    store
        .update(|s| {
            s.pin.retries = MAX_PIN_RETRIES;
            s.uv_retries = crate::store::state::MAX_UV_RETRIES;
        })
        .map_err(storage_error)?;
    Ok(())
}

/// A new PIN decrypted from newPinEnc and checked against the policy. Only its hash and
/// length are kept; the plaintext is wiped when decryption's buffer drops.
struct NewPin {
    hash: [u8; 16],
    code_points: u8,
}

impl NewPin {
    /// Decrypt and unpad newPinEnc. A block shorter than 64 bytes or non-zero bytes after the
    /// terminating zero are malformed (`InvalidParameter`); a PIN over 63 bytes, not UTF-8, or
    /// shorter than `min_length` code points breaks the policy (`PinPolicyViolation`).
    fn decrypt(
        shared: &SharedSecret,
        new_pin_enc: &[u8],
        min_length: u8,
    ) -> Result<Self, CtapError> {
        let padded = shared
            .decrypt(new_pin_enc)
            .map_err(|_| CtapError::InvalidParameter)?;
        if padded.len() < PADDED_PIN_LEN {
            return Err(CtapError::InvalidParameter);
        }
        let len = padded.iter().position(|&b| b == 0).unwrap_or(padded.len());
        if padded[len..].iter().any(|&b| b != 0) {
            return Err(CtapError::InvalidParameter);
        }
        let pin = &padded[..len];
        if pin.len() > MAX_PIN_BYTES {
            return Err(CtapError::PinPolicyViolation);
        }
        let text = std::str::from_utf8(pin).map_err(|_| CtapError::PinPolicyViolation)?;
        let code_points = text.chars().count();
        if code_points < usize::from(min_length) {
            return Err(CtapError::PinPolicyViolation);
        }
        Ok(NewPin {
            hash: pin_hash(pin),
            code_points: u8::try_from(code_points).expect("at most 63 bytes"),
        })
    }

    /// Make this the device PIN: fresh retries, no forced change.
    fn store(&self, store: &mut Store) -> Result<(), CtapError> {
        store
            .update(|s| {
                s.pin.pin_hash = Some(self.hash);
                s.pin.pin_code_points = self.code_points;
                s.pin.retries = MAX_PIN_RETRIES;
                s.pin.force_change = false;
            })
            .map_err(storage_error)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::ctap::pin::testing::{field, Device, Platform};
    use crate::ctap::test_support::{FakePalm, Harness};
    use crate::ctap::user::VerifiedUser;

    const PIN: &str = "1234";

    fn each_protocol(test: impl Fn(Platform)) {
        for protocol in PinProtocol::ALL {
            test(Platform::new(protocol));
        }
    }

    fn retries(device: &mut Device) -> (u8, bool) {
        let r = device.client_pin(MapBuilder::new().insert(2, 1)).unwrap();
        let retries = u8::try_from(field(&r, 3).as_integer().unwrap()).unwrap();
        (retries, field(&r, 4).as_bool().unwrap())
    }

    #[test]
    fn fresh_device_reports_retries_and_no_pin() {
        let mut device = Device::new();
        assert_eq!(retries(&mut device), (8, false));
        let r = device.client_pin(MapBuilder::new().insert(2, 7)).unwrap();
        assert_eq!(field(&r, 5), &Value::from(5));
        each_protocol(|p| {
            let mut device = Device::new();
            assert_eq!(p.get_pin_token(&mut device, PIN), Err(CtapError::PinNotSet));
            assert_eq!(
                p.change_pin(&mut device, PIN, "5678"),
                Err(CtapError::PinNotSet)
            );
        });
    }

    #[test]
    fn set_pin_then_get_tokens() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            let state = &device.store.state().pin;
            assert_eq!(state.pin_hash, Some(pin_hash(PIN.as_bytes())));
            assert_eq!(state.pin_code_points, 4);
            assert_eq!(p.set_pin(&mut device, "9999"), Err(CtapError::NotAllowed));

            let token = p.get_pin_token(&mut device, PIN).unwrap();
            assert_eq!(token.len(), 32);
            let v = p.protocol.version();
            let sig = p.auth(&token, b"cdh");
            device
                .pin_uv
                .verify(v, b"cdh", &sig, Permission::MC, Some("a.example"))
                .unwrap();
            device
                .pin_uv
                .verify(v, b"cdh", &sig, Permission::GA, Some("a.example"))
                .unwrap();
            // The legacy token got bound to the first RP it was used with.
            assert_eq!(
                device
                    .pin_uv
                    .verify(v, b"cdh", &sig, Permission::GA, Some("b.example")),
                Err(CtapError::PinAuthInvalid)
            );
            assert_eq!(
                device.pin_uv.verify(v, b"cdh", &sig, Permission::CM, None),
                Err(CtapError::PinAuthInvalid)
            );
            // A new token replaces the old one.
            let newer = p.get_pin_token(&mut device, PIN).unwrap();
            assert_ne!(newer, token);
            assert_eq!(
                device
                    .pin_uv
                    .verify(v, b"cdh", &sig, Permission::MC, Some("a.example")),
                Err(CtapError::PinAuthInvalid)
            );
        });
    }

    #[test]
    fn set_pin_rejects_a_bad_auth_param() {
        each_protocol(|p| {
            let mut device = Device::new();
            let (key, shared) = p.key_agreement(&mut device);
            let new_pin_enc = shared.encrypt(pad_pin(PIN).unwrap().as_slice()).unwrap();
            let mut auth = shared.authenticate(&new_pin_enc);
            auth[0] ^= 1;
            let request = p
                .request(3)
                .insert(3, key)
                .insert(4, bytes(auth))
                .insert(5, bytes(new_pin_enc));
            assert_eq!(device.client_pin(request), Err(CtapError::PinAuthInvalid));
            assert_eq!(device.store.state().pin.pin_hash, None);
        });
    }

    #[test]
    fn pin_policy() {
        each_protocol(|p| {
            let mut device = Device::new();
            assert_eq!(
                p.set_pin(&mut device, "123"),
                Err(CtapError::PinPolicyViolation)
            );
            // Three code points in six bytes is still too short.
            assert_eq!(
                p.set_pin(&mut device, "äöü"),
                Err(CtapError::PinPolicyViolation)
            );
            let mut too_long = [b'7'; 64];
            assert_eq!(
                p.set_pin_padded(&mut device, &too_long),
                Err(CtapError::PinPolicyViolation)
            );
            too_long[63] = 0;
            let mut not_utf8 = [0u8; 64];
            not_utf8[..4].copy_from_slice(&[0xff, 0xfe, 0x31, 0x32]);
            assert_eq!(
                p.set_pin_padded(&mut device, &not_utf8),
                Err(CtapError::PinPolicyViolation)
            );
            let mut bad_padding = [0u8; 64];
            bad_padding[..4].copy_from_slice(b"1234");
            bad_padding[10] = b'x';
            assert_eq!(
                p.set_pin_padded(&mut device, &bad_padding),
                Err(CtapError::InvalidParameter)
            );
            let mut short_block = [0u8; 48];
            short_block[..4].copy_from_slice(b"1234");
            assert_eq!(
                p.set_pin_padded(&mut device, &short_block),
                Err(CtapError::InvalidParameter)
            );
            assert_eq!(device.store.state().pin.pin_hash, None);
            // 63 bytes is the longest PIN; four umlauts are four code points.
            p.set_pin_padded(&mut device, &too_long).unwrap();
            assert_eq!(device.store.state().pin.pin_code_points, 63);
            p.change_pin(&mut device, &"7".repeat(63), "äöüß").unwrap();
            assert_eq!(device.store.state().pin.pin_code_points, 4);
            p.get_pin_token(&mut device, "äöüß").unwrap();
        });
    }

    #[test]
    fn wrong_pins_count_down_and_need_a_power_cycle_after_three() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            assert_eq!(
                p.get_pin_token(&mut device, "0000"),
                Err(CtapError::PinInvalid)
            );
            assert_eq!(retries(&mut device), (7, false));
            assert_eq!(
                p.get_pin_token(&mut device, "0000"),
                Err(CtapError::PinInvalid)
            );
            assert_eq!(
                p.get_pin_token(&mut device, "0000"),
                Err(CtapError::PinAuthBlocked)
            );
            assert_eq!(retries(&mut device), (5, true));
            // Even the right PIN is refused until a power cycle, and costs nothing.
            assert_eq!(
                p.get_pin_token(&mut device, PIN),
                Err(CtapError::PinAuthBlocked)
            );
            assert_eq!(retries(&mut device), (5, true));
            device.power_cycle();
            assert_eq!(retries(&mut device), (5, false));
            p.get_pin_token(&mut device, PIN).unwrap();
            assert_eq!(retries(&mut device), (8, false));
        });
    }

    #[test]
    fn eight_wrong_pins_block_the_pin() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            for attempt in 1..=8u8 {
                if attempt % 3 == 1 {
                    device.power_cycle();
                }
                let err = p.get_pin_token(&mut device, "0000").unwrap_err();
                let expected = match attempt {
                    8 => CtapError::PinBlocked,
                    3 | 6 => CtapError::PinAuthBlocked,
                    _ => CtapError::PinInvalid,
                };
                assert_eq!(err, expected, "attempt {attempt}");
                assert_eq!(device.store.state().pin.retries, 8 - attempt);
            }
            device.power_cycle();
            assert_eq!(
                p.get_pin_token(&mut device, PIN),
                Err(CtapError::PinBlocked)
            );
            assert_eq!(
                p.change_pin(&mut device, PIN, "5678"),
                Err(CtapError::PinBlocked)
            );
            assert_eq!(retries(&mut device), (0, false));
        });
    }

    #[test]
    fn retry_counter_is_on_disk_after_each_attempt() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            assert_eq!(
                p.get_pin_token(&mut device, "0000"),
                Err(CtapError::PinInvalid)
            );
            assert_eq!(
                p.get_pin_token(&mut device, "0000"),
                Err(CtapError::PinInvalid)
            );
            let mut device = device.restart();
            assert_eq!(retries(&mut device), (6, false));
            for _ in 0..6 {
                device = device.restart();
                p.get_pin_token(&mut device, "0000").unwrap_err();
            }
            let mut device = device.restart();
            assert_eq!(retries(&mut device), (0, false));
            assert_eq!(
                p.get_pin_token(&mut device, PIN),
                Err(CtapError::PinBlocked)
            );
        });
    }

    #[test]
    fn key_agreement_is_regenerated_after_a_mismatch() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            let before = device.pin_uv.key_agreement(p.protocol);
            p.get_pin_token(&mut device, PIN).unwrap();
            assert_eq!(device.pin_uv.key_agreement(p.protocol), before);
            assert_eq!(
                p.get_pin_token(&mut device, "0000"),
                Err(CtapError::PinInvalid)
            );
            assert_ne!(device.pin_uv.key_agreement(p.protocol), before);
        });
    }

    #[test]
    fn malformed_pin_hash_enc_costs_no_retry() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            let (key, _) = p.key_agreement(&mut device);
            let request = p.request(5).insert(3, key).insert(6, bytes(vec![0u8; 48]));
            assert_eq!(device.client_pin(request), Err(CtapError::InvalidParameter));
            assert_eq!(retries(&mut device), (8, false));
        });
    }

    #[test]
    fn change_pin() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            let token = p.get_pin_token(&mut device, PIN).unwrap();
            assert_eq!(
                p.change_pin(&mut device, "0000", "5678"),
                Err(CtapError::PinInvalid)
            );
            assert_eq!(retries(&mut device), (7, false));
            assert_eq!(
                p.change_pin(&mut device, PIN, "56"),
                Err(CtapError::PinPolicyViolation)
            );
            p.change_pin(&mut device, PIN, "5678").unwrap();
            assert_eq!(retries(&mut device), (8, false));
            // The old token died with the old PIN.
            let sig = p.auth(&token, b"m");
            let v = p.protocol.version();
            assert_eq!(
                device
                    .pin_uv
                    .verify(v, b"m", &sig, Permission::MC, Some("rp")),
                Err(CtapError::PinAuthInvalid)
            );
            assert_eq!(
                p.get_pin_token(&mut device, PIN),
                Err(CtapError::PinInvalid)
            );
            p.get_pin_token(&mut device, "5678").unwrap();
        });
    }

    #[test]
    fn change_pin_with_a_bad_auth_param_costs_no_retry() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            let (key, shared) = p.key_agreement(&mut device);
            let new_pin_enc = shared.encrypt(pad_pin("5678").unwrap().as_slice()).unwrap();
            let pin_hash_enc = shared.encrypt(&pin_hash(PIN.as_bytes())).unwrap();
            // Authenticates only newPinEnc, not newPinEnc || pinHashEnc.
            let auth = shared.authenticate(&new_pin_enc);
            let request = p
                .request(4)
                .insert(3, key)
                .insert(4, bytes(auth))
                .insert(5, bytes(new_pin_enc))
                .insert(6, bytes(pin_hash_enc));
            assert_eq!(device.client_pin(request), Err(CtapError::PinAuthInvalid));
            assert_eq!(retries(&mut device), (8, false));
        });
    }

    #[test]
    fn forced_pin_change() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            device.store.update(|s| s.pin.force_change = true).unwrap();
            assert_eq!(
                p.get_pin_token(&mut device, PIN),
                Err(CtapError::PinPolicyViolation)
            );
            assert_eq!(
                p.get_token(&mut device, PIN, Permission::CM, None),
                Err(CtapError::PinPolicyViolation)
            );
            assert_eq!(
                p.change_pin(&mut device, PIN, PIN),
                Err(CtapError::PinPolicyViolation)
            );
            p.change_pin(&mut device, PIN, "4321").unwrap();
            assert!(!device.store.state().pin.force_change);
            p.get_pin_token(&mut device, "4321").unwrap();
        });
    }

    #[test]
    fn token_permissions_and_rp_binding() {
        each_protocol(|p| {
            let mut device = Device::with_pin(p, PIN);
            let v = p.protocol.version();
            assert_eq!(
                p.get_token(&mut device, PIN, Permission::NONE, None),
                Err(CtapError::InvalidParameter)
            );
            assert_eq!(
                p.get_token(&mut device, PIN, Permission::BE, None),
                Err(CtapError::UnauthorizedPermission)
            );
            assert_eq!(
                p.get_token(&mut device, PIN, Permission::LBW | Permission::CM, None),
                Err(CtapError::UnauthorizedPermission)
            );
            assert_eq!(
                p.get_token(&mut device, PIN, Permission::GA, None),
                Err(CtapError::MissingParameter)
            );
            // None of those refusals consumed a retry.
            assert_eq!(retries(&mut device), (8, false));

            let token = p
                .get_token(&mut device, PIN, Permission::MC, Some("a.example"))
                .unwrap();
            let sig = p.auth(&token, b"cdh");
            let verify =
                |device: &mut Device, perm, rp| device.pin_uv.verify(v, b"cdh", &sig, perm, rp);
            assert_eq!(
                verify(&mut device, Permission::MC, Some("b.example")),
                Err(CtapError::PinAuthInvalid)
            );
            assert_eq!(
                verify(&mut device, Permission::GA, Some("a.example")),
                Err(CtapError::PinAuthInvalid)
            );
            verify(&mut device, Permission::MC, Some("a.example")).unwrap();
            assert_eq!(device.pin_uv.token_rp_id().as_deref(), Some("a.example"));
            // A wrong MAC, or the other protocol's MAC length, fails.
            let other = if v == 1 { 2 } else { 1 };
            assert_eq!(
                device
                    .pin_uv
                    .verify(other, b"cdh", &sig, Permission::MC, Some("a.example")),
                Err(CtapError::PinAuthInvalid)
            );
            assert_eq!(
                device
                    .pin_uv
                    .verify(3, b"cdh", &sig, Permission::MC, Some("a.example")),
                Err(CtapError::InvalidParameter)
            );
            // After a makeCredential consumed it, only lbw would survive.
            device.pin_uv.consume_token_flags();
            assert!(!device.pin_uv.token_user_verified());
            assert_eq!(
                verify(&mut device, Permission::MC, Some("a.example")),
                Err(CtapError::PinAuthInvalid)
            );

            let token = p
                .get_token(&mut device, PIN, Permission::CM | Permission::ACFG, None)
                .unwrap();
            let sig = p.auth(&token, b"x");
            device
                .pin_uv
                .authorize(v, b"x", &sig, Permission::ACFG)
                .unwrap();
            device
                .pin_uv
                .authorize(v, b"x", &sig, Permission::CM)
                .unwrap();
            assert_eq!(
                device.pin_uv.authorize(v, b"x", &sig, Permission::MC),
                Err(CtapError::PinAuthInvalid)
            );
            assert_eq!(device.pin_uv.token_rp_id(), None);
        });
    }

    #[test]
    fn unused_tokens_expire() {
        let p = Platform::new(PinProtocol::Two);
        let mut device = Device::with_pin(p, PIN);
        let now = Instant::now();
        let at = |secs| now + Duration::from_secs(secs);
        let token = p
            .get_token(&mut device, PIN, Permission::GA, Some("rp"))
            .unwrap();
        let sig = p.auth(&token, b"m");
        let mut verify = |rp, t| {
            device
                .pin_uv
                .verify_at(2, b"m", &sig, Permission::GA, Some(rp), t)
        };
        // A rejected request is no use of the token ...
        assert_eq!(verify("other", at(10)), Err(CtapError::PinAuthInvalid));
        // ... so, unused, it lapses after 30 s.
        assert_eq!(verify("rp", at(31)), Err(CtapError::PinAuthInvalid));

        let token = p
            .get_token(&mut device, PIN, Permission::GA, Some("rp"))
            .unwrap();
        let sig = p.auth(&token, b"m");
        let now = Instant::now();
        let at = |secs| now + Duration::from_secs(secs);
        let mut verify = |t| {
            device
                .pin_uv
                .verify_at(2, b"m", &sig, Permission::GA, Some("rp"), t)
        };
        // Used once, it lasts up to the 10-minute maximum.
        verify(at(10)).unwrap();
        verify(at(300)).unwrap();
        assert_eq!(verify(at(600)), Err(CtapError::PinAuthInvalid));
    }

    #[test]
    fn get_pin_token_refuses_permissions() {
        let p = Platform::new(PinProtocol::Two);
        let mut device = Device::with_pin(p, PIN);
        let (key, shared) = p.key_agreement(&mut device);
        let pin_hash_enc = shared.encrypt(&pin_hash(PIN.as_bytes())).unwrap();
        let request = p
            .request(5)
            .insert(3, key)
            .insert(6, bytes(pin_hash_enc))
            .insert(9, 1);
        assert_eq!(device.client_pin(request), Err(CtapError::InvalidParameter));
    }

    #[test]
    fn parameter_errors() {
        let mut device = Device::new();
        let req = |sub: u8| MapBuilder::new().insert(2, sub);
        assert_eq!(
            device.client_pin(req(0x02)),
            Err(CtapError::MissingParameter)
        );
        assert_eq!(
            device.client_pin(req(0x02).insert(1, 3)),
            Err(CtapError::InvalidParameter)
        );
        assert_eq!(
            device.client_pin(req(0x08).insert(1, 2)),
            Err(CtapError::InvalidSubcommand)
        );
        assert_eq!(
            device.client_pin(req(0x06).insert(1, 2)),
            Err(CtapError::InvalidSubcommand)
        );
        assert_eq!(
            device.client_pin(MapBuilder::new().insert(1, 2)),
            Err(CtapError::MissingParameter)
        );
        assert_eq!(
            device.client_pin(req(0x03).insert(1, 2)),
            Err(CtapError::MissingParameter)
        );
        assert_eq!(
            device.client_pin(
                req(0x03)
                    .insert(1, 2)
                    .insert(4, bytes(vec![0; 32]))
                    .insert(5, bytes(vec![0; 80]))
            ),
            Err(CtapError::MissingParameter)
        );
        let bad_key = Value::Map(vec![(Value::from(1), Value::from(2))]);
        let request = req(0x03)
            .insert(1, 2)
            .insert(3, bad_key)
            .insert(4, bytes(vec![0; 32]))
            .insert(5, bytes(vec![0; 80]));
        assert_eq!(device.client_pin(request), Err(CtapError::InvalidParameter));
        assert_eq!(
            device.client_pin(req(0x01).insert(1, "x")),
            Ok(device.client_pin(req(0x01)).unwrap())
        );
        assert_eq!(
            device.client_pin(MapBuilder::new().insert(2, "x")),
            Err(CtapError::CborUnexpectedType)
        );
    }

    #[test]
    fn built_in_uv_issues_tokens_for_the_identified_person() {
        each_protocol(|p| {
            let v = p.protocol.version();
            let mut h = Harness::new();
            assert_eq!(
                p.get_token_using_uv(&mut h.auth, Permission::GA, Some("rp")),
                Err(CtapError::InvalidSubcommand)
            );
            let palm = FakePalm::default();
            h.auth.set_builtin_uv(Box::new(palm.clone()));
            // Nobody holds out a palm.
            assert_eq!(
                p.get_token_using_uv(&mut h.auth, Permission::GA, Some("rp")),
                Err(CtapError::UvInvalid)
            );
            palm.present(Some(b"alice"));
            assert_eq!(
                p.get_token_using_uv(&mut h.auth, Permission::GA, None),
                Err(CtapError::MissingParameter)
            );
            assert_eq!(
                p.get_token_using_uv(&mut h.auth, Permission::BE, None),
                Err(CtapError::UnauthorizedPermission)
            );
            let token = p
                .get_token_using_uv(&mut h.auth, Permission::GA, Some("rp"))
                .unwrap();
            let alice = VerifiedUser {
                template_id: b"alice".to_vec(),
            };
            assert_eq!(h.auth.pin_uv.token_verified_user(), Some(alice));
            assert!(h.auth.pin_uv.token_user_present());
            let sig = p.auth(&token, b"cdh");
            h.auth
                .pin_uv
                .verify(v, b"cdh", &sig, Permission::GA, Some("rp"))
                .unwrap();
            // A PIN-issued token acts for nobody in particular.
            p.set_pin(&mut h.auth, PIN).unwrap();
            p.get_token(&mut h.auth, PIN, Permission::GA, Some("rp"))
                .unwrap();
            assert_eq!(h.auth.pin_uv.token_verified_user(), None);
            assert!(!h.auth.pin_uv.token_user_present());
        });
    }
}
