//! A software passkey authenticator for the load generator: P-256 keys in memory, "none"
//! attestation, UV always claimed, a per-credential signature counter. It answers the site's
//! WebAuthn JSON options with the WebAuthn JSON a browser would post, so the client side of a
//! login costs one ECDSA signature and some JSON.

use anyhow::{ensure, Context};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use sha2::{Digest, Sha256};
use webauthn_rs_proto::{
    AuthenticatorAssertionResponseRaw, AuthenticatorAttestationResponseRaw, AuthenticatorTransport,
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

/// authenticatorData flags: user present, user verified, attested credential data included.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;
/// Marks this generator's credentials on the account page ("bench" in ASCII, zero padded).
const AAGUID: [u8; 16] = *b"loadbench\0\0\0\0\0\0\0";

/// One discoverable credential: its key, ID, owner and signature counter.
pub struct SoftCredential {
    key: SigningKey,
    id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
    rp_id_hash: [u8; 32],
    origin: String,
}

impl SoftCredential {
    /// Create a credential for a registration `options` from `origin` and the JSON answer
    /// to post to `/register/finish`.
    pub fn register(
        options: &CreationChallengeResponse,
        origin: &str,
    ) -> anyhow::Result<(Self, RegisterPublicKeyCredential)> {
        let pk = &options.public_key;
        let key = SigningKey::random(&mut rand::thread_rng());
        let mut id = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut id);
        let credential = SoftCredential {
            key,
            id,
            user_handle: pk.user.id.clone(),
            counter: 0,
            rp_id_hash: Sha256::digest(pk.rp.id.as_bytes()).into(),
            origin: origin.to_owned(),
        };
        let client_data = credential.client_data("webauthn.create", &pk.challenge);
        let mut auth_data = credential.auth_data_prefix(UP | UV | AT);
        auth_data.extend_from_slice(&AAGUID);
        let id_len = u16::try_from(credential.id.len()).context("credential ID length")?;
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&credential.id);
        auth_data.extend_from_slice(&credential.cose_public_key()?);
        let attestation_object = cbor(&ciborium::Value::Map(vec![
            (text("fmt"), text("none")),
            (text("attStmt"), ciborium::Value::Map(vec![])),
            (text("authData"), ciborium::Value::Bytes(auth_data)),
        ]))?;
        let answer = RegisterPublicKeyCredential {
            id: b64url(&credential.id),
            raw_id: credential.id.clone(),
            response: AuthenticatorAttestationResponseRaw {
                attestation_object,
                client_data_json: client_data,
                transports: Some(vec![AuthenticatorTransport::Internal]),
            },
            type_: "public-key".into(),
            extensions: Default::default(),
        };
        Ok((credential, answer))
    }

    /// Sign a usernameless sign-in challenge: the next counter value, UV claimed.
    pub fn assert(
        &mut self,
        options: &RequestChallengeResponse,
    ) -> anyhow::Result<PublicKeyCredential> {
        let pk = &options.public_key;
        ensure!(
            Sha256::digest(pk.rp_id.as_bytes()).as_slice() == self.rp_id_hash,
            "sign-in for another RP ID ({})",
            pk.rp_id
        );
        self.counter += 1;
        let client_data = self.client_data("webauthn.get", &pk.challenge);
        let auth_data = self.auth_data_prefix(UP | UV);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        Ok(PublicKeyCredential {
            id: b64url(&self.id),
            raw_id: self.id.clone(),
            response: AuthenticatorAssertionResponseRaw {
                authenticator_data: auth_data,
                client_data_json: client_data,
                signature: signature.to_der().as_bytes().to_vec(),
                user_handle: Some(self.user_handle.clone()),
            },
            extensions: Default::default(),
            type_: "public-key".into(),
        })
    }

    /// The last counter value this credential signed.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// Step the counter back (the next assertion repeats an already used value), as a cloned
    /// key would.
    pub fn rewind_counter(&mut self) {
        self.counter = self.counter.saturating_sub(1);
    }

    fn client_data(&self, kind: &str, challenge: &[u8]) -> Vec<u8> {
        serde_json::json!({
            "type": kind,
            "challenge": b64url(challenge),
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data_prefix(&self, flags: u8) -> Vec<u8> {
        let mut data = Vec::with_capacity(256);
        data.extend_from_slice(&self.rp_id_hash);
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// COSE_Key of the public key: EC2, ES256, P-256, x, y.
    fn cose_public_key(&self) -> anyhow::Result<Vec<u8>> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let (x, y) = (
            point.x().context("public key x")?,
            point.y().context("public key y")?,
        );
        let int = |i: i64| ciborium::Value::Integer(i.into());
        cbor(&ciborium::Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), ciborium::Value::Bytes(x.to_vec())),
            (int(-3), ciborium::Value::Bytes(y.to_vec())),
        ]))
    }
}

fn text(s: &str) -> ciborium::Value {
    ciborium::Value::Text(s.into())
}

fn cbor(value: &ciborium::Value) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).context("CBOR encoding")?;
    Ok(out)
}

fn b64url(bytes: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.encode(bytes)
}
