//! The relying party's check of a usernameless sign-in assertion (WebAuthn L3 §7.2, from
//! step 11 on: client data, RP ID hash, flags, signature, signature counter).
//!
//! # Why not only webauthn-rs
//! webauthn-rs 0.6 verifies signatures through RustCrypto's `p256` 0.14: about 350 µs of
//! CPU per ES256 signature on the demo's machine, a third of a sign-in's server CPU and most
//! of the 400 µs a login may cost for issue 5's 5,000 logins/s on two cores. `ring`'s P-256
//! (BoringSSL's assembly) takes about 70 µs. webauthn-rs cannot be told to skip its own
//! signature check, so for the common case this module does the whole check itself:
//!
//! - an ES256 passkey (P-256 key, the only algorithm palmkey and Chromium's virtual
//!   authenticator use), and
//! - authenticator data of exactly 37 bytes (no attested credential data, no extensions).
//!
//! Everything else (RS256 or EdDSA keys, extension outputs such as `uvm`) goes to
//! `Webauthn::finish_discoverable_authentication_v2` unchanged.
//!
//! The checks, their order and the `WebauthnError` of each failure are webauthn-rs 0.6's for
//! the ceremony state `Webauthn::start_discoverable_authentication` makes (user verification
//! required, no AppID, no backup-eligibility upgrade) and a `Webauthn` built with
//! `WebauthnBuilder`'s defaults (exact origin, counter regressions refused). The fast path
//! reads that state back and takes the slow path when it says anything else, and the tests
//! hold both paths to the same verdict on valid, mutated and replayed assertions.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    COSEAlgorithm, COSEKeyType, Credential, DiscoverableAuthentication, ECDSACurve, Passkey,
    PublicKeyCredential, Url, Webauthn, WebauthnError,
};
use webauthn_rs_proto::{origin::origins_match, CollectedClientData, UserVerificationPolicy};

/// Flag bits of the authenticator data (WebAuthn §6.1).
mod flag {
    pub const USER_PRESENT: u8 = 0x01;
    pub const USER_VERIFIED: u8 = 0x04;
    pub const BACKUP_ELIGIBLE: u8 = 0x08;
    pub const BACKUP_STATE: u8 = 0x10;
    pub const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;
    pub const EXTENSION_DATA: u8 = 0x80;
}

/// rpIdHash (32) + flags (1) + signCount (4): authenticator data without optional parts.
const PLAIN_AUTHENTICATOR_DATA_LEN: usize = 37;

/// What a verified assertion changes on the stored passkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The authenticator's signature counter (stored when it moved forward).
    pub counter: u32,
    /// The backup state the authenticator reported.
    pub backup_state: bool,
}

/// Checks sign-in assertions for one relying party (see the module docs).
pub struct AssertionChecker {
    webauthn: Arc<Webauthn>,
    rp_id_hash: [u8; 32],
    origin: Url,
}

impl AssertionChecker {
    /// `webauthn` must be the one built for `rp_id` and `origin` with the builder's defaults.
    pub fn new(webauthn: Arc<Webauthn>, rp_id: &str, origin: &Url) -> Self {
        AssertionChecker {
            webauthn,
            rp_id_hash: Sha256::digest(rp_id.as_bytes()).into(),
            origin: origin.clone(),
        }
    }

    /// Verifies `credential` against the pending `state` and the stored `passkey`; on success
    /// `passkey` carries the new counter and backup state.
    pub fn check(
        &self,
        credential: &PublicKeyCredential,
        state: DiscoverableAuthentication,
        passkey: &mut Passkey,
    ) -> Result<Accepted, WebauthnError> {
        let stored: Credential = passkey.clone().into();
        match self.fast_check(credential, &state, &stored) {
            Some(Ok(accepted)) => {
                *passkey = updated(stored, accepted).into();
                Ok(accepted)
            }
            Some(Err(e)) => Err(e),
            None => {
                let result = self
                    .webauthn
                    .finish_discoverable_authentication_v2(credential, state, &*passkey)?;
                passkey.update_credential(&result);
                Ok(Accepted {
                    counter: result.counter(),
                    backup_state: result.backup_state(),
                })
            }
        }
    }

    /// Whether [`check`](Self::check) verifies this assertion itself rather than through
    /// webauthn-rs (for tests and benchmarks that must know which path they measured).
    pub fn takes_fast_path(
        &self,
        credential: &PublicKeyCredential,
        state: &DiscoverableAuthentication,
        passkey: &Passkey,
    ) -> bool {
        let stored: Credential = passkey.clone().into();
        self.fast_check_inputs(credential, state, &stored).is_some()
    }

    /// The ring-backed check, or `None` when the case is webauthn-rs's (module docs).
    fn fast_check(
        &self,
        credential: &PublicKeyCredential,
        state: &DiscoverableAuthentication,
        stored: &Credential,
    ) -> Option<Result<Accepted, WebauthnError>> {
        let (challenge, public_key) = self.fast_check_inputs(credential, state, stored)?;
        if credential.raw_id.as_slice() != stored.cred_id.as_slice() {
            return Some(Err(WebauthnError::CredentialNotFound));
        }
        Some(self.verify(credential, &challenge, &public_key, stored))
    }

