//! Credentials: P-256 key pairs, their IDs, and finding them again.
//!
//! Two kinds, one in-memory shape ([`Credential`]):
//! - **Discoverable** credentials live in the store; their ID is 32 random bytes that only
//!   index the stored record (deleting the record kills the ID).
//! - **Non-discoverable** credentials live only in their ID: the private key and the
//!   per-credential settings sealed with ChaCha20-Poly1305 under the device wrap key, with the
//!   RP ID hash as associated data, so an ID presented for another RP does not open. Reset
//!   rotates the wrap key, which kills every such ID.
//!
//! Wrapped ID layout: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`, where the plaintext
//! is `private key (32) ‖ credProtect (1) ‖ present-bits (1) ‖ [hmac-secret seed (32)]
//! ‖ [owner length (1) ‖ owner] ‖ [credBlob length (1) ‖ credBlob]`. A fixed binary layout
//! (not CBOR) so every copy of the key material sits in a zeroized buffer.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::cbor::{self, Map, MapBuilder, Value};
use super::cose::{CoseAlgorithm, CoseKey};
use super::extensions::cred_protect::CredProtect;
use super::status::{CtapError, CtapResult};
use crate::store::state::{CredentialRecord, SecretKey, State, TemplateId};

/// Longest credential ID this authenticator makes (announced as maxCredentialIdLength).
pub const MAX_ID_LENGTH: usize = 256;
/// Length of a discoverable credential's (random) ID.
pub const DISCOVERABLE_ID_LENGTH: usize = 32;
/// Longest owner (templateId) a wrapped ID can carry.
pub const MAX_OWNER_LENGTH: usize = 32;
/// Longest credBlob a wrapped ID can carry (also the announced maxCredBlobLength bound).
pub const MAX_WRAPPED_BLOB_LENGTH: usize = 64;

const WRAP_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HAS_HMAC: u8 = 0x01;
const HAS_OWNER: u8 = 0x02;
const HAS_BLOB: u8 = 0x04;

/// A credential's ES256 signing key; the scalar is wiped on drop by p256.
#[derive(Clone)]
pub struct CredentialKey(SigningKey);

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(..)")
    }
}

impl CredentialKey {
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        CredentialKey(SigningKey::random(rng))
    }

    /// From a stored scalar; `Other` if the state holds an invalid scalar (never the host's
    /// fault).
    pub fn from_secret(secret: &SecretKey) -> CtapResult<Self> {
        SigningKey::from_slice(&secret.0)
            .map(CredentialKey)
            .map_err(|_| CtapError::Other)
    }

    /// The scalar, for storing.
    pub fn secret(&self) -> SecretKey {
        SecretKey(self.0.to_bytes().into())
    }

    pub fn public_key(&self) -> CoseKey {
        CoseKey::new(
            p256::PublicKey::from(self.0.verifying_key()),
            CoseAlgorithm::Es256,
        )
    }

    /// ECDSA P-256 with SHA-256 over `message`, DER encoded as WebAuthn wants.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: DerSignature = self.0.sign(message);
        sig.as_bytes().to_vec()
    }
}

/// PublicKeyCredentialRpEntity as far as CTAP uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpEntity {
    pub id: String,
    pub name: Option<String>,
}

impl RpEntity {
    pub fn parse(map: Map<'_>) -> CtapResult<Self> {
        Ok(RpEntity {
            id: map.required("id", cbor::as_text)?.to_owned(),
            name: map.optional("name", cbor::as_text)?.map(str::to_owned),
        })
    }
}

/// PublicKeyCredentialUserEntity as far as CTAP uses it (icon is gone from WebAuthn L2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntity {
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

impl UserEntity {
    pub fn parse(map: Map<'_>) -> CtapResult<Self> {
        Ok(UserEntity {
            id: map.required("id", cbor::as_bytes)?.to_vec(),
            name: map.optional("name", cbor::as_text)?.map(str::to_owned),
            display_name: map
                .optional("displayName", cbor::as_text)?
                .map(str::to_owned),
        })
    }

