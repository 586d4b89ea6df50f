//! authenticatorClientPIN (0x06), platform side: retries, key agreement, setPIN, changePIN and
//! pinUvAuthToken retrieval. The crypto is [`crate::ctap::pin::protocol`], shared with the
//! authenticator.

use rand_core::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cbor::Fields;
use super::error::{ClientError, Result};
use super::make_credential::PinUvAuthParam;
use crate::ctap::cbor::{bytes, MapBuilder};
use crate::ctap::cose::{CoseAlgorithm, CoseKey};
use crate::ctap::pin::client_pin::SubCommand as PinSubcommand;
use crate::ctap::pin::protocol::{PinProtocol, SharedSecret};
use crate::ctap::pin::Permission;

/// PIN attempts left, and whether a power cycle is needed before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinRetries {
    pub retries: u8,
    pub power_cycle_state: Option<bool>,
}

/// A pinUvAuthToken obtained from the authenticator; wiped on drop.
pub struct PinUvAuthToken {
    protocol: PinProtocol,
    token: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PinUvAuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinUvAuthToken({:?}, ..)", self.protocol)
    }
}

impl PinUvAuthToken {
    pub fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// pinUvAuthParam = authenticate(token, message), tagged with the protocol.
    pub fn authenticate(&self, message: &[u8]) -> PinUvAuthParam {
        PinUvAuthParam {
            protocol: self.protocol.version(),
            param: self.protocol.authenticate(&self.token, message),
        }
    }

    /// A token with known bytes, for checking request layouts in unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(protocol: PinProtocol, token: Vec<u8>) -> Self {
        PinUvAuthToken {
            protocol,
            token: Zeroizing::new(token),
        }
    }
}

/// SHA-256 of the PIN, first 16 bytes: what CTAP sends as pinHash.
fn pin_hash(pin: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Sha256::digest(pin.as_bytes())[..16].to_vec())
}

/// The PIN's UTF-8 bytes zero-padded to 64 bytes (paddedNewPin). The authenticator enforces
/// the minimum length; only what cannot be padded is refused here.
fn padded_pin(pin: &str) -> Result<Zeroizing<Vec<u8>>> {
    let b = pin.as_bytes();
    if b.len() > 63 {
        return Err(ClientError::InvalidRequest("PIN longer than 63 bytes"));
    }
    let mut out = Zeroizing::new(vec![0u8; 64]);
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}

/// Builder of clientPIN requests and parser of their responses; the [`super::Client`] sends.
pub(crate) struct PinRequest;

impl PinRequest {
    pub(crate) fn simple(protocol: Option<PinProtocol>, sub: PinSubcommand) -> MapBuilder {
        MapBuilder::new()
            .insert_opt(0x01, protocol.map(PinProtocol::version))
            .insert(0x02, sub as u8)
    }

    pub(crate) fn parse_retries(payload: &[u8]) -> Result<PinRetries> {
        let f = Fields::parse(payload, "getPINRetries response")?;
        Ok(PinRetries {
            retries: f.req(0x03)?,
            power_cycle_state: f.opt(0x04)?,
        })
    }

    pub(crate) fn parse_uv_retries(payload: &[u8]) -> Result<u8> {
        Fields::parse(payload, "getUVRetries response")?.req(0x05)
    }

    pub(crate) fn parse_key_agreement(payload: &[u8]) -> Result<CoseKey> {
        let f = Fields::parse(payload, "getKeyAgreement response")?;
        CoseKey::from_value(&f.req(0x01)?, CoseAlgorithm::EcdhEsHkdf256)
            .map_err(|e| ClientError::malformed(format!("authenticator key-agreement key: {e:?}")))
    }

    /// setPIN: newPinEnc and pinUvAuthParam = authenticate(shared, newPinEnc).
    pub(crate) fn set_pin(
        shared: &SharedSecret,
        platform_key: &CoseKey,
        new_pin: &str,
    ) -> Result<MapBuilder> {
        let new_pin_enc = encrypt(shared, &padded_pin(new_pin)?)?;
        let auth = shared.authenticate(&new_pin_enc);
        Ok(Self::simple(Some(shared.protocol()), PinSubcommand::SetPin)
            .insert(0x03, platform_key.to_value())
            .insert(0x04, bytes(auth))
            .insert(0x05, bytes(new_pin_enc)))
    }

