//! Test harness for the command handlers: a real store in a temporary folder, real CBOR in
//! and out, real crypto to check what comes back.

use std::sync::{Arc, Mutex};

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use tempfile::TempDir;

use super::cbor::{self, Map, MapBuilder, Value};
use super::cose::{CoseAlgorithm, CoseKey};
use super::pin::{Permission, PinProtocol};
use super::user::{AutoApprove, BuiltInUv, NoInteraction, VerifiedUser};
use super::{Authenticator, Config, CtapError, Interaction, UserPresence};
use crate::store::{MasterKey, State, Store};

pub const TEST_RP: &str = "example.com";
pub const CDH: [u8; 32] = [0xCD; 32];

pub struct Harness {
    pub auth: Authenticator,
    pub dir: TempDir,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_presence(Box::new(AutoApprove))
    }

    pub fn with_presence(presence: Box<dyn UserPresence>) -> Self {
        let dir = TempDir::new().unwrap();
        let store = Store::open(dir.path(), MasterKey::generate(&mut rand::rngs::OsRng)).unwrap();
        Harness {
            auth: Authenticator::new(store, presence, Config::default()),
            dir,
        }
    }

    /// Send one command; the decoded response map, or the status code.
    pub fn call(&mut self, command: u8, params: Option<Value>) -> Result<Value, CtapError> {
        let mut request = vec![command];
        if let Some(params) = params {
            request.extend(cbor::encode(params));
        }
        self.raw(&request)
    }

    pub fn raw(&mut self, request: &[u8]) -> Result<Value, CtapError> {
        let response = self.auth.process(request, &NoInteraction);
        status_and_body(&response)
    }

    pub fn state(&self) -> &State {
        self.auth.store().unwrap().state()
    }

    pub fn update(&mut self, f: impl FnOnce(&mut State)) {
        self.auth.store_mut().unwrap().update(f).unwrap();
    }

    /// Set a PIN (its hash only; clientPIN is tested by its owner) and issue a token.
    pub fn pin_token(&mut self, permissions: Permission) -> Vec<u8> {
        self.update(|s| s.pin.pin_hash = Some([0x11; 16]));
        self.auth
            .pin_uv
            .issue_token(permissions, None, true)
            .to_vec()
    }
}

/// Split a response into status and decoded body.
pub fn status_and_body(response: &[u8]) -> Result<Value, CtapError> {
    let (&status, body) = response.split_first().expect("status byte");
    if status != 0 {
        return Err(ctap_error(status));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    Ok(cbor::decode(body).expect("response is one CBOR item"))
}

fn ctap_error(status: u8) -> CtapError {
    crate::client::CtapStatus(status)
        .error()
        .unwrap_or_else(|| panic!("unexpected status {status:#04x}"))
}

/// pinUvAuthParam for `message` with a token, protocol 2.
pub fn pin_auth(token: &[u8], message: &[u8]) -> Value {
    cbor::bytes(PinProtocol::Two.authenticate(token, message))
}

pub fn rp() -> Value {
    MapBuilder::new()
        .insert("id", TEST_RP)
        .insert("name", "Example")
        .build()
}

pub fn user(id: &[u8]) -> Value {
    MapBuilder::new()
        .insert("id", cbor::bytes(id.to_vec()))
        .insert("name", "alice@example.com")
        .insert("displayName", "Alice")
        .build()
}

pub fn es256_params() -> Value {
    Value::Array(vec![MapBuilder::new()
        .insert("alg", -7)
        .insert("type", "public-key")
        .build()])
}

pub fn descriptor(id: &[u8]) -> Value {
    MapBuilder::new()
        .insert("id", cbor::bytes(id.to_vec()))
        .insert("type", "public-key")
        .build()
}

/// A makeCredential parameter map for TEST_RP with the required members.
pub fn make_credential_params(user_id: &[u8]) -> MapBuilder {
    MapBuilder::new()
        .insert(0x01, cbor::bytes(CDH.to_vec()))
        .insert(0x02, rp())
        .insert(0x03, user(user_id))
        .insert(0x04, es256_params())
}

pub fn get_assertion_params() -> MapBuilder {
    MapBuilder::new()
        .insert(0x01, TEST_RP)
        .insert(0x02, cbor::bytes(CDH.to_vec()))
}

/// `params` with `key` set to `value` (replacing any entry), or removed when `None`.
pub fn with_entry(params: MapBuilder, key: u64, value: Option<Value>) -> Value {
    let built = params.build();
    let mut entries: Vec<(Value, Value)> = cbor::as_map(&built)
        .unwrap()
        .entries()
        .iter()
        .filter(|(k, _)| *k != cbor::int(key))
        .cloned()
        .collect();
    entries.extend(value.map(|v| (cbor::int(key), v)));
    Value::Map(entries)
}

pub fn options(pairs: &[(&str, bool)]) -> Value {
    pairs
        .iter()
        .fold(MapBuilder::new(), |m, (k, v)| m.insert(*k, *v))
        .build()
}

/// Authenticator data as a verifier reads it.
#[derive(Debug)]
pub struct ParsedAuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub counter: u32,
    pub aaguid: Option<[u8; 16]>,
    pub credential_id: Option<Vec<u8>>,
    pub public_key: Option<CoseKey>,
    pub extensions: Option<Value>,
}

