//! Packed attestation (WebAuthn §8.2): self attestation signed with the new credential's own
//! key, or batch attestation with the device's batch key and certificate when one is
//! provisioned in the state.

use super::cbor::{self, MapBuilder, Value};
use super::cose::CoseAlgorithm;
use super::credential::CredentialKey;
use super::status::CtapResult;
use crate::store::state::BatchAttestation;

/// The attestation statement format identifier.
pub const FORMAT: &str = "packed";

/// The attStmt map over `auth_data ‖ client_data_hash`.
pub fn packed(
    auth_data: &[u8],
    client_data_hash: &[u8],
    credential: &CredentialKey,
    batch: Option<&BatchAttestation>,
) -> CtapResult<Value> {
    let mut signed = Vec::with_capacity(auth_data.len() + client_data_hash.len());
    signed.extend_from_slice(auth_data);
    signed.extend_from_slice(client_data_hash);
    let statement = MapBuilder::new().insert("alg", CoseAlgorithm::Es256.id());
    Ok(match batch {
        None => statement
            .insert("sig", cbor::bytes(credential.sign(&signed)))
            .build(),
        Some(batch) => {
            let key = CredentialKey::from_secret(&batch.private_key)?;
            statement
                .insert("sig", cbor::bytes(key.sign(&signed)))
                .insert(
                    "x5c",
                    Value::Array(vec![cbor::bytes(batch.certificate_der.clone())]),
                )
                .build()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::state::SecretKey;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{DerSignature, VerifyingKey};
    use rand::rngs::OsRng;

    fn verify(key: &CredentialKey, message: &[u8], statement: &Value) {
        let map = cbor::as_map(statement).unwrap();
        assert_eq!(map.required("alg", cbor::as_int), Ok(-7));
        let sig = map.required("sig", cbor::as_bytes).unwrap();
        let vk = VerifyingKey::from(&key.public_key().key);
        vk.verify(message, &DerSignature::try_from(sig).unwrap())
            .unwrap();
    }

    #[test]
    fn self_attestation_is_signed_by_the_credential() {
        let key = CredentialKey::generate(&mut OsRng);
        let statement = packed(b"auth", b"hash", &key, None).unwrap();
        verify(&key, b"authhash", &statement);
        assert!(cbor::as_map(&statement).unwrap().get("x5c").is_none());
    }

    #[test]
    fn batch_attestation_is_signed_by_the_batch_key() {
        let credential = CredentialKey::generate(&mut OsRng);
        let batch_key = CredentialKey::generate(&mut OsRng);
        let batch = BatchAttestation {
            private_key: SecretKey(batch_key.secret().0),
            certificate_der: vec![0x30, 0x00],
        };
        let statement = packed(b"auth", b"hash", &credential, Some(&batch)).unwrap();
        verify(&batch_key, b"authhash", &statement);
        let x5c = cbor::as_map(&statement)
            .unwrap()
            .required("x5c", cbor::as_array)
            .unwrap();
        assert_eq!(x5c, &[cbor::bytes(vec![0x30, 0x00])]);
    }
}