    /// The user map of an assertion: the ID always, names only when `identifying` (the user
    /// was verified; CTAP forbids revealing them otherwise).
    pub fn to_value(&self, identifying: bool) -> Value {
        let mut map = MapBuilder::new().insert("id", cbor::bytes(self.id.clone()));
        if identifying {
            map = map
                .insert_opt("name", self.name.clone())
                .insert_opt("displayName", self.display_name.clone());
        }
        map.build()
    }
}

/// The two hmac-secret CredRandom values: used with and without user verification.
pub type CredRandom = (SecretKey, SecretKey);

/// A credential found by ID or by RP, whatever its kind.
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: Vec<u8>,
    pub key: CredentialKey,
    pub cred_protect: CredProtect,
    pub hmac_secret: Option<CredRandom>,
    pub cred_blob: Option<Vec<u8>>,
    /// The enrolled person who made it under built-in UV.
    pub owner: Option<TemplateId>,
    /// Discoverable credentials only.
    pub user: Option<UserEntity>,
}

impl Credential {
    pub fn is_discoverable(&self) -> bool {
        self.user.is_some()
    }

    pub fn from_record(record: &CredentialRecord) -> CtapResult<Self> {
        Ok(Credential {
            id: record.id.clone(),
            key: CredentialKey::from_secret(&record.private_key)?,
            cred_protect: CredProtect::from_level(record.cred_protect)
                .unwrap_or(CredProtect::UserVerificationRequired),
            hmac_secret: record.hmac_secret.clone(),
            cred_blob: record.cred_blob.clone(),
            owner: record.owner.clone(),
            user: Some(UserEntity {
                id: record.user_id.clone(),
                name: record.user_name.clone(),
                display_name: record.user_display_name.clone(),
            }),
        })
    }

    /// The record to store for a discoverable credential.
    pub fn to_record(&self, rp: &RpEntity, user: &UserEntity, created: u64) -> CredentialRecord {
        CredentialRecord {
            id: self.id.clone(),
            rp_id: rp.id.clone(),
            rp_name: rp.name.clone(),
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            user_display_name: user.display_name.clone(),
            private_key: self.key.secret(),
            cred_protect: self.cred_protect.level(),
            hmac_secret: self.hmac_secret.clone(),
            cred_blob: self.cred_blob.clone(),
            created,
            owner: self.owner.clone(),
        }
    }
}

/// A random ID for a discoverable credential.
pub fn new_discoverable_id(rng: &mut impl CryptoRngCore) -> Vec<u8> {
    let mut id = vec![0u8; DISCOVERABLE_ID_LENGTH];
    rng.fill_bytes(&mut id);
    id
}

/// hmac-secret CredRandoms of a non-discoverable credential, derived from the seed in its ID.
fn cred_random_from_seed(seed: &[u8; 32]) -> CredRandom {
    let hk = Hkdf::<Sha256>::new(None, seed);
    let mut with_uv = [0u8; 32];
    let mut without_uv = [0u8; 32];
    hk.expand(b"palmkey hmac-secret with uv", &mut with_uv)
        .expect("32 bytes is a valid HKDF length");
    hk.expand(b"palmkey hmac-secret without uv", &mut without_uv)
        .expect("32 bytes is a valid HKDF length");
    (SecretKey(with_uv), SecretKey(without_uv))
}

/// What goes into a wrapped ID besides the key.
#[derive(Debug, Clone, Default)]
pub struct WrapOptions {
    pub cred_protect: CredProtect,
    pub hmac_secret: bool,
    pub owner: Option<TemplateId>,
    pub cred_blob: Option<Vec<u8>>,
}