pub fn parse_auth_data(data: &[u8]) -> ParsedAuthData {
    let flags = data[32];
    let mut parsed = ParsedAuthData {
        rp_id_hash: data[..32].try_into().unwrap(),
        flags,
        counter: u32::from_be_bytes(data[33..37].try_into().unwrap()),
        aaguid: None,
        credential_id: None,
        public_key: None,
        extensions: None,
    };
    let mut rest = &data[37..];
    if flags & 0x40 != 0 {
        parsed.aaguid = Some(rest[..16].try_into().unwrap());
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        parsed.credential_id = Some(rest[18..18 + len].to_vec());
        rest = &rest[18 + len..];
        let key: Value = ciborium::from_reader(&mut rest).unwrap();
        parsed.public_key = Some(CoseKey::from_value(&key, CoseAlgorithm::Es256).unwrap());
    }
    if flags & 0x80 != 0 {
        parsed.extensions = Some(ciborium::from_reader(&mut rest).unwrap());
    }
    assert!(rest.is_empty(), "trailing bytes in authenticator data");
    parsed
}

pub fn verify_signature(key: &CoseKey, auth_data: &[u8], signature: &[u8]) {
    let mut message = auth_data.to_vec();
    message.extend_from_slice(&CDH);
    VerifyingKey::from(&key.key)
        .verify(&message, &DerSignature::try_from(signature).unwrap())
        .expect("ES256 signature verifies");
}

/// A made credential, checked: packed self attestation verified with the new public key.
#[derive(Debug)]
pub struct Made {
    pub id: Vec<u8>,
    pub key: CoseKey,
    pub auth_data: ParsedAuthData,
}

pub fn check_attestation(response: &Value) -> Made {
    let map = cbor::as_map(response).unwrap();
    assert_eq!(map.required(0x01u64, cbor::as_text), Ok("packed"));
    let raw = map.required(0x02u64, cbor::as_bytes).unwrap();
    let auth_data = parse_auth_data(raw);
    let statement = map.required(0x03u64, cbor::as_map).unwrap();
    assert_eq!(statement.required("alg", cbor::as_int), Ok(-7));
    let key = auth_data.public_key.unwrap();
    verify_signature(
        &key,
        raw,
        statement.required("sig", cbor::as_bytes).unwrap(),
    );
    Made {
        id: auth_data.credential_id.clone().unwrap(),
        key,
        auth_data,
    }
}

/// An assertion, checked against the credential's public key.
#[derive(Debug)]
pub struct Asserted<'a> {
    pub map: Map<'a>,
    pub id: Vec<u8>,
    pub auth_data: ParsedAuthData,
}

pub fn check_assertion<'a>(response: &'a Value, key: &CoseKey) -> Asserted<'a> {
    let map = cbor::as_map(response).unwrap();
    let id = map
        .required(0x01u64, cbor::as_map)
        .unwrap()
        .required("id", cbor::as_bytes)
        .unwrap()
        .to_vec();
    let raw = map.required(0x02u64, cbor::as_bytes).unwrap();
    verify_signature(key, raw, map.required(0x03u64, cbor::as_bytes).unwrap());
    Asserted {
        map,
        id,
        auth_data: parse_auth_data(raw),
    }
}

/// A built-in UV that "identifies" whoever the test says is present.
#[derive(Clone, Default)]
pub struct FakePalm(pub Arc<Mutex<Option<Vec<u8>>>>);

impl FakePalm {
    pub fn present(&self, who: Option<&[u8]>) {
        *self.0.lock().unwrap() = who.map(<[u8]>::to_vec);
    }
}

impl BuiltInUv for FakePalm {
    fn is_enrolled(&self, _state: &State) -> bool {
        true
    }

    /// Whoever is presented counts as enrolled (credentials of people who are not enrolled
    /// are unusable), so they are added to the store's enrollments on first sight.
    fn verify(
        &mut self,
        store: &mut Store,
        _io: &dyn Interaction,
    ) -> Result<VerifiedUser, CtapError> {
        let template_id = self.0.lock().unwrap().clone().ok_or(CtapError::UvInvalid)?;
        if !store.enrollments().contains(&template_id) {
            enroll_fake(store, &template_id);
        }
        Ok(VerifiedUser { template_id })
    }
}

/// A user who never touches the device.
pub struct NoTouch;

impl UserPresence for NoTouch {
    fn check(&mut self, _io: &dyn Interaction) -> Result<(), CtapError> {
        Err(CtapError::UserActionTimeout)
    }
}

/// Make a credential and return it checked.
pub fn make(h: &mut Harness, params: MapBuilder) -> Made {
    let response = h.call(0x01, Some(params.build())).expect("makeCredential");
    check_attestation(&response)
}

/// Put a person with a placeholder template into the store's enrollments.
pub fn enroll_fake(store: &mut Store, template_id: &[u8]) {
    store
        .update_enrollments(|people, _| {
            people.push(crate::store::enrollments::Enrollment {
                template_id: template_id.to_vec(),
                friendly_name: None,
                template: Vec::new(),
            });
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
}