    /// changePIN: pinUvAuthParam = authenticate(shared, newPinEnc || pinHashEnc).
    pub(crate) fn change_pin(
        shared: &SharedSecret,
        platform_key: &CoseKey,
        current_pin: &str,
        new_pin: &str,
    ) -> Result<MapBuilder> {
        let new_pin_enc = encrypt(shared, &padded_pin(new_pin)?)?;
        let pin_hash_enc = encrypt(shared, &pin_hash(current_pin))?;
        let auth = shared.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
        Ok(
            Self::simple(Some(shared.protocol()), PinSubcommand::ChangePin)
                .insert(0x03, platform_key.to_value())
                .insert(0x04, bytes(auth))
                .insert(0x05, bytes(new_pin_enc))
                .insert(0x06, bytes(pin_hash_enc)),
        )
    }

    /// getPinToken (permissions `None`) or getPinUvAuthTokenUsingPinWithPermissions.
    pub(crate) fn token_using_pin(
        shared: &SharedSecret,
        platform_key: &CoseKey,
        pin: &str,
        permissions: Option<(Permission, Option<&str>)>,
    ) -> Result<MapBuilder> {
        let sub = match permissions {
            None => PinSubcommand::GetPinToken,
            Some(_) => PinSubcommand::GetPinUvAuthTokenUsingPinWithPermissions,
        };
        let (perm, rp_id) = permissions.map_or((None, None), |(p, r)| (Some(p.bits()), r));
        Ok(Self::simple(Some(shared.protocol()), sub)
            .insert(0x03, platform_key.to_value())
            .insert(0x06, bytes(encrypt(shared, &pin_hash(pin))?))
            .insert_opt(0x09, perm)
            .insert_opt(0x0A, rp_id))
    }

    /// getPinUvAuthTokenUsingUvWithPermissions: built-in user verification (the palm).
    pub(crate) fn token_using_uv(
        shared: &SharedSecret,
        platform_key: &CoseKey,
        permissions: Permission,
        rp_id: Option<&str>,
    ) -> MapBuilder {
        Self::simple(
            Some(shared.protocol()),
            PinSubcommand::GetPinUvAuthTokenUsingUvWithPermissions,
        )
        .insert(0x03, platform_key.to_value())
        .insert(0x09, permissions.bits())
        .insert_opt(0x0A, rp_id)
    }

    /// The token in a getPinToken-style response, decrypted with `shared`.
    pub(crate) fn parse_token(payload: &[u8], shared: &SharedSecret) -> Result<PinUvAuthToken> {
        let f = Fields::parse(payload, "pinUvAuthToken response")?;
        let enc: Vec<u8> = f.req(0x02)?;
        let token = shared
            .decrypt(&enc)
            .map_err(|e| ClientError::malformed(format!("pinUvAuthToken: {e:?}")))?;
        if token.is_empty() {
            return Err(ClientError::malformed("pinUvAuthToken is empty"));
        }
        Ok(PinUvAuthToken {
            protocol: shared.protocol(),
            token,
        })
    }

    /// A fresh platform key pair agreed with the authenticator's key.
    pub(crate) fn agree(
        protocol: PinProtocol,
        authenticator_key: &CoseKey,
    ) -> (CoseKey, SharedSecret) {
        protocol.encapsulate(authenticator_key, &mut OsRng)
    }
}

fn encrypt(shared: &SharedSecret, plaintext: &[u8]) -> Result<Vec<u8>> {
    shared
        .encrypt(plaintext)
        .map_err(|_| ClientError::InvalidRequest("plaintext is not whole AES blocks"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_padding_and_hash() {
        let p = padded_pin("1234").unwrap();
        assert_eq!(p.len(), 64);
        assert_eq!(&p[..5], b"1234\0");
        assert!(padded_pin(&"x".repeat(64)).is_err());
        assert_eq!(
            hex::encode(&*pin_hash("1234")),
            "03ac674216f3e15c761ee1a5e255f067"
        );
    }
}
