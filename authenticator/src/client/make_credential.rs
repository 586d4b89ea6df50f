//! authenticatorMakeCredential (0x01): typed request, response and attestation check.

use ciborium::Value;
use p256::elliptic_curve::sec1::FromEncodedPoint;
use p256::{EncodedPoint, PublicKey};
use sha2::{Digest, Sha256};

use super::authdata::{verify_es256, AttestedCredential, AuthenticatorData};
use super::cbor::Fields;
use super::entities::{CredentialDescriptor, RelyingParty, User};
use super::error::{ClientError, Result};
use crate::ctap::cbor::{bytes, encode, MapBuilder};
use crate::ctap::cose::{CoseAlgorithm, CoseKey};

/// COSE algorithm ES256.
pub const ES256: i64 = -7;

/// pinUvAuthParam with the protocol that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinUvAuthParam {
    pub protocol: u8,
    pub param: Vec<u8>,
}

/// Extension inputs of makeCredential that palmkey implements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MakeCredentialExtensions {
    /// credProtect level 1..=3.
    pub cred_protect: Option<u8>,
    pub hmac_secret: bool,
    pub cred_blob: Option<Vec<u8>>,
    pub min_pin_length: bool,
}

impl MakeCredentialExtensions {
    fn to_value(&self) -> Option<Value> {
        let map = MapBuilder::new()
            .insert_opt("credProtect", self.cred_protect)
            .insert_opt("hmac-secret", self.hmac_secret.then_some(true))
            .insert_opt("credBlob", self.cred_blob.clone().map(bytes))
            .insert_opt("minPinLength", self.min_pin_length.then_some(true));
        (!map.is_empty()).then(|| map.build())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCredentialRequest {
    pub client_data_hash: [u8; 32],
    pub rp: RelyingParty,
    pub user: User,
    /// pubKeyCredParams, in order of preference (COSE algorithm identifiers).
    pub algorithms: Vec<i64>,
    pub exclude_list: Vec<CredentialDescriptor>,
    pub extensions: MakeCredentialExtensions,
    /// The `rk` option: a discoverable credential.
    pub resident_key: bool,
    /// The deprecated `uv` option (built-in UV without a token); omitted when `None`.
    pub user_verification: Option<bool>,
    pub pin_uv_auth: Option<PinUvAuthParam>,
    pub enterprise_attestation: Option<u8>,
}

impl MakeCredentialRequest {
    /// A request for an ES256 credential with no options or extensions.
    pub fn new(client_data_hash: [u8; 32], rp: RelyingParty, user: User) -> Self {
        MakeCredentialRequest {
            client_data_hash,
            rp,
            user,
            algorithms: vec![ES256],
            exclude_list: Vec::new(),
            extensions: MakeCredentialExtensions::default(),
            resident_key: false,
            user_verification: None,
            pin_uv_auth: None,
            enterprise_attestation: None,
        }
    }

    /// The CBOR parameters (without the command byte).
    pub fn to_cbor(&self) -> Vec<u8> {
        let params = Value::Array(
            self.algorithms
                .iter()
                .map(|alg| {
                    MapBuilder::new()
                        .insert("alg", *alg)
                        .insert("type", "public-key")
                        .build()
                })
                .collect(),
        );
        let options = MapBuilder::new()
            .insert_opt("rk", self.resident_key.then_some(true))
            .insert_opt("uv", self.user_verification);
        let options = (!options.is_empty()).then(|| options.build());
        encode(
            MapBuilder::new()
                .insert(0x01, bytes(self.client_data_hash))
                .insert(0x02, self.rp.to_value())
                .insert(0x03, self.user.to_value())
                .insert(0x04, params)
                .insert_opt(0x05, CredentialDescriptor::list_value(&self.exclude_list))
                .insert_opt(0x06, self.extensions.to_value())
                .insert_opt(0x07, options)
                .insert_opt(
                    0x08,
                    self.pin_uv_auth.as_ref().map(|p| bytes(p.param.clone())),
                )
                .insert_opt(0x09, self.pin_uv_auth.as_ref().map(|p| p.protocol))
                .insert_opt(0x0A, self.enterprise_attestation)
                .build(),
        )
    }
}

/// The attestation statement of a makeCredential response.
#[derive(Debug, Clone, PartialEq)]
pub enum AttestationStatement {
    /// Format "none".
    None,
    /// Format "packed": self attestation when `x5c` is empty, else batch attestation.
    Packed {
        alg: i64,
        sig: Vec<u8>,
        x5c: Vec<Vec<u8>>,
    },
    /// Any other format, unparsed.
    Other { format: String, statement: Value },
}

/// How a verified attestation was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestationKind {
    /// Signed by the credential's own key.
    SelfAttestation,
    /// Signed by the key in this (DER) certificate; the caller decides whether to trust it.
    Batch { certificate: Vec<u8> },
    /// Format "none": nothing to verify.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MakeCredentialResponse {
    pub auth_data: AuthenticatorData,
    pub attestation: AttestationStatement,
    pub enterprise_attestation: bool,
    pub large_blob_key: Option<Vec<u8>>,
}

impl MakeCredentialResponse {
    pub(crate) fn parse(payload: &[u8]) -> Result<Self> {
        let f = Fields::parse(payload, "makeCredential response")?;
        let format: String = f.req(0x01)?;
        let auth_data = AuthenticatorData::parse(&f.req::<_, Vec<u8>>(0x02)?)?;
        let statement: Value = f.req(0x03)?;
        let attestation = match format.as_str() {
            "none" => AttestationStatement::None,
            "packed" => {
                let s = Fields::new(statement, "packed attStmt")?;
                let x5c = s
                    .opt::<_, Vec<Value>>("x5c")?
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| {
                        c.into_bytes()
                            .map_err(|_| ClientError::malformed("x5c entry is not bytes"))
                    })
                    .collect::<Result<_>>()?;
                AttestationStatement::Packed {
                    alg: s.req("alg")?,
                    sig: s.req("sig")?,
                    x5c,
                }
            }
            _ => AttestationStatement::Other { format, statement },
        };
        if auth_data.attested_credential.is_none() {
            return Err(ClientError::malformed(
                "makeCredential authenticator data lacks attested credential data",
            ));
        }
        Ok(MakeCredentialResponse {
            auth_data,
            attestation,
            enterprise_attestation: f.opt(0x04)?.unwrap_or(false),
            large_blob_key: f.opt(0x05)?,
        })
    }

