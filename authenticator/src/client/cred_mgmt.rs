//! authenticatorCredentialManagement (0x0A): metadata, enumerate RPs and credentials, delete,
//! update user information. Requests carry pinUvAuthParam = authenticate(token, subCommand ||
//! subCommandParams) for every subcommand except the "get next" ones.

use ciborium::Value;

use super::authdata::CoseKeyBytes;
use super::cbor::Fields;
use super::entities::{CredentialDescriptor, RelyingParty, User};
use super::error::Result;
use super::pin::PinUvAuthToken;
use crate::ctap::cbor::{bytes, encode, MapBuilder};
pub use crate::ctap::credential_management::SubCommand as CredMgmtSubcommand;

/// getCredsMetadata result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredsMetadata {
    pub existing_resident_credentials: u64,
    pub max_possible_remaining_resident_credentials: u64,
}

/// One relying party with discoverable credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpEntry {
    pub rp: RelyingParty,
    pub rp_id_hash: [u8; 32],
}

/// One discoverable credential.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialEntry {
    pub user: User,
    pub credential_id: Vec<u8>,
    pub public_key: CoseKeyBytes,
    pub cred_protect: Option<u8>,
    pub large_blob_key: Option<Vec<u8>>,
}

/// A credentialManagement request: subcommand, parameters and (when authenticated) the
/// token-derived pinUvAuthParam.
pub(crate) struct CredMgmtRequest {
    sub: CredMgmtSubcommand,
    params: Option<Value>,
}

impl CredMgmtRequest {
    pub(crate) fn new(sub: CredMgmtSubcommand) -> Self {
        CredMgmtRequest { sub, params: None }
    }

    pub(crate) fn enumerate_credentials(rp_id_hash: [u8; 32]) -> Self {
        let params = MapBuilder::new().insert(0x01, bytes(rp_id_hash)).build();
        CredMgmtRequest {
            sub: CredMgmtSubcommand::EnumerateCredentialsBegin,
            params: Some(params),
        }
    }

    pub(crate) fn delete(credential_id: &[u8]) -> Self {
        let params = MapBuilder::new()
            .insert(0x02, CredentialDescriptor::new(credential_id).to_value())
            .build();
        CredMgmtRequest {
            sub: CredMgmtSubcommand::DeleteCredential,
            params: Some(params),
        }
    }

    pub(crate) fn update_user(credential_id: &[u8], user: &User) -> Self {
        let params = MapBuilder::new()
            .insert(0x02, CredentialDescriptor::new(credential_id).to_value())
            .insert(0x03, user.to_value())
            .build();
        CredMgmtRequest {
            sub: CredMgmtSubcommand::UpdateUserInformation,
            params: Some(params),
        }
    }

    /// The CBOR parameters, authenticated with `token` when given.
    pub(crate) fn to_cbor(&self, token: Option<&PinUvAuthToken>) -> Vec<u8> {
        let params_cbor = self.params.clone().map(encode);
        let auth = token.map(|t| {
            let mut message = vec![self.sub as u8];
            message.extend_from_slice(params_cbor.as_deref().unwrap_or_default());
            t.authenticate(&message)
        });
        encode(
            MapBuilder::new()
                .insert(0x01, self.sub as u8)
                .insert_opt(0x02, self.params.clone())
                .insert_opt(0x03, auth.as_ref().map(|a| a.protocol))
                .insert_opt(0x04, auth.map(|a| bytes(a.param)))
                .build(),
        )
    }
}

impl CredsMetadata {
    pub(crate) fn parse(payload: &[u8]) -> Result<Self> {
        let f = Fields::parse(payload, "getCredsMetadata response")?;
        Ok(CredsMetadata {
            existing_resident_credentials: f.req(0x01)?,
            max_possible_remaining_resident_credentials: f.req(0x02)?,
        })
    }
}

impl RpEntry {
    /// Parse an RP entry; the first response also carries totalRPs.
    pub(crate) fn parse(payload: &[u8]) -> Result<(Self, Option<u64>)> {
        let f = Fields::parse(payload, "enumerateRPs response")?;
        let rp = f
            .nested(0x03, "enumerateRPs rp")?
            .ok_or_else(|| super::ClientError::malformed("enumerateRPs: missing rp"))?;
        Ok((
            RpEntry {
                rp: RelyingParty::from_fields(&rp)?,
                rp_id_hash: f.req(0x04)?,
            },
            f.opt(0x05)?,
        ))
    }
}

impl CredentialEntry {
    /// Parse a credential entry; the first response also carries totalCredentials.
    pub(crate) fn parse(payload: &[u8]) -> Result<(Self, Option<u64>)> {
        let f = Fields::parse(payload, "enumerateCredentials response")?;
        let missing = |what: &str| {
            super::ClientError::malformed(format!("enumerateCredentials: missing {what}"))
        };
        let user = f
            .nested(0x06, "credential user")?
            .ok_or_else(|| missing("user"))?;
        let id = f
            .nested(0x07, "credential ID")?
            .ok_or_else(|| missing("credentialID"))?;
        let key: Value = f.req(0x08)?;
        Ok((
            CredentialEntry {
                user: User::from_fields(&user)?,
                credential_id: CredentialDescriptor::from_fields(&id)?.id,
                public_key: CoseKeyBytes {
                    cbor: encode(key.clone()),
                    value: key,
                },
                cred_protect: f.opt(0x0A)?,
                large_blob_key: f.opt(0x0B)?,
            },
            f.opt(0x09)?,
        ))
    }
}