/// Make a non-discoverable credential: a fresh key sealed into its own ID.
pub fn new_wrapped(
    wrap_key: &SecretKey,
    rp_id_hash: &[u8; 32],
    options: WrapOptions,
    rng: &mut impl CryptoRngCore,
) -> CtapResult<Credential> {
    let key = CredentialKey::generate(rng);
    let mut seed = Zeroizing::new([0u8; 32]);
    let mut bits = 0u8;
    if options.hmac_secret {
        rng.fill_bytes(seed.as_mut());
        bits |= HAS_HMAC;
    }
    let mut plaintext = Zeroizing::new(Vec::with_capacity(160));
    plaintext.extend_from_slice(&key.secret().0);
    plaintext.push(options.cred_protect.level());
    if options.owner.is_some() {
        bits |= HAS_OWNER;
    }
    if options.cred_blob.is_some() {
        bits |= HAS_BLOB;
    }
    plaintext.push(bits);
    if options.hmac_secret {
        plaintext.extend_from_slice(seed.as_ref());
    }
    for (field, max) in [
        (&options.owner, MAX_OWNER_LENGTH),
        (&options.cred_blob, MAX_WRAPPED_BLOB_LENGTH),
    ] {
        if let Some(bytes) = field {
            if bytes.len() > max {
                return Err(CtapError::InvalidLength);
            }
            plaintext.push(bytes.len() as u8);
            plaintext.extend_from_slice(bytes);
        }
    }
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let aad = wrap_aad(rp_id_hash);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&wrap_key.0));
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CtapError::Other)?;
    let mut id = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    id.push(WRAP_VERSION);
    id.extend_from_slice(&nonce);
    id.extend_from_slice(&sealed);
    debug_assert!(id.len() <= MAX_ID_LENGTH);
    Ok(Credential {
        id,
        key,
        cred_protect: options.cred_protect,
        hmac_secret: options.hmac_secret.then(|| cred_random_from_seed(&seed)),
        cred_blob: options.cred_blob,
        owner: options.owner,
        user: None,
    })
}

fn wrap_aad(rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = WRAP_VERSION;
    aad[1..].copy_from_slice(rp_id_hash);
    aad
}

/// Open a wrapped ID made by this device for this RP; `None` for anything else (another
/// device, another RP, a pre-reset ID, or garbage).
pub fn unwrap(wrap_key: &SecretKey, rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Credential> {
    if id.len() < 1 + NONCE_LEN + TAG_LEN || id[0] != WRAP_VERSION || id.len() > MAX_ID_LENGTH {
        return None;
    }
    let (nonce, sealed) = id[1..].split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&wrap_key.0));
    let plaintext = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &wrap_aad(rp_id_hash),
                },
            )
            .ok()?,
    );
    parse_wrapped(id, &plaintext)
}

fn parse_wrapped(id: &[u8], plaintext: &[u8]) -> Option<Credential> {
    let mut rest = plaintext;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(take(32)?);
    let key = CredentialKey::from_secret(&SecretKey(*scalar)).ok()?;
    let cred_protect = CredProtect::from_level(take(1)?[0])?;
    let bits = take(1)?[0];
    let hmac_secret = if bits & HAS_HMAC != 0 {
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(take(32)?);
        Some(cred_random_from_seed(&seed))
    } else {
        None
    };
    let mut field = |present: bool| -> Option<Option<Vec<u8>>> {
        if !present {
            return Some(None);
        }
        let len = usize::from(take(1)?[0]);
        Some(Some(take(len)?.to_vec()))
    };
    let owner = field(bits & HAS_OWNER != 0)?;
    let cred_blob = field(bits & HAS_BLOB != 0)?;
    Some(Credential {
        id: id.to_vec(),
        key,
        cred_protect,
        hmac_secret,
        cred_blob,
        owner,
        user: None,
    })
}

/// Find the credential with `id` for this RP: a stored discoverable one, or a wrapped ID.
pub fn find(
    state: &State,
    rp_id: &str,
    rp_id_hash: &[u8; 32],
    id: &[u8],
) -> CtapResult<Option<Credential>> {
    if let Some(record) = state
        .credentials
        .iter()
        .find(|c| c.id == id && c.rp_id == rp_id)
    {
        return Credential::from_record(record).map(Some);
    }
    Ok(unwrap(&state.device.credential_wrap_key, rp_id_hash, id))
}