    /// The new credential (ID, AAGUID, public key).
    pub fn credential(&self) -> &AttestedCredential {
        self.auth_data
            .attested_credential
            .as_ref()
            .expect("checked at parse time")
    }

    /// Check what a relying party checks: the RP ID hash, the UP flag and the attestation
    /// signature (packed self or batch attestation, ES256).
    pub fn verify(&self, rp_id: &str, client_data_hash: &[u8; 32]) -> Result<AttestationKind> {
        check_rp_id_hash(&self.auth_data, rp_id)?;
        if !self.auth_data.flags.user_present() {
            return Err(ClientError::Verification("UP flag not set"));
        }
        match &self.attestation {
            AttestationStatement::None => Ok(AttestationKind::None),
            AttestationStatement::Other { .. } => Err(ClientError::Unsupported(
                "attestation format other than packed/none",
            )),
            AttestationStatement::Packed { alg, sig, x5c } => {
                if *alg != ES256 {
                    return Err(ClientError::Unsupported(
                        "attestation algorithm other than ES256",
                    ));
                }
                match x5c.first() {
                    None => {
                        self.credential().public_key.verify(
                            &self.auth_data.raw,
                            client_data_hash,
                            sig,
                        )?;
                        Ok(AttestationKind::SelfAttestation)
                    }
                    Some(cert) => {
                        let key = CoseKey::new(certificate_p256_key(cert)?, CoseAlgorithm::Es256);
                        verify_es256(&key, &self.auth_data.raw, client_data_hash, sig)?;
                        Ok(AttestationKind::Batch {
                            certificate: cert.clone(),
                        })
                    }
                }
            }
        }
    }
}

