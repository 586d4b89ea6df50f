//! hmac-secret (CTAP 2.1 §12.5): a per-credential PRF. makeCredential creates two random
//! CredRandom values (one used with UV, one without); getAssertion returns
//! HMAC-SHA-256(CredRandom, salt) for one or two platform salts, which travel encrypted under
//! the PIN/UV auth protocol's shared secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ctap::cbor::{self, Value};
use crate::ctap::credential::CredRandom;
use crate::ctap::pin::{PinProtocol, PinUv, SharedSecret};
use crate::ctap::status::{CtapError, CtapResult};

const KEY_AGREEMENT: u64 = 0x01;
const SALT_ENC: u64 = 0x02;
const SALT_AUTH: u64 = 0x03;
const PIN_UV_AUTH_PROTOCOL: u64 = 0x04;

/// The getAssertion input, checked for shape only.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    key_agreement: Value,
    salt_enc: Vec<u8>,
    salt_auth: Vec<u8>,
    protocol: PinProtocol,
}

impl Input {
    pub fn parse(value: &Value) -> CtapResult<Self> {
        let map = cbor::as_map(value)?;
        let key_agreement = map.required(KEY_AGREEMENT, Ok)?.clone();
        let salt_enc = map.required(SALT_ENC, cbor::as_bytes)?.to_vec();
        let salt_auth = map.required(SALT_AUTH, cbor::as_bytes)?.to_vec();
        // Absent means protocol 1 (CTAP 2.0 platforms do not send it).
        let protocol = match map.optional(PIN_UV_AUTH_PROTOCOL, cbor::as_u8)? {
            Some(n) => PinProtocol::try_from(n)?,
            None => PinProtocol::One,
        };
        Ok(Input {
            key_agreement,
            salt_enc,
            salt_auth,
            protocol,
        })
    }

    /// Agree on the shared secret, authenticate and decrypt the salts.
    pub fn open(&self, pin_uv: &PinUv) -> CtapResult<Session> {
        let shared = pin_uv.shared_secret(self.protocol, &self.key_agreement)?;
        shared
            .verify(&self.salt_enc, &self.salt_auth)
            .map_err(|_| CtapError::PinAuthInvalid)?;
        let salts = shared.decrypt(&self.salt_enc)?;
        if salts.len() != 32 && salts.len() != 64 {
            return Err(CtapError::InvalidLength);
        }
        Ok(Session { shared, salts })
    }
}

/// Decrypted salts and the secret to encrypt outputs with; kept for getNextAssertion.
#[derive(Debug)]
pub struct Session {
    shared: SharedSecret,
    salts: Zeroizing<Vec<u8>>,
}

impl Session {
    /// The encrypted output for one credential.
    pub fn output(&self, cred_random: &CredRandom, user_verified: bool) -> CtapResult<Value> {
        let key = if user_verified {
            &cred_random.0
        } else {
            &cred_random.1
        };
        let mut outputs = Zeroizing::new(Vec::with_capacity(64));
        for salt in self.salts.chunks(32) {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes any key length");
            mac.update(salt);
            outputs.extend_from_slice(&mac.finalize().into_bytes());
        }
        Ok(cbor::bytes(self.shared.encrypt(&outputs)?))
    }
}