/// The discoverable credentials of an RP, newest first.
pub fn discoverable_for(state: &State, rp_id: &str) -> CtapResult<Vec<Credential>> {
    let mut records: Vec<&CredentialRecord> = state
        .credentials
        .iter()
        .filter(|c| c.rp_id == rp_id)
        .collect();
    records.sort_by_key(|c| std::cmp::Reverse(c.created));
    records.into_iter().map(Credential::from_record).collect()
}

/// The credential ID in a PublicKeyCredentialDescriptor, or `None` for a type other than
/// "public-key" (which CTAP says to skip).
pub fn descriptor_id(value: &Value) -> CtapResult<Option<&[u8]>> {
    let map = cbor::as_map(value)?;
    let kind = map.required("type", cbor::as_text)?;
    let id = map.required("id", cbor::as_bytes)?;
    Ok((kind == "public-key").then_some(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use rand::rngs::OsRng;

    fn wrap_key() -> SecretKey {
        SecretKey([0x42; 32])
    }

    #[test]
    fn wrapped_id_round_trip() {
        let hash = [1u8; 32];
        let cred = new_wrapped(
            &wrap_key(),
            &hash,
            WrapOptions {
                cred_protect: CredProtect::UserVerificationOptionalWithCredentialIdList,
                hmac_secret: true,
                owner: Some(vec![5, 6, 7]),
                cred_blob: Some(b"blob".to_vec()),
            },
            &mut OsRng,
        )
        .unwrap();
        assert!(cred.id.len() <= MAX_ID_LENGTH);
        let back = unwrap(&wrap_key(), &hash, &cred.id).expect("opens");
        assert_eq!(back.key.secret(), cred.key.secret());
        assert_eq!(back.cred_protect, cred.cred_protect);
        assert_eq!(back.hmac_secret, cred.hmac_secret);
        assert_eq!(back.owner, Some(vec![5, 6, 7]));
        assert_eq!(back.cred_blob.as_deref(), Some(&b"blob"[..]));
        assert!(!back.is_discoverable());
    }

    #[test]
    fn wrapped_id_is_bound_to_rp_and_key() {
        let cred = new_wrapped(&wrap_key(), &[1; 32], WrapOptions::default(), &mut OsRng).unwrap();
        assert!(unwrap(&wrap_key(), &[2; 32], &cred.id).is_none());
        assert!(unwrap(&SecretKey([0x43; 32]), &[1; 32], &cred.id).is_none());
        let mut flipped = cred.id.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(unwrap(&wrap_key(), &[1; 32], &flipped).is_none());
        assert!(unwrap(&wrap_key(), &[1; 32], &cred.id[..20]).is_none());
        assert!(unwrap(&wrap_key(), &[1; 32], &[]).is_none());
    }

    #[test]
    fn signatures_verify() {
        let key = CredentialKey::generate(&mut OsRng);
        let sig = key.sign(b"message");
        let vk = VerifyingKey::from(&key.public_key().key);
        let sig = p256::ecdsa::DerSignature::try_from(sig.as_slice()).unwrap();
        vk.verify(b"message", &sig).unwrap();
        assert!(vk.verify(b"other", &sig).is_err());
    }

    #[test]
    fn descriptor_parsing() {
        let ok = MapBuilder::new()
            .insert("type", "public-key")
            .insert("id", cbor::bytes(vec![1, 2]))
            .build();
        assert_eq!(descriptor_id(&ok).unwrap(), Some(&[1u8, 2][..]));
        let other = MapBuilder::new()
            .insert("type", "future")
            .insert("id", cbor::bytes(vec![1]))
            .build();
        assert_eq!(descriptor_id(&other).unwrap(), None);
        let missing = MapBuilder::new().insert("type", "public-key").build();
        assert_eq!(descriptor_id(&missing), Err(CtapError::MissingParameter));
        let wrong = MapBuilder::new()
            .insert("type", "public-key")
            .insert("id", "text")
            .build();
        assert_eq!(descriptor_id(&wrong), Err(CtapError::CborUnexpectedType));
    }
}