/// Check the authenticator data is for `rp_id`.
pub(crate) fn check_rp_id_hash(auth_data: &AuthenticatorData, rp_id: &str) -> Result<()> {
    if auth_data.rp_id_hash[..] != Sha256::digest(rp_id.as_bytes())[..] {
        return Err(ClientError::Verification(
            "rpIdHash does not match the RP ID",
        ));
    }
    Ok(())
}

/// The subject public key of a DER certificate whose key is P-256. The DER prefix of a P-256
/// SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, uncompressed point) is fixed, and in a
/// certificate only the subject key carries it, so locating it is exact for such certificates.
fn certificate_p256_key(cert: &[u8]) -> Result<PublicKey> {
    const SPKI_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let start = cert
        .windows(SPKI_PREFIX.len())
        .position(|w| w == SPKI_PREFIX)
        .ok_or(ClientError::Unsupported(
            "attestation certificate key is not P-256",
        ))?
        + SPKI_PREFIX.len();
    let point = cert
        .get(start..start + 65)
        .ok_or(ClientError::Verification(
            "attestation certificate truncated",
        ))?;
    let point = EncodedPoint::from_bytes(point)
        .map_err(|_| ClientError::Verification("attestation certificate key is malformed"))?;
    Option::from(PublicKey::from_encoded_point(&point)).ok_or(ClientError::Verification(
        "attestation certificate key is not on P-256",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::authdata;
    use p256::ecdsa::{signature::Signer, DerSignature, SigningKey};
    use rand_core::OsRng;

    fn signed_response(tamper: bool) -> (MakeCredentialResponse, [u8; 32]) {
        let sk = SigningKey::random(&mut OsRng);
        let cose = CoseKey::new(PublicKey::from(sk.verifying_key()), CoseAlgorithm::Es256);
        let rp_hash: [u8; 32] = Sha256::digest(b"example.com").into();
        let ad = authdata::build(rp_hash, 0x41, 0, Some((&[1; 16], &cose.to_value())), None);
        let cdh = [3u8; 32];
        let mut msg = ad.clone();
        msg.extend_from_slice(&cdh);
        let sig: DerSignature = sk.sign(&msg);
        let mut sig = sig.as_bytes().to_vec();
        if tamper {
            let n = sig.len() - 1;
            sig[n] ^= 1;
        }
        let payload = MapBuilder::new()
            .insert(1, "packed")
            .insert(2, bytes(ad))
            .insert(
                3,
                MapBuilder::new()
                    .insert("alg", -7)
                    .insert("sig", bytes(sig))
                    .build(),
            )
            .encode();
        (MakeCredentialResponse::parse(&payload).unwrap(), cdh)
    }

    #[test]
    fn verifies_packed_self_attestation() {
        let (resp, cdh) = signed_response(false);
        assert_eq!(
            resp.verify("example.com", &cdh).unwrap(),
            AttestationKind::SelfAttestation
        );
        assert!(resp.verify("evil.com", &cdh).is_err());
        assert!(resp.verify("example.com", &[4; 32]).is_err());
        let (bad, cdh) = signed_response(true);
        assert!(matches!(
            bad.verify("example.com", &cdh),
            Err(ClientError::Verification(_))
        ));
    }

    #[test]
    fn request_encoding_is_canonical_ctap() {
        let mut req = MakeCredentialRequest::new(
            [0; 32],
            RelyingParty::new("example.com"),
            User::named(b"u1".to_vec(), "alice", "Alice"),
        );
        req.resident_key = true;
        req.extensions.cred_protect = Some(2);
        let v: Value = ciborium::from_reader(&req.to_cbor()[..]).unwrap();
        let keys: Vec<i128> = v
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_integer().unwrap().into())
            .collect();
        assert_eq!(keys, [1, 2, 3, 4, 6, 7]);
    }
}
