//! Authenticator data (WebAuthn §6.1): what every attestation and assertion signs.

use sha2::{Digest, Sha256};

use super::cbor::{self, Value};
use super::cose::CoseKey;

/// Authenticator data flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u8);

impl Flags {
    pub const USER_PRESENT: Flags = Flags(0x01);
    pub const USER_VERIFIED: Flags = Flags(0x04);
    pub const ATTESTED_CREDENTIAL_DATA: Flags = Flags(0x40);
    pub const EXTENSION_DATA: Flags = Flags(0x80);

    /// UP and UV as established by a request.
    pub fn new(user_present: bool, user_verified: bool) -> Self {
        let mut flags = Flags(0);
        if user_present {
            flags = flags | Flags::USER_PRESENT;
        }
        if user_verified {
            flags = flags | Flags::USER_VERIFIED;
        }
        flags
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// SHA-256 of the RP ID, the first field of authenticator data and the binding of wrapped
/// credential IDs.
pub fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}

/// The credential being created (makeCredential only).
#[derive(Debug, Clone)]
pub struct AttestedCredential<'a> {
    pub aaguid: [u8; 16],
    pub credential_id: &'a [u8],
    pub public_key: CoseKey,
}

/// Serialize authenticator data. The AT and ED flags follow from what is present.
pub fn encode(
    rp_id_hash: &[u8; 32],
    flags: Flags,
    sign_count: u32,
    attested: Option<&AttestedCredential<'_>>,
    extensions: Option<Value>,
) -> Vec<u8> {
    let mut flags = flags;
    if attested.is_some() {
        flags = flags | Flags::ATTESTED_CREDENTIAL_DATA;
    }
    if extensions.is_some() {
        flags = flags | Flags::EXTENSION_DATA;
    }
    let mut out = Vec::with_capacity(37 + attested.map_or(0, |a| 18 + a.credential_id.len() + 77));
    out.extend_from_slice(rp_id_hash);
    out.push(flags.bits());
    out.extend_from_slice(&sign_count.to_be_bytes());
    if let Some(att) = attested {
        out.extend_from_slice(&att.aaguid);
        // Credential IDs are at most a few hundred bytes (see credential::MAX_ID_LENGTH).
        let len = u16::try_from(att.credential_id.len()).expect("credential ID under 64 KiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(att.credential_id);
        out.extend_from_slice(&cbor::encode(att.public_key.to_value()));
    }
    if let Some(ext) = extensions {
        out.extend_from_slice(&cbor::encode(ext));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::cose::CoseAlgorithm;

    #[test]
    fn layout_without_attested_data() {
        let hash = rp_id_hash("example.com");
        let data = encode(&hash, Flags::new(true, true), 0x01020304, None, None);
        assert_eq!(data.len(), 37);
        assert_eq!(&data[..32], &hash);
        assert_eq!(data[32], 0x05);
        assert_eq!(&data[33..37], &[1, 2, 3, 4]);
    }

    #[test]
    fn layout_with_attested_data_and_extensions() {
        let key = p256::SecretKey::random(&mut rand::rngs::OsRng).public_key();
        let cose = CoseKey::new(key, CoseAlgorithm::Es256);
        let id = [7u8; 40];
        let att = AttestedCredential {
            aaguid: [9; 16],
            credential_id: &id,
            public_key: cose,
        };
        let ext = cbor::MapBuilder::new().insert("credProtect", 2).build();
        let data = encode(&[0; 32], Flags::new(true, false), 1, Some(&att), Some(ext));
        assert_eq!(data[32], 0x01 | 0x40 | 0x80);
        assert_eq!(&data[37..53], &[9; 16]);
        assert_eq!(&data[53..55], &[0, 40]);
        assert_eq!(&data[55..95], &id);
        let rest = &data[95..];
        let mut reader = rest;
        let key_value: Value = ciborium::from_reader(&mut reader).unwrap();
        assert_eq!(
            CoseKey::from_value(&key_value, CoseAlgorithm::Es256).unwrap(),
            cose
        );
        let ext_value: Value = ciborium::from_reader(&mut reader).unwrap();
        assert!(reader.is_empty());
        assert_eq!(
            cbor::as_map(&ext_value)
                .unwrap()
                .required("credProtect", cbor::as_uint),
            Ok(2)
        );
    }
}
