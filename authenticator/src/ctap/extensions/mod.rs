//! WebAuthn/CTAP extensions: parsing their inputs (unknown extensions are ignored, as CTAP
//! asks) and the extension output maps that go into authenticator data.

pub mod cred_blob;
pub mod cred_protect;
pub mod hmac_secret;
pub mod min_pin_length;

use super::cbor::{self, Map};
use super::status::{CtapError, CtapResult};
use cred_protect::CredProtect;

/// Extension identifiers, as getInfo lists them.
pub const CRED_PROTECT: &str = "credProtect";
pub const HMAC_SECRET: &str = "hmac-secret";
pub const CRED_BLOB: &str = "credBlob";
pub const MIN_PIN_LENGTH: &str = "minPinLength";
pub const SUPPORTED: [&str; 4] = [CRED_PROTECT, HMAC_SECRET, CRED_BLOB, MIN_PIN_LENGTH];

/// makeCredential extension inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MakeCredentialInputs {
    pub cred_protect: Option<CredProtect>,
    pub hmac_secret: bool,
    /// `Some(None)`: requested, but longer than the device takes (output `false`).
    pub cred_blob: Option<Option<Vec<u8>>>,
    pub min_pin_length: bool,
}

impl MakeCredentialInputs {
    pub fn parse(map: Map<'_>, max_cred_blob_length: usize) -> CtapResult<Self> {
        let mut inputs = MakeCredentialInputs::default();
        for (name, value) in map.text_entries()? {
            match name {
                CRED_PROTECT => {
                    let level = cbor::as_uint(value)?;
                    let level = u8::try_from(level).map_err(|_| CtapError::InvalidParameter)?;
                    inputs.cred_protect =
                        Some(CredProtect::from_level(level).ok_or(CtapError::InvalidParameter)?);
                }
                HMAC_SECRET => inputs.hmac_secret = cbor::as_bool(value)?,
                CRED_BLOB => {
                    inputs.cred_blob = Some(cred_blob::accept(value, max_cred_blob_length)?)
                }
                MIN_PIN_LENGTH => inputs.min_pin_length = cbor::as_bool(value)?,
                _ => {}
            }
        }
        Ok(inputs)
    }
}

/// getAssertion extension inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GetAssertionInputs {
    pub hmac_secret: Option<hmac_secret::Input>,
    pub cred_blob: bool,
}

impl GetAssertionInputs {
    pub fn parse(map: Map<'_>) -> CtapResult<Self> {
        let mut inputs = GetAssertionInputs::default();
        for (name, value) in map.text_entries()? {
            match name {
                HMAC_SECRET => inputs.hmac_secret = Some(hmac_secret::Input::parse(value)?),
                CRED_BLOB => inputs.cred_blob = cbor::as_bool(value)?,
                _ => {}
            }
        }
        Ok(inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::cbor::{MapBuilder, Value};

    fn parse_mc(value: Value) -> CtapResult<MakeCredentialInputs> {
        MakeCredentialInputs::parse(cbor::as_map(&value)?, 32)
    }

    #[test]
    fn make_credential_inputs() {
        let inputs = parse_mc(
            MapBuilder::new()
                .insert(CRED_PROTECT, 3)
                .insert(HMAC_SECRET, true)
                .insert(CRED_BLOB, cbor::bytes(vec![1, 2]))
                .insert(MIN_PIN_LENGTH, true)
                .insert("unknownExt", "ignored")
                .build(),
        )
        .unwrap();
        assert_eq!(
            inputs,
            MakeCredentialInputs {
                cred_protect: Some(CredProtect::UserVerificationRequired),
                hmac_secret: true,
                cred_blob: Some(Some(vec![1, 2])),
                min_pin_length: true,
            }
        );
    }

    #[test]
    fn make_credential_input_errors() {
        assert_eq!(
            parse_mc(MapBuilder::new().insert(CRED_PROTECT, 7).build()),
            Err(CtapError::InvalidParameter)
        );
        assert_eq!(
            parse_mc(MapBuilder::new().insert(HMAC_SECRET, 1).build()),
            Err(CtapError::CborUnexpectedType)
        );
        assert_eq!(
            parse_mc(Value::Map(vec![(cbor::int(1), Value::Bool(true))])),
            Err(CtapError::CborUnexpectedType)
        );
    }
}
