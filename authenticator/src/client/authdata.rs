//! Authenticator data (WebAuthn §6.1): rpIdHash, flags, signature counter, attested
//! credential data with its COSE key, and the extension outputs.

use ciborium::Value;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

use super::cbor::{decode_prefix, Fields};
use super::error::{ClientError, Result};
#[cfg(test)]
use crate::ctap::cbor::encode;
use crate::ctap::cose::{CoseAlgorithm, CoseKey};

/// The flags byte of authenticator data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    pub const UP: u8 = 0x01;
    pub const UV: u8 = 0x04;
    pub const BE: u8 = 0x08;
    pub const BS: u8 = 0x10;
    pub const AT: u8 = 0x40;
    pub const ED: u8 = 0x80;

    pub fn user_present(self) -> bool {
        self.0 & Self::UP != 0
    }
    pub fn user_verified(self) -> bool {
        self.0 & Self::UV != 0
    }
    pub fn attested_credential_data(self) -> bool {
        self.0 & Self::AT != 0
    }
    pub fn extension_data(self) -> bool {
        self.0 & Self::ED != 0
    }
}

/// A credential public key as the authenticator encoded it (COSE_Key).
#[derive(Debug, Clone, PartialEq)]
pub struct CoseKeyBytes {
    /// The exact CBOR bytes from the authenticator data (what a relying party stores).
    pub cbor: Vec<u8>,
    /// The same key parsed as a CBOR item.
    pub value: Value,
}

impl CoseKeyBytes {
    /// The key as an ES256 (P-256) credential key, the only kind palmkey issues.
    pub fn es256(&self) -> Result<CoseKey> {
        CoseKey::from_value(&self.value, CoseAlgorithm::Es256).map_err(|e| {
            ClientError::malformed(format!("credential public key is not ES256/P-256: {e:?}"))
        })
    }

    /// Check an ES256 signature (DER) over `authenticator_data || client_data_hash`, the
    /// message both attestation and assertion signatures cover.
    pub fn verify(
        &self,
        authenticator_data: &[u8],
        client_data_hash: &[u8; 32],
        sig: &[u8],
    ) -> Result<()> {
        verify_es256(&self.es256()?, authenticator_data, client_data_hash, sig)
    }
}

/// ES256 verification of `authenticator_data || client_data_hash` against `key`.
pub fn verify_es256(
    key: &CoseKey,
    authenticator_data: &[u8],
    client_data_hash: &[u8; 32],
    sig: &[u8],
) -> Result<()> {
    let sig = Signature::from_der(sig)
        .map_err(|_| ClientError::Verification("signature is not a DER ECDSA signature"))?;
    let mut message = Vec::with_capacity(authenticator_data.len() + 32);
    message.extend_from_slice(authenticator_data);
    message.extend_from_slice(client_data_hash);
    VerifyingKey::from(&key.key)
        .verify(&message, &sig)
        .map_err(|_| ClientError::Verification("ES256 signature does not verify"))
}

/// Attested credential data: present in makeCredential's authenticator data.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: CoseKeyBytes,
}

/// Extension outputs the authenticator put in its authenticator data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthDataExtensions {
    /// credProtect level the credential was created with (makeCredential).
    pub cred_protect: Option<u8>,
    /// hmac-secret: `true` at makeCredential when the secret was created.
    pub hmac_secret_created: Option<bool>,
    /// hmac-secret at getAssertion: the outputs, encrypted under the shared secret.
    pub hmac_secret_encrypted: Option<Vec<u8>>,
    /// credBlob: whether it was stored (makeCredential).
    pub cred_blob_stored: Option<bool>,
    /// credBlob: the stored blob (getAssertion).
    pub cred_blob: Option<Vec<u8>>,
    /// minPinLength: the current minimum PIN length (makeCredential, allowed RPs only).
    pub min_pin_length: Option<u64>,
    /// Every output, including ones this client does not interpret.
    pub raw: Vec<(String, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    /// The exact bytes, which signatures cover.
    pub raw: Vec<u8>,
    pub rp_id_hash: [u8; 32],
    pub flags: Flags,
    pub sign_count: u32,
    pub attested_credential: Option<AttestedCredential>,
    pub extensions: Option<AuthDataExtensions>,
}

impl AuthenticatorData {
    pub fn parse(raw: &[u8]) -> Result<Self> {
        const HEADER: usize = 32 + 1 + 4;
        if raw.len() < HEADER {
            return Err(ClientError::malformed(format!(
                "authenticator data of {} bytes is shorter than {HEADER}",
                raw.len()
            )));
        }
        let rp_id_hash: [u8; 32] = raw[..32].try_into().expect("32 bytes");
        let flags = Flags(raw[32]);
        let sign_count = u32::from_be_bytes(raw[33..37].try_into().expect("4 bytes"));
        let mut rest = &raw[HEADER..];

        let attested_credential = if flags.attested_credential_data() {
            Some(parse_attested(&mut rest)?)
        } else {
            None
        };
        let extensions = if flags.extension_data() {
            let value = decode_prefix(&mut rest, "authenticator data extensions")?;
            Some(parse_extensions(value)?)
        } else {
            None
        };
        if !rest.is_empty() {
            return Err(ClientError::malformed(format!(
                "authenticator data has {} bytes its flags do not account for",
                rest.len()
            )));
        }
        Ok(AuthenticatorData {
            raw: raw.to_vec(),
            rp_id_hash,
            flags,
            sign_count,
            attested_credential,
            extensions,
        })
    }

