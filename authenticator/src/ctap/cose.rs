//! P-256 public keys as COSE_Key maps (RFC 9053), the only key type palmkey speaks.
//!
//! Credential public keys carry alg ES256 (-7); PIN/UV key-agreement keys carry
//! ECDH-ES+HKDF-256 (-25). Both sides (authenticator and host client) use these helpers so the
//! encoding exists once. Map entries are emitted in CTAP2 canonical order (1, 3, -1, -2, -3).

use ciborium::Value;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, FieldBytes, PublicKey};

use super::CtapError;

/// COSE key parameter labels and values used here.
const LABEL_KTY: i64 = 1;
const LABEL_ALG: i64 = 3;
const LABEL_CRV: i64 = -1;
const LABEL_X: i64 = -2;
const LABEL_Y: i64 = -3;
const KTY_EC2: i64 = 2;
const CRV_P256: i64 = 1;

/// The COSE algorithms palmkey uses with P-256 keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoseAlgorithm {
    /// ECDSA over P-256 with SHA-256: credential keys.
    Es256,
    /// ECDH-ES with HKDF-SHA-256: PIN/UV auth protocol key agreement.
    EcdhEsHkdf256,
}

impl CoseAlgorithm {
    /// The COSE algorithm identifier.
    pub const fn id(self) -> i64 {
        match self {
            CoseAlgorithm::Es256 => -7,
            CoseAlgorithm::EcdhEsHkdf256 => -25,
        }
    }
}

/// A P-256 public key together with the algorithm it is announced for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoseKey {
    pub alg: CoseAlgorithm,
    pub key: PublicKey,
}

impl CoseKey {
    pub fn new(key: PublicKey, alg: CoseAlgorithm) -> Self {
        CoseKey { alg, key }
    }

    /// The COSE_Key map as a CBOR value (for embedding in a response map).
    pub fn to_value(&self) -> Value {
        let point = self.key.to_encoded_point(false);
        // An uncompressed point on the curve always has both coordinates.
        let x = point.x().expect("uncompressed point has x").to_vec();
        let y = point.y().expect("uncompressed point has y").to_vec();
        Value::Map(vec![
            (LABEL_KTY.into(), KTY_EC2.into()),
            (LABEL_ALG.into(), self.alg.id().into()),
            (LABEL_CRV.into(), CRV_P256.into()),
            (LABEL_X.into(), Value::Bytes(x)),
            (LABEL_Y.into(), Value::Bytes(y)),
        ])
    }

