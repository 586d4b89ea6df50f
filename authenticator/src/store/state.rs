//! The device's persistent state, as it is held in memory and (encrypted) at rest.
//!
//! Everything here is secret or integrity-relevant; the whole struct is serialized, sealed
//! with the master key and written atomically by [`super::Store`].

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Format version of the sealed state; bump on incompatible change.
pub const STATE_VERSION: u32 = 1;

/// 32 bytes of secret key material, wiped on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Built-in UV (palm) attempts before UV is blocked (DESIGN.md: 5; the PIN unblocks).
pub const MAX_UV_RETRIES: u8 = 5;

/// Identifies one enrolled person (a CTAP bio-enrollment templateId).
pub type TemplateId = Vec<u8>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub device: DeviceSecrets,
    pub pin: PinState,
    pub config: DeviceConfig,
    /// Built-in UV attempts left (palm; 5 when fresh).
    pub uv_retries: u8,
    /// Discoverable credentials. Non-discoverable ones live only in their wrapped credential ID.
    pub credentials: Vec<CredentialRecord>,
    /// Which sealed enrollment gallery belongs to this state (the templates themselves live
    /// outside the hot state, see [`super::enrollments`]).
    #[serde(default)]
    pub enrollments: EnrollmentsRef,
}

/// The state's pointer to its enrollment gallery file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentsRef {
    /// Random per state lifetime (new after a reset): a gallery of another state, or from
    /// before a reset, does not verify.
    #[serde(with = "serde_bytes")]
    pub epoch: [u8; 16],
    /// The gallery file's revision (+1 per change; 0: nobody was ever enrolled).
    pub revision: u64,
    /// How many people are enrolled (answers "is anyone enrolled" without the gallery).
    pub count: u32,
}

/// Keys created at first start (and again at reset).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceSecrets {
    /// AEAD key that wraps non-discoverable credential IDs; rotated by reset so old IDs die.
    pub credential_wrap_key: SecretKey,
    /// Optional per-device batch attestation (packed format); self attestation when absent.
    pub attestation: Option<BatchAttestation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchAttestation {
    pub private_key: SecretKey,
    #[serde(with = "serde_bytes")]
    pub certificate_der: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinState {
    /// LEFT(SHA-256(PIN), 16) as CTAP stores it; `None` until a PIN is set.
    pub pin_hash: Option<[u8; 16]>,
    /// Length of the current PIN in Unicode code points (for the minPinLength policy).
    pub pin_code_points: u8,
    /// PIN attempts left (8 when fresh).
    pub retries: u8,
    /// Minimum PIN length in code points (4 by default, raised by setMinPINLength).
    pub min_length: u8,
    /// setMinPINLength(forceChangePin) or a raised minimum forces a PIN change.
    pub force_change: bool,
    /// RP IDs allowed to read the minimum PIN length through the minPinLength extension.
    pub min_length_rp_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeviceConfig {
    /// authenticatorConfig toggleAlwaysUv.
    pub always_uv: bool,
}

/// A discoverable credential, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialRecord {
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    pub rp_id: String,
    pub rp_name: Option<String>,
    #[serde(with = "serde_bytes")]
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// P-256 private scalar.
    pub private_key: SecretKey,
    /// credProtect level 1..=3.
    pub cred_protect: u8,
    /// hmac-secret CredRandom (with UV, without UV), when the extension was requested.
    pub hmac_secret: Option<(SecretKey, SecretKey)>,
    #[serde(with = "serde_bytes")]
    pub cred_blob: Option<Vec<u8>>,
    /// Monotonic creation sequence number: newest-first ordering for getAssertion.
    pub created: u64,
    /// The enrolled person who made it under palm UV; `None` for PIN-made credentials.
    pub owner: Option<TemplateId>,
}

impl State {
    /// A factory-fresh state with newly generated device keys.
    pub fn fresh(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        let mut wrap = [0u8; 32];
        rng.fill_bytes(&mut wrap);
        State {
            version: STATE_VERSION,
            device: DeviceSecrets {
                credential_wrap_key: SecretKey(wrap),
                attestation: None,
            },
            pin: PinState {
                pin_hash: None,
                pin_code_points: 0,
                retries: 8,
                min_length: 4,
                force_change: false,
                min_length_rp_ids: Vec::new(),
            },
            config: DeviceConfig::default(),
            uv_retries: MAX_UV_RETRIES,
            credentials: Vec::new(),
            enrollments: EnrollmentsRef::default(),
        }
    }
}