    /// The extension outputs, or an empty set when the ED flag is clear.
    pub fn extension_outputs(&self) -> AuthDataExtensions {
        self.extensions.clone().unwrap_or_default()
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8]> {
    if rest.len() < n {
        return Err(ClientError::malformed(format!(
            "authenticator data: {what} truncated"
        )));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn parse_attested(rest: &mut &[u8]) -> Result<AttestedCredential> {
    let aaguid: [u8; 16] = take(rest, 16, "aaguid")?.try_into().expect("16 bytes");
    let len = u16::from_be_bytes(
        take(rest, 2, "credential ID length")?
            .try_into()
            .expect("2"),
    );
    let credential_id = take(rest, len.into(), "credential ID")?.to_vec();
    let before = *rest;
    let value = decode_prefix(rest, "credential public key")?;
    let cbor = before[..before.len() - rest.len()].to_vec();
    if !matches!(value, Value::Map(_)) {
        return Err(ClientError::malformed(
            "credential public key is not a COSE map",
        ));
    }
    Ok(AttestedCredential {
        aaguid,
        credential_id,
        public_key: CoseKeyBytes { cbor, value },
    })
}

fn parse_extensions(value: Value) -> Result<AuthDataExtensions> {
    let fields = Fields::new(value, "authenticator data extensions")?;
    let mut out = AuthDataExtensions::default();
    for (k, v) in fields.entries() {
        let name = k
            .as_text()
            .ok_or_else(|| ClientError::malformed("extension identifier is not text"))?;
        match (name, v) {
            ("credProtect", v) => {
                out.cred_protect = Some(fields.req("credProtect")?);
                let _ = v;
            }
            ("hmac-secret", Value::Bool(b)) => out.hmac_secret_created = Some(*b),
            ("hmac-secret", Value::Bytes(b)) => out.hmac_secret_encrypted = Some(b.clone()),
            ("credBlob", Value::Bool(b)) => out.cred_blob_stored = Some(*b),
            ("credBlob", Value::Bytes(b)) => out.cred_blob = Some(b.clone()),
            ("minPinLength", _) => out.min_pin_length = Some(fields.req("minPinLength")?),
            ("hmac-secret" | "credBlob", other) => {
                return Err(ClientError::malformed(format!(
                    "extension {name} has an unexpected value {other:?}"
                )))
            }
            _ => {}
        }
        out.raw.push((name.to_owned(), v.clone()));
    }
    Ok(out)
}

/// Build authenticator data bytes (used by tests of this parser and of verifiers).
#[cfg(test)]
pub(crate) fn build(
    rp_id_hash: [u8; 32],
    flags: u8,
    count: u32,
    cred: Option<(&[u8], &Value)>,
    ext: Option<&Value>,
) -> Vec<u8> {
    let mut out = rp_id_hash.to_vec();
    out.push(flags);
    out.extend_from_slice(&count.to_be_bytes());
    if let Some((id, key)) = cred {
        out.extend_from_slice(&[9u8; 16]);
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&encode(key.clone()));
    }
    if let Some(ext) = ext {
        out.extend_from_slice(&encode(ext.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::cbor::{bytes, MapBuilder};

    #[test]
    fn parses_attested_credential_and_extensions() {
        let key = MapBuilder::new()
            .insert(1, 2)
            .insert(3, -7)
            .insert(-1, 1)
            .insert(-2, bytes([1u8; 32]))
            .insert(-3, bytes([2u8; 32]))
            .build();
        let ext = MapBuilder::new()
            .insert("credProtect", 2)
            .insert("hmac-secret", true)
            .insert("credBlob", true)
            .build();
        let raw = build(
            [5; 32],
            0x45 | 0x80,
            7,
            Some((&[1, 2, 3], &key)),
            Some(&ext),
        );
        let ad = AuthenticatorData::parse(&raw).unwrap();
        assert!(ad.flags.user_present() && ad.flags.user_verified());
        assert_eq!(ad.sign_count, 7);
        let cred = ad.attested_credential.as_ref().unwrap();
        assert_eq!(cred.credential_id, [1, 2, 3]);
        assert_eq!(cred.public_key.value, key);
        assert_eq!(cred.public_key.cbor, encode(key));
        let e = ad.extension_outputs();
        assert_eq!(e.cred_protect, Some(2));
        assert_eq!(e.hmac_secret_created, Some(true));
        assert_eq!(e.cred_blob_stored, Some(true));
    }

    #[test]
    fn rejects_truncated_and_trailing_data() {
        let raw = build([0; 32], 0x01, 1, None, None);
        assert!(AuthenticatorData::parse(&raw[..36]).is_err());
        let mut long = raw.clone();
        long.push(0);
        assert!(AuthenticatorData::parse(&long).is_err());
        // AT flag set but no attested data
        let mut at = raw;
        at[32] |= Flags::AT;
        assert!(AuthenticatorData::parse(&at).is_err());
    }
}
