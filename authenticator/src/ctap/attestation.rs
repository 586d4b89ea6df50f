//! Packed attestation (WebAuthn §8.2): self attestation signed with the new credential's own
//! key, or batch attestation with the device's batch key and certificate when one is
//! provisioned in the state.

use super::cbor::{self, MapBuilder, Value};
use super::cose::CoseAlgorithm;
use super::credential::CredentialKey;
use super::status::CtapResult;
use crate::store::state::{BatchAttestation, SecretKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey;

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

/// Why a batch attestation could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("the attestation key is not a PKCS#8 DER P-256 private key: {0}")]
    Key(p256::pkcs8::Error),
    #[error("the attestation certificate is not DER (it must start with a SEQUENCE)")]
    NotDer,
    #[error("the attestation certificate does not carry the attestation key's public key")]
    KeyMismatch,
}

/// A per-device batch attestation from a PKCS#8 (DER) P-256 key and its DER certificate.
/// The certificate must embed the key's uncompressed public point: a mismatched pair would
/// make every attestation this device signs unverifiable, so it is refused up front.
pub fn provision_batch(
    key_pkcs8_der: &[u8],
    certificate_der: Vec<u8>,
) -> Result<BatchAttestation, ProvisionError> {
    let key = p256::SecretKey::from_pkcs8_der(key_pkcs8_der).map_err(ProvisionError::Key)?;
    if certificate_der.first() != Some(&0x30) {
        return Err(ProvisionError::NotDer);
    }
    let point = key.public_key().to_encoded_point(false);
    if !certificate_der
        .windows(point.len())
        .any(|window| window == point.as_bytes())
    {
        return Err(ProvisionError::KeyMismatch);
    }
    Ok(BatchAttestation {
        private_key: SecretKey(key.to_bytes().into()),
        certificate_der,
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

    #[test]
    fn provisioning_checks_key_and_certificate_belong_together() {
        use p256::pkcs8::EncodePrivateKey;
        let key = p256::SecretKey::random(&mut OsRng);
        let der = key.to_pkcs8_der().unwrap();
        let point = key.public_key().to_encoded_point(false);
        // A stand-in certificate: a DER SEQUENCE that embeds the public point.
        let mut cert = vec![0x30, 0x41];
        cert.extend_from_slice(point.as_bytes());
        let batch = provision_batch(der.as_bytes(), cert.clone()).unwrap();
        assert_eq!(&batch.private_key.0[..], &key.to_bytes()[..]);

        let other = p256::SecretKey::random(&mut OsRng).to_pkcs8_der().unwrap();
        assert!(matches!(
            provision_batch(other.as_bytes(), cert.clone()),
            Err(ProvisionError::KeyMismatch)
        ));
        assert!(matches!(
            provision_batch(der.as_bytes(), cert[1..].to_vec()),
            Err(ProvisionError::NotDer)
        ));
        assert!(matches!(
            provision_batch(b"not a key", cert),
            Err(ProvisionError::Key(_))
        ));
    }
}
