//! authenticatorGetInfo (0x04), typed.

use std::collections::BTreeMap;

use super::cbor::{Fields, FromCbor};
use super::error::{ClientError, Result};

/// One entry of getInfo `algorithms` (a PublicKeyCredentialParameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithm {
    pub kind: String,
    pub alg: i64,
}

/// What the authenticator says about itself (CTAP 2.1 §6.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthenticatorInfo {
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    pub aaguid: [u8; 16],
    pub options: BTreeMap<String, bool>,
    pub max_msg_size: Option<u64>,
    pub pin_uv_auth_protocols: Vec<u8>,
    pub max_credential_count_in_list: Option<u64>,
    pub max_credential_id_length: Option<u64>,
    pub transports: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub force_pin_change: bool,
    pub min_pin_length: Option<u64>,
    pub firmware_version: Option<u64>,
    pub max_cred_blob_length: Option<u64>,
    pub max_rp_ids_for_set_min_pin_length: Option<u64>,
    pub preferred_platform_uv_attempts: Option<u64>,
    pub uv_modality: Option<u64>,
    pub remaining_discoverable_credentials: Option<u64>,
}

fn list<T: FromCbor>(f: &Fields, key: i64, what: &str) -> Result<Vec<T>> {
    f.opt::<_, Vec<ciborium::Value>>(key)?
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            T::from_cbor(v).ok_or_else(|| ClientError::malformed(format!("getInfo: bad {what}")))
        })
        .collect()
}

impl AuthenticatorInfo {
    pub(crate) fn parse(payload: &[u8]) -> Result<Self> {
        let f = Fields::parse(payload, "getInfo")?;
        let mut options = BTreeMap::new();
        if let Some(opts) = f.nested(0x04, "getInfo options")? {
            for (k, v) in opts.entries() {
                match (k.as_text(), v.as_bool()) {
                    (Some(k), Some(v)) => options.insert(k.to_owned(), v),
                    _ => return Err(ClientError::malformed("getInfo: bad option entry")),
                };
            }
        }
        let algorithms = list::<ciborium::Value>(&f, 0x0A, "algorithms")?
            .into_iter()
            .map(|v| {
                let a = Fields::new(v, "getInfo algorithm")?;
                Ok(Algorithm {
                    kind: a.req("type")?,
                    alg: a.req("alg")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(AuthenticatorInfo {
            versions: list(&f, 0x01, "versions")?,
            extensions: list(&f, 0x02, "extensions")?,
            aaguid: f.req(0x03)?,
            options,
            max_msg_size: f.opt(0x05)?,
            pin_uv_auth_protocols: list(&f, 0x06, "pinUvAuthProtocols")?,
            max_credential_count_in_list: f.opt(0x07)?,
            max_credential_id_length: f.opt(0x08)?,
            transports: list(&f, 0x09, "transports")?,
            algorithms,
            force_pin_change: f.opt(0x0C)?.unwrap_or(false),
            min_pin_length: f.opt(0x0D)?,
            firmware_version: f.opt(0x0E)?,
            max_cred_blob_length: f.opt(0x0F)?,
            max_rp_ids_for_set_min_pin_length: f.opt(0x10)?,
            preferred_platform_uv_attempts: f.opt(0x11)?,
            uv_modality: f.opt(0x12)?,
            remaining_discoverable_credentials: f.opt(0x14)?,
        })
    }

    /// An option's value; `None` when the authenticator does not list it.
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options.get(name).copied()
    }

    /// True when a PIN is set (`clientPin` option present and true).
    pub fn pin_is_set(&self) -> bool {
        self.option("clientPin") == Some(true)
    }

    pub fn supports_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }

    /// The PIN/UV auth protocol a platform should use: the authenticator's first listed one
    /// (CTAP lists them in order of preference).
    pub fn preferred_pin_protocol(&self) -> Option<u8> {
        self.pin_uv_auth_protocols.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::cbor::{bytes, encode, MapBuilder};
    use ciborium::Value;

    #[test]
    fn parses_a_typical_info() {
        let payload = encode(
            MapBuilder::new()
                .insert(1, Value::Array(vec!["FIDO_2_0".into(), "FIDO_2_1".into()]))
                .insert(2, Value::Array(vec!["credProtect".into()]))
                .insert(3, bytes([7u8; 16]))
                .insert(
                    4,
                    MapBuilder::new()
                        .insert("rk", true)
                        .insert("clientPin", false)
                        .build(),
                )
                .insert(5, 7609)
                .insert(6, Value::Array(vec![2.into(), 1.into()]))
                .insert(
                    0x0A,
                    Value::Array(vec![MapBuilder::new()
                        .insert("alg", -7)
                        .insert("type", "public-key")
                        .build()]),
                )
                .insert(0x14, 100)
                .build(),
        );
        let info = AuthenticatorInfo::parse(&payload).unwrap();
        assert_eq!(info.versions, ["FIDO_2_0", "FIDO_2_1"]);
        assert_eq!(info.aaguid, [7; 16]);
        assert_eq!(info.option("rk"), Some(true));
        assert!(!info.pin_is_set());
        assert_eq!(info.preferred_pin_protocol(), Some(2));
        assert_eq!(info.algorithms[0].alg, -7);
        assert_eq!(info.max_msg_size, Some(7609));
        assert_eq!(info.remaining_discoverable_credentials, Some(100));
        assert!(info.supports_extension("credProtect"));
    }

    #[test]
    fn missing_aaguid_is_malformed() {
        let payload = encode(MapBuilder::new().insert(1, Value::Array(vec![])).build());
        assert!(matches!(
            AuthenticatorInfo::parse(&payload),
            Err(ClientError::Malformed(_))
        ));
    }
}
