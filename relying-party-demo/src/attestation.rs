//! What the account page shows about a new passkey, read from the attestation object's
//! authenticator data (webauthn-rs verifies it but keeps the AAGUID to itself for passkeys).

use ciborium::Value;
use uuid::Uuid;

/// Authenticator-data flag bits (WebAuthn §6.1).
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationFacts {
    pub aaguid: Uuid,
    pub user_verified: bool,
    /// BE: the credential may be backed up (synced) by its provider.
    pub backup_eligible: bool,
    /// BS: it is backed up now.
    pub backup_state: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttestationError {
    #[error("attestationObject is not CBOR")]
    NotCbor,
    #[error("attestationObject has no authData")]
    NoAuthData,
    #[error("authData is too short for attested credential data")]
    TooShort,
}

/// Parse `attestationObject` (CBOR map with "authData") for the AAGUID and the UV flag.
pub fn registration_facts(
    attestation_object: &[u8],
) -> Result<RegistrationFacts, AttestationError> {
    let value: Value =
        ciborium::from_reader(attestation_object).map_err(|_| AttestationError::NotCbor)?;
    let map = value.as_map().ok_or(AttestationError::NotCbor)?;
    let auth_data = map
        .iter()
        .find(|(k, _)| k.as_text() == Some("authData"))
        .and_then(|(_, v)| v.as_bytes())
        .ok_or(AttestationError::NoAuthData)?;
    // rpIdHash(32) flags(1) signCount(4) aaguid(16)
    if auth_data.len() < 53 || auth_data[32] & FLAG_AT == 0 {
        return Err(AttestationError::TooShort);
    }
    let aaguid = Uuid::from_slice(&auth_data[37..53]).map_err(|_| AttestationError::TooShort)?;
    let flags = auth_data[32];
    Ok(RegistrationFacts {
        aaguid,
        user_verified: flags & FLAG_UV != 0,
        backup_eligible: flags & FLAG_BE != 0,
        backup_state: flags & FLAG_BS != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(auth_data: Vec<u8>) -> Vec<u8> {
        let value = Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), Value::Map(vec![])),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&value, &mut out).unwrap();
        out
    }

    #[test]
    fn reads_aaguid_and_uv() {
        let mut ad = vec![0u8; 32];
        ad.push(FLAG_AT | FLAG_UV | FLAG_BE | 0x01);
        ad.extend_from_slice(&[0, 0, 0, 1]);
        ad.extend_from_slice(&[0xAB; 16]);
        ad.extend_from_slice(&[0, 0]);
        let facts = registration_facts(&object(ad)).unwrap();
        assert_eq!(facts.aaguid, Uuid::from_bytes([0xAB; 16]));
        assert!(facts.user_verified);
        assert!(facts.backup_eligible);
        assert!(!facts.backup_state);
    }

    #[test]
    fn rejects_missing_attested_data() {
        let mut ad = vec![0u8; 32];
        ad.push(0x01);
        ad.extend_from_slice(&[0; 20]);
        assert_eq!(
            registration_facts(&object(ad)),
            Err(AttestationError::TooShort)
        );
        assert_eq!(registration_facts(b"\xff"), Err(AttestationError::NotCbor));
    }
}
