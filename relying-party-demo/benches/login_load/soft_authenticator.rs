//! A software passkey authenticator for the load generator: P-256 keys in memory, "none"
//! attestation, UV always claimed, a per-credential signature counter. It answers the site's
//! WebAuthn JSON options with the WebAuthn JSON a browser would post, so the client side of a
//! login costs one ECDSA signature and some JSON.
//!
//! # Offline/online signing
//! The load generator shares the machine's two cores with the server it measures, and a
//! full P-256 signature costs it about as much CPU as the server's whole verification. Most
//! of an ECDSA signature does not depend on the message: the nonce `k`, the point `k·G`
//! (whose x coordinate is `r`) and `k⁻¹`. [`SoftCredential::precompute`] makes those ahead
//! of a measured window; inside it an assertion then costs SHA-256 and
//! `s = k⁻¹·(z + r·d) mod n` — a genuine, fresh signature (each nonce is used once, then
//! dropped), checked by the server like any other. When the pool runs dry the credential
//! signs in full, and the benchmark reports how often that happened.
//!
//! # Shared with tests/abuse.rs
//! The abuse tests include this file (`#[path]`) to sign exactly the lie they check: the
//! fields that go into the signed bytes (RP ID hash, origin, counter, user handle) are public,
//! and [`SoftCredential::sign_assertion`] signs any challenge without a counter step.

use std::collections::VecDeque;

use anyhow::Context;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::Field;
use p256::{NonZeroScalar, ProjectivePoint, Scalar, U256};
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
    pub id: Vec<u8>,
    pub user_handle: Vec<u8>,
    /// The last counter value signed; the next assertion signs `counter + 1`.
    pub counter: u32,
    /// Signed into authenticatorData (normally SHA-256 of the RP ID).
    pub rp_id_hash: [u8; 32],
    /// Written into clientDataJSON.
    pub origin: String,
    /// Flags an assertion's authenticatorData carries besides UP and UV (tests: backup
    /// eligibility and state).
    pub extra_flags: u8,
    /// Precomputed nonces: (r, k⁻¹), each used for one signature only.
    nonces: VecDeque<(Scalar, Scalar)>,
    /// Signatures made in full because no precomputed nonce was left.
    pub full_signatures: usize,
}

/// One ECDSA nonce made ahead: r = x(k·G) mod n and k⁻¹.
fn nonce() -> Option<(Scalar, Scalar)> {
    let k = NonZeroScalar::random(&mut rand::thread_rng());
    let point = (ProjectivePoint::GENERATOR * *k).to_affine();
    let r = <Scalar as Reduce<U256>>::reduce_bytes(&point.x());
    let k: Scalar = *k;
    let k_inv = Option::<Scalar>::from(k.invert())?;
    (!bool::from(r.is_zero())).then_some((r, k_inv))
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
            extra_flags: 0,
            nonces: VecDeque::new(),
            full_signatures: 0,
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

    /// Sign a usernameless sign-in challenge: the next counter value, UV claimed, the RP ID
    /// hash and origin as configured (whatever `options` names: a test may sign a lie).
    pub fn assert(
        &mut self,
        options: &RequestChallengeResponse,
    ) -> anyhow::Result<PublicKeyCredential> {
        self.counter += 1;
        self.sign_assertion(&options.public_key.challenge)
    }

    /// Sign an assertion for `challenge` with the current counter value (no counter step).
    pub fn sign_assertion(&mut self, challenge: &[u8]) -> anyhow::Result<PublicKeyCredential> {
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data_prefix(UP | UV | self.extra_flags);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = self.sign(&signed)?;
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

    /// Make nonces until `count` are ready.
    pub fn precompute(&mut self, count: usize) {
        while self.nonces.len() < count {
            if let Some(n) = nonce() {
                self.nonces.push_back(n);
            }
        }
    }

    /// ECDSA P-256 over SHA-256 of `message`: with a precomputed nonce when one is left
    /// (`s = k⁻¹·(z + r·d)`, low-S form), else in full.
    fn sign(&mut self, message: &[u8]) -> anyhow::Result<Signature> {
        let Some((r, k_inv)) = self.nonces.pop_front() else {
            self.full_signatures += 1;
            return Ok(self.key.sign(message));
        };
        let z = <Scalar as Reduce<U256>>::reduce_bytes(&Sha256::digest(message));
        let d: Scalar = **self.key.as_nonzero_scalar();
        let s = k_inv * (z + r * d);
        let signature = Signature::from_scalars(r.to_bytes(), s.to_bytes())
            .context("precomputed signature has a zero scalar")?;
        Ok(signature.normalize_s().unwrap_or(signature))
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
