//! Test harness: a device (store + volatile PIN state) and a platform that drives it the way
//! a host does, using the same protocol code on its side.

use ciborium::Value;
use rand_core::{OsRng, RngCore};

use super::client_pin::{client_pin, pad_pin, pin_hash};
use super::{Permission, PinProtocol, PinUv, SharedSecret};
use crate::ctap::cbor::{bytes, MapBuilder, Params};
use crate::ctap::cose::{CoseAlgorithm, CoseKey};
use crate::ctap::test_support::status_and_body;
use crate::ctap::user::NoInteraction;
use crate::ctap::{Authenticator, CtapError};
use crate::store::{MasterKey, Store};

/// An authenticator's PIN-relevant parts on a temporary state folder.
pub(crate) struct Device {
    pub pin_uv: PinUv,
    pub store: Store,
    dir: tempfile::TempDir,
    master_key: [u8; 32],
}

impl Device {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut master_key = [0u8; 32];
        OsRng.fill_bytes(&mut master_key);
        let store =
            Store::open(dir.path(), MasterKey::from_bytes(master_key)).expect("fresh store");
        Device {
            pin_uv: PinUv::new(),
            store,
            dir,
            master_key,
        }
    }

    /// Power loss and restart: the store is closed and reopened from disk, so only what was
    /// persisted survives; volatile state starts over.
    pub fn restart(self) -> Self {
        let Device {
            store,
            dir,
            master_key,
            ..
        } = self;
        drop(store);
        let store = Store::open(dir.path(), MasterKey::from_bytes(master_key)).expect("reopen");
        Device {
            pin_uv: PinUv::new(),
            store,
            dir,
            master_key,
        }
    }

    /// A fresh device on which `platform` has set `pin`.
    pub fn with_pin(platform: Platform, pin: &str) -> Self {
        let mut device = Device::new();
        platform.set_pin(&mut device, pin).expect("setPIN");
        device
    }

    /// Simulated power cycle: volatile state is lost, the store stays.
    pub fn power_cycle(&mut self) {
        self.pin_uv = PinUv::new();
    }

    pub fn client_pin(&mut self, request: MapBuilder) -> Result<Value, CtapError> {
        Target::client_pin(self, request)
    }
}

/// Something a platform sends clientPIN requests to: the bare PIN state, or a whole
/// [`Authenticator`] (through `process`, as a transport would).
pub(crate) trait Target {
    fn client_pin(&mut self, request: MapBuilder) -> Result<Value, CtapError>;
}

impl Target for Device {
    fn client_pin(&mut self, request: MapBuilder) -> Result<Value, CtapError> {
        let params = Params::parse(&request.encode())?;
        client_pin(&mut self.pin_uv, &mut self.store, &params).map(|out| decode(&out))
    }
}

impl Target for Authenticator {
    fn client_pin(&mut self, request: MapBuilder) -> Result<Value, CtapError> {
        command(self, 0x06, request)
    }
}

/// Send one CTAP2 command through [`Authenticator::process`], as a transport would.
pub(crate) fn command(
    auth: &mut Authenticator,
    cmd: u8,
    request: MapBuilder,
) -> Result<Value, CtapError> {
    let mut message = vec![cmd];
    if !request.is_empty() {
        message.extend(request.encode());
    }
    status_and_body(&auth.process(&message, &NoInteraction))
}

/// Decode a response payload (empty → `Null`).
pub(crate) fn decode(payload: &[u8]) -> Value {
    if payload.is_empty() {
        return Value::Null;
    }
    ciborium::from_reader(payload).expect("response is CBOR")
}