    /// The pending challenge and the credential's public key when the fast path applies.
    fn fast_check_inputs(
        &self,
        credential: &PublicKeyCredential,
        state: &DiscoverableAuthentication,
        stored: &Credential,
    ) -> Option<(Vec<u8>, [u8; 65])> {
        let auth_data = credential.response.authenticator_data.as_slice();
        let plain = auth_data.len() == PLAIN_AUTHENTICATOR_DATA_LEN
            && auth_data[32] & (flag::ATTESTED_CREDENTIAL_DATA | flag::EXTENSION_DATA) == 0;
        if !plain {
            return None;
        }
        Some((discoverable_challenge(state)?, es256_point(stored)?))
    }

    fn verify(
        &self,
        credential: &PublicKeyCredential,
        challenge: &[u8],
        public_key: &[u8; 65],
        stored: &Credential,
    ) -> Result<Accepted, WebauthnError> {
        let response = &credential.response;
        let client_data_bytes = response.client_data_json.as_slice();
        let client_data: CollectedClientData =
            serde_json::from_slice(client_data_bytes).map_err(WebauthnError::ParseJSONFailure)?;
        let auth_data = response.authenticator_data.as_slice();
        let flags = auth_data[32];
        let counter =
            u32::from_be_bytes([auth_data[33], auth_data[34], auth_data[35], auth_data[36]]);
        let has = |bit: u8| flags & bit != 0;

        if client_data.type_ != "webauthn.get" {
            return Err(WebauthnError::InvalidClientDataType);
        }
        if client_data.challenge.as_slice() != challenge {
            return Err(WebauthnError::MismatchedChallenge);
        }
        if !origins_match(false, false, &client_data.origin, &self.origin) {
            return Err(WebauthnError::InvalidRPOrigin);
        }
        if auth_data[..32] != self.rp_id_hash {
            return Err(WebauthnError::InvalidRPIDHash);
        }
        if !has(flag::USER_PRESENT) {
            return Err(WebauthnError::UserNotPresent);
        }
        // The discoverable ceremony requires user verification, whatever the registration's
        // policy was.
        if !has(flag::USER_VERIFIED) {
            return Err(WebauthnError::UserNotVerified);
        }
        if stored.backup_eligible != has(flag::BACKUP_ELIGIBLE) {
            return Err(WebauthnError::CredentialBackupEligibilityInconsistent);
        }
        if has(flag::BACKUP_STATE) && !stored.backup_eligible {
            return Err(WebauthnError::CredentialMayNotBeHardwareBound);
        }
        // webauthn-rs tells a malformed signature (not DER, r or s out of range) from a wrong
        // one; ring does not, so the DER is read first (a parse, no curve arithmetic).
        p256::ecdsa::Signature::from_der(&response.signature)
            .map_err(|_| WebauthnError::SignatureInvalid)?;
        let mut signed = Vec::with_capacity(auth_data.len() + 32);
        signed.extend_from_slice(auth_data);
        signed.extend_from_slice(&Sha256::digest(client_data_bytes));
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
            .verify(&signed, response.signature.as_slice())
            .map_err(|_| WebauthnError::AuthenticationFailure)?;
        // §7.2 step 21: a counter that does not move forward (when either side counts)
        // may mean a cloned authenticator.
        if (counter > 0 || stored.counter > 0) && counter <= stored.counter {
            return Err(WebauthnError::CredentialPossibleCompromise);
        }
        Ok(Accepted {
            counter,
            backup_state: has(flag::BACKUP_STATE),
        })
    }
}

/// The challenge of a state made by `start_discoverable_authentication`, or `None` when the
/// state asks for anything the fast path does not do (another UV policy, an AppID, a
/// backup-eligibility upgrade, an allow list).
fn discoverable_challenge(state: &DiscoverableAuthentication) -> Option<Vec<u8>> {
    // Unknown fields fail the parse: a later webauthn-rs with a new knob in its state takes
    // the slow path rather than have the knob ignored here.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Saved {
        ast: SavedState,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SavedState {
        credentials: Vec<serde::de::IgnoredAny>,
        policy: UserVerificationPolicy,
        challenge: String,
        appid: Option<String>,
        allow_backup_eligible_upgrade: bool,
    }
    let saved: Saved = serde_json::to_value(state)
        .and_then(serde_json::from_value)
        .ok()?;
    let s = saved.ast;
    let plain = s.credentials.is_empty()
        && s.policy == UserVerificationPolicy::Required
        && s.appid.is_none()
        && !s.allow_backup_eligible_upgrade;
    plain.then(|| URL_SAFE_NO_PAD.decode(s.challenge).ok())?
}

/// The uncompressed SEC1 point of an ES256 (P-256) credential key.
fn es256_point(stored: &Credential) -> Option<[u8; 65]> {
    let key = &stored.cred;
    let COSEKeyType::EC_EC2(ec) = &key.key else {
        return None;
    };
    if key.type_ != COSEAlgorithm::ES256
        || ec.curve != ECDSACurve::SECP256R1
        || ec.x.len() != 32
        || ec.y.len() != 32
    {
        return None;
    }
    let mut point = [0u8; 65];
    point[0] = 0x04;
    point[1..33].copy_from_slice(&ec.x);
    point[33..].copy_from_slice(&ec.y);
    Some(point)
}

/// `stored` after `accepted`, as `Passkey::update_credential` would leave it.
fn updated(mut stored: Credential, accepted: Accepted) -> Credential {
    stored.counter = stored.counter.max(accepted.counter);
    stored.backup_state = accepted.backup_state;
    stored
}
