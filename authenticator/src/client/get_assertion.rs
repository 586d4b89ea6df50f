//! authenticatorGetAssertion (0x02) and getNextAssertion (0x08): typed request and response,
//! assertion signature check, hmac-secret salts and outputs.

use ciborium::Value;
use zeroize::Zeroizing;

use super::authdata::{AuthenticatorData, CoseKeyBytes};
use super::cbor::Fields;
use super::entities::{CredentialDescriptor, User};
use super::error::{ClientError, Result};
use super::make_credential::{check_rp_id_hash, PinUvAuthParam};
use crate::ctap::cbor::{bytes, encode, MapBuilder};
use crate::ctap::cose::CoseKey;
use crate::ctap::pin::protocol::{PinProtocol, SharedSecret};

/// hmac-secret input: one or two 32-byte salts. The client encrypts them under a fresh
/// shared secret ([`super::Client::get_assertion`] does this).
#[derive(Clone, PartialEq, Eq)]
pub struct HmacSecretSalts {
    pub salt1: [u8; 32],
    pub salt2: Option<[u8; 32]>,
    /// Key-agreement protocol; by default the pinUvAuth protocol of the request, else the
    /// authenticator's preferred one.
    pub protocol: Option<PinProtocol>,
}

impl std::fmt::Debug for HmacSecretSalts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSecretSalts(..)")
    }
}

impl HmacSecretSalts {
    /// One salt, default protocol.
    pub fn new(salt1: [u8; 32]) -> Self {
        HmacSecretSalts {
            salt1,
            salt2: None,
            protocol: None,
        }
    }

    fn concatenated(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(self.salt1.to_vec());
        if let Some(s2) = &self.salt2 {
            out.extend_from_slice(s2);
        }
        out
    }

    /// The extension input for the authenticator: salts encrypted and authenticated under
    /// `shared`, with the platform key-agreement key that produced it.
    pub(crate) fn encrypt(&self, platform_key: &CoseKey, shared: &SharedSecret) -> Result<Value> {
        let salt_enc = shared
            .encrypt(&self.concatenated())
            .map_err(|_| ClientError::InvalidRequest("hmac-secret salts"))?;
        let salt_auth = shared.authenticate(&salt_enc);
        Ok(MapBuilder::new()
            .insert(0x01, platform_key.to_value())
            .insert(0x02, bytes(salt_enc))
            .insert(0x03, bytes(salt_auth))
            .insert(0x04, shared.protocol().version())
            .build())
    }
}

/// Extension inputs of getAssertion that palmkey implements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetAssertionExtensions {
    pub hmac_secret: Option<HmacSecretSalts>,
    pub cred_blob: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAssertionRequest {
    pub rp_id: String,
    pub client_data_hash: [u8; 32],
    pub allow_list: Vec<CredentialDescriptor>,
    pub extensions: GetAssertionExtensions,
    /// The `up` option; omitted (default true) when `None`.
    pub user_presence: Option<bool>,
    /// The deprecated `uv` option (built-in UV without a token); omitted when `None`.
    pub user_verification: Option<bool>,
    pub pin_uv_auth: Option<PinUvAuthParam>,
}

impl GetAssertionRequest {
    pub fn new(rp_id: impl Into<String>, client_data_hash: [u8; 32]) -> Self {
        GetAssertionRequest {
            rp_id: rp_id.into(),
            client_data_hash,
            allow_list: Vec::new(),
            extensions: GetAssertionExtensions::default(),
            user_presence: None,
            user_verification: None,
            pin_uv_auth: None,
        }
    }

    /// Allow exactly these credential IDs.
    pub fn allow(mut self, ids: impl IntoIterator<Item = Vec<u8>>) -> Self {
        self.allow_list = ids.into_iter().map(CredentialDescriptor::new).collect();
        self
    }

    /// The CBOR parameters; `hmac_secret` is the already encrypted extension input.
    pub(crate) fn to_cbor(&self, hmac_secret: Option<Value>) -> Vec<u8> {
        let ext = MapBuilder::new()
            .insert_opt("hmac-secret", hmac_secret)
            .insert_opt("credBlob", self.extensions.cred_blob.then_some(true));
        let ext = (!ext.is_empty()).then(|| ext.build());
        let options = MapBuilder::new()
            .insert_opt("up", self.user_presence)
            .insert_opt("uv", self.user_verification);
        let options = (!options.is_empty()).then(|| options.build());
        encode(
            MapBuilder::new()
                .insert(0x01, self.rp_id.as_str())
                .insert(0x02, bytes(self.client_data_hash))
                .insert_opt(0x03, CredentialDescriptor::list_value(&self.allow_list))
                .insert_opt(0x04, ext)
                .insert_opt(0x05, options)
                .insert_opt(
                    0x06,
                    self.pin_uv_auth.as_ref().map(|p| bytes(p.param.clone())),
                )
                .insert_opt(0x07, self.pin_uv_auth.as_ref().map(|p| p.protocol))
                .build(),
        )
    }
}

/// One assertion (from getAssertion or getNextAssertion).
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub credential: CredentialDescriptor,
    pub auth_data: AuthenticatorData,
    pub signature: Vec<u8>,
    pub user: Option<User>,
    /// Only in the first response: how many credentials getNextAssertion can walk.
    pub number_of_credentials: Option<u64>,
    pub user_selected: Option<bool>,
    pub large_blob_key: Option<Vec<u8>>,
    /// hmac-secret outputs (32 or 64 bytes), decrypted, when requested.
    pub hmac_secret: Option<Zeroizing<Vec<u8>>>,
}

impl Assertion {
    pub(crate) fn parse(payload: &[u8], hmac_shared: Option<&SharedSecret>) -> Result<Self> {
        let f = Fields::parse(payload, "getAssertion response")?;
        let credential = CredentialDescriptor::from_fields(
            &f.nested(0x01, "assertion credential")?
                .ok_or_else(|| ClientError::malformed("getAssertion: missing credential"))?,
        )?;
        let auth_data = AuthenticatorData::parse(&f.req::<_, Vec<u8>>(0x02)?)?;
        let user = f
            .nested(0x04, "assertion user")?
            .map(|u| User::from_fields(&u))
            .transpose()?;
        let hmac_secret = match (
            hmac_shared,
            auth_data.extension_outputs().hmac_secret_encrypted,
        ) {
            (Some(shared), Some(enc)) => Some(shared.decrypt(&enc).map_err(|e| {
                ClientError::malformed(format!("hmac-secret output does not decrypt: {e:?}"))
            })?),
            _ => None,
        };
        Ok(Assertion {
            credential,
            auth_data,
            signature: f.req(0x03)?,
            user,
            number_of_credentials: f.opt(0x05)?,
            user_selected: f.opt(0x06)?,
            large_blob_key: f.opt(0x07)?,
            hmac_secret,
        })
    }

    /// Check the RP ID hash and the signature with the credential's public key (from its
    /// makeCredential response). Flags and counter are the caller's policy.
    pub fn verify(
        &self,
        public_key: &CoseKeyBytes,
        rp_id: &str,
        client_data_hash: &[u8; 32],
    ) -> Result<()> {
        check_rp_id_hash(&self.auth_data, rp_id)?;
        public_key.verify(&self.auth_data.raw, client_data_hash, &self.signature)
    }
}