/// The value under integer `key` of a response map.
pub(crate) fn field(response: &Value, key: i64) -> &Value {
    response
        .as_map()
        .expect("response map")
        .iter()
        .find(|(k, _)| k == &Value::from(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("response has no key {key}: {response:?}"))
}

/// A platform speaking one PIN/UV auth protocol.
#[derive(Clone, Copy)]
pub(crate) struct Platform {
    pub protocol: PinProtocol,
}

impl Platform {
    pub fn new(protocol: PinProtocol) -> Self {
        Platform { protocol }
    }

    /// A clientPIN request map with this protocol and `sub`.
    pub fn request(&self, sub: u8) -> MapBuilder {
        MapBuilder::new()
            .insert(1, self.protocol.version())
            .insert(2, sub)
    }

    /// getKeyAgreement, then encapsulate: (our COSE key, shared secret).
    pub fn key_agreement(&self, device: &mut impl Target) -> (Value, SharedSecret) {
        let response = device
            .client_pin(self.request(0x02))
            .expect("getKeyAgreement");
        let theirs =
            CoseKey::from_value(field(&response, 1), CoseAlgorithm::EcdhEsHkdf256).unwrap();
        let (ours, shared) = self.protocol.encapsulate(&theirs, &mut OsRng);
        (ours.to_value(), shared)
    }

    pub fn set_pin(&self, device: &mut impl Target, pin: &str) -> Result<(), CtapError> {
        self.set_pin_padded(device, pad_pin(pin).unwrap().as_slice())
    }

    /// setPIN with an arbitrary plaintext block (for malformed-padding tests).
    pub fn set_pin_padded(&self, device: &mut impl Target, padded: &[u8]) -> Result<(), CtapError> {
        let (key, shared) = self.key_agreement(device);
        let new_pin_enc = shared.encrypt(padded).unwrap();
        let auth = shared.authenticate(&new_pin_enc);
        let request = self
            .request(0x03)
            .insert(3, key)
            .insert(4, bytes(auth))
            .insert(5, bytes(new_pin_enc));
        device.client_pin(request).map(drop)
    }

    pub fn change_pin(
        &self,
        device: &mut impl Target,
        old: &str,
        new: &str,
    ) -> Result<(), CtapError> {
        let (key, shared) = self.key_agreement(device);
        let new_pin_enc = shared.encrypt(pad_pin(new).unwrap().as_slice()).unwrap();
        let pin_hash_enc = shared.encrypt(&pin_hash(old.as_bytes())).unwrap();
        let auth = shared.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
        let request = self
            .request(0x04)
            .insert(3, key)
            .insert(4, bytes(auth))
            .insert(5, bytes(new_pin_enc))
            .insert(6, bytes(pin_hash_enc));
        device.client_pin(request).map(drop)
    }

    /// getPinToken (legacy); returns the decrypted token.
    pub fn get_pin_token(&self, device: &mut impl Target, pin: &str) -> Result<Vec<u8>, CtapError> {
        self.token_request(device, Some(pin), 0x05, |r| r)
    }

    /// getPinUvAuthTokenUsingPinWithPermissions; returns the decrypted token.
    pub fn get_token(
        &self,
        device: &mut impl Target,
        pin: &str,
        permissions: Permission,
        rp_id: Option<&str>,
    ) -> Result<Vec<u8>, CtapError> {
        self.token_request(device, Some(pin), 0x09, |r| {
            r.insert(9, permissions.bits()).insert_opt(10, rp_id)
        })
    }

    /// getPinUvAuthTokenUsingUvWithPermissions; returns the decrypted token.
    pub fn get_token_using_uv(
        &self,
        device: &mut impl Target,
        permissions: Permission,
        rp_id: Option<&str>,
    ) -> Result<Vec<u8>, CtapError> {
        self.token_request(device, None, 0x06, |r| {
            r.insert(9, permissions.bits()).insert_opt(10, rp_id)
        })
    }

    fn token_request(
        &self,
        device: &mut impl Target,
        pin: Option<&str>,
        sub: u8,
        extra: impl FnOnce(MapBuilder) -> MapBuilder,
    ) -> Result<Vec<u8>, CtapError> {
        let (key, shared) = self.key_agreement(device);
        let pin_hash_enc = pin.map(|pin| bytes(shared.encrypt(&pin_hash(pin.as_bytes())).unwrap()));
        let request = extra(self.request(sub).insert(3, key).insert_opt(6, pin_hash_enc));
        let response = device.client_pin(request)?;
        let token_enc = field(&response, 2).as_bytes().expect("token bytes");
        Ok(shared.decrypt(token_enc).expect("token decrypts").to_vec())
    }

    /// pinUvAuthParam over `message` with a token.
    pub fn auth(&self, token: &[u8], message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(token, message)
    }
}