    /// The COSE_Key map serialized as CBOR (as it appears in attested credential data).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(77);
        ciborium::into_writer(&self.to_value(), &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Parse a COSE_Key map that must be an EC2 P-256 key for `alg`.
    ///
    /// An absent `alg` label is tolerated (some platforms omit it); a present one must match.
    /// Errors: not a map → `CborUnexpectedType`; a missing label → `MissingParameter`; wrong
    /// key type, curve, algorithm, coordinate length or a point off the curve →
    /// `InvalidParameter`.
    pub fn from_value(value: &Value, alg: CoseAlgorithm) -> Result<Self, CtapError> {
        let entries = value.as_map().ok_or(CtapError::CborUnexpectedType)?;
        let field = |label: i64| {
            entries
                .iter()
                .find(|(k, _)| {
                    k.as_integer()
                        .is_some_and(|k| i128::from(k) == label.into())
                })
                .map(|(_, v)| v)
        };
        let int = |label: i64| -> Result<Option<i128>, CtapError> {
            match field(label) {
                None => Ok(None),
                Some(v) => v
                    .as_integer()
                    .map(|i| Some(i128::from(i)))
                    .ok_or(CtapError::CborUnexpectedType),
            }
        };
        let coordinate = |label: i64| -> Result<FieldBytes, CtapError> {
            let bytes = field(label)
                .ok_or(CtapError::MissingParameter)?
                .as_bytes()
                .ok_or(CtapError::CborUnexpectedType)?;
            if bytes.len() != 32 {
                return Err(CtapError::InvalidParameter);
            }
            Ok(*FieldBytes::from_slice(bytes))
        };

        if int(LABEL_KTY)?.ok_or(CtapError::MissingParameter)? != i128::from(KTY_EC2)
            || int(LABEL_CRV)?.ok_or(CtapError::MissingParameter)? != i128::from(CRV_P256)
        {
            return Err(CtapError::InvalidParameter);
        }
        if let Some(found) = int(LABEL_ALG)? {
            if found != i128::from(alg.id()) {
                return Err(CtapError::InvalidParameter);
            }
        }
        let point = EncodedPoint::from_affine_coordinates(
            &coordinate(LABEL_X)?,
            &coordinate(LABEL_Y)?,
            false,
        );
        let key = Option::<PublicKey>::from(PublicKey::from_encoded_point(&point))
            .ok_or(CtapError::InvalidParameter)?;
        Ok(CoseKey { alg, key })
    }

    /// Parse a serialized COSE_Key (`InvalidCbor` when it is not CBOR).
    pub fn from_slice(bytes: &[u8], alg: CoseAlgorithm) -> Result<Self, CtapError> {
        let value: Value = ciborium::from_reader(bytes).map_err(|_| CtapError::InvalidCbor)?;
        Self::from_value(&value, alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::SecretKey;
    use rand_core::OsRng;

    fn key() -> PublicKey {
        SecretKey::random(&mut OsRng).public_key()
    }

    #[test]
    fn round_trips_both_algorithms() {
        for alg in [CoseAlgorithm::Es256, CoseAlgorithm::EcdhEsHkdf256] {
            let cose = CoseKey::new(key(), alg);
            let bytes = cose.to_vec();
            assert_eq!(CoseKey::from_slice(&bytes, alg).unwrap(), cose);
        }
    }

    #[test]
    fn encoding_is_canonical() {
        let bytes = CoseKey::new(key(), CoseAlgorithm::Es256).to_vec();
        // a5 01 02 03 26 20 01 21 58 20 <x> 22 58 20 <y>
        assert_eq!(bytes.len(), 77);
        assert_eq!(
            &bytes[..10],
            &[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]
        );
        assert_eq!(&bytes[42..45], &[0x22, 0x58, 0x20]);
        let ka = CoseKey::new(key(), CoseAlgorithm::EcdhEsHkdf256).to_vec();
        assert_eq!(&ka[3..6], &[0x03, 0x38, 0x18]);
    }

    fn with_entry(cose: &CoseKey, label: i64, value: Option<Value>) -> Value {
        let Value::Map(mut entries) = cose.to_value() else {
            unreachable!()
        };
        entries.retain(|(k, _)| k != &Value::from(label));
        if let Some(v) = value {
            entries.push((label.into(), v));
        }
        Value::Map(entries)
    }

    #[test]
    fn rejects_wrong_or_missing_fields() {
        let alg = CoseAlgorithm::EcdhEsHkdf256;
        let cose = CoseKey::new(key(), alg);
        let err = |v: Value| CoseKey::from_value(&v, alg).unwrap_err();
        assert_eq!(err(Value::Integer(1.into())), CtapError::CborUnexpectedType);
        assert_eq!(
            err(with_entry(&cose, LABEL_KTY, Some(1.into()))),
            CtapError::InvalidParameter
        );
        assert_eq!(
            err(with_entry(&cose, LABEL_CRV, Some(2.into()))),
            CtapError::InvalidParameter
        );
        assert_eq!(
            err(with_entry(&cose, LABEL_ALG, Some((-7).into()))),
            CtapError::InvalidParameter
        );
        assert_eq!(
            err(with_entry(&cose, LABEL_X, None)),
            CtapError::MissingParameter
        );
        assert_eq!(
            err(with_entry(&cose, LABEL_KTY, None)),
            CtapError::MissingParameter
        );
        assert_eq!(
            err(with_entry(&cose, LABEL_Y, Some(Value::Bytes(vec![1; 31])))),
            CtapError::InvalidParameter
        );
        // (x, y+1) is not on the curve.
        let point = cose.key.to_encoded_point(false);
        let mut y = point.y().unwrap().to_vec();
        y[31] ^= 1;
        assert_eq!(
            err(with_entry(&cose, LABEL_Y, Some(Value::Bytes(y)))),
            CtapError::InvalidParameter
        );
        // alg may be absent.
        assert_eq!(
            CoseKey::from_value(&with_entry(&cose, LABEL_ALG, None), alg).unwrap(),
            cose
        );
        assert_eq!(
            CoseKey::from_slice(&[0xff], alg).unwrap_err(),
            CtapError::InvalidCbor
        );
    }
}
