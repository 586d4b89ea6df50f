//! PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6, §6.5.7), usable by both ends.
//!
//! The authenticator holds a [`KeyAgreementKey`] per protocol and answers
//! [`KeyAgreementKey::decapsulate`]; the platform (host client) calls
//! [`PinProtocol::encapsulate`] against the authenticator's public key. Both then hold the same
//! [`SharedSecret`] and use it to encrypt, decrypt, authenticate and verify. Messages
//! authenticated with a pinUvAuthToken use [`PinProtocol::authenticate`] and
//! [`PinProtocol::verify`] with the token as key.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ciborium::Value;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::{ecdh, SecretKey};
use rand_core::{CryptoRngCore, OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::super::cose::{CoseAlgorithm, CoseKey};
use super::super::CtapError;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type HmacSha256 = Hmac<Sha256>;

const BLOCK: usize = 16;

/// A PIN/UV auth protocol version. Parsing an unsupported number yields `InvalidParameter`,
/// which is what CTAP 2.1 asks for an unsupported pinUvAuthProtocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinProtocol {
    /// Protocol 1: SHA-256(Z) as key, AES-256-CBC with zero IV, HMAC truncated to 16 bytes.
    One,
    /// Protocol 2: HKDF-derived HMAC and AES keys, random IV, full 32-byte HMAC.
    Two,
}

impl PinProtocol {
    /// Supported protocols in order of preference, as getInfo lists them.
    pub const ALL: [PinProtocol; 2] = [PinProtocol::Two, PinProtocol::One];

    /// The protocol number on the wire.
    pub const fn version(self) -> u8 {
        match self {
            PinProtocol::One => 1,
            PinProtocol::Two => 2,
        }
    }

    /// Length of a pinUvAuthParam this protocol produces.
    pub const fn auth_param_len(self) -> usize {
        match self {
            PinProtocol::One => 16,
            PinProtocol::Two => 32,
        }
    }

    /// Parse a pinUvAuthProtocol from a CBOR integer.
    pub fn from_value(value: &Value) -> Result<Self, CtapError> {
        let n = value.as_integer().ok_or(CtapError::CborUnexpectedType)?;
        u8::try_from(n)
            .map_err(|_| CtapError::InvalidParameter)?
            .try_into()
    }

    /// Platform side: make an ephemeral key, agree with the authenticator's key-agreement key
    /// and return (the platform's COSE key to send, the shared secret).
    pub fn encapsulate(
        self,
        authenticator_key: &CoseKey,
        rng: &mut impl CryptoRngCore,
    ) -> (CoseKey, SharedSecret) {
        let ephemeral = KeyAgreementKey::generate(rng);
        let shared = ephemeral.agree(self, authenticator_key);
        (ephemeral.public_key(), shared)
    }

    /// authenticate(key, message): HMAC-SHA-256, truncated to 16 bytes for protocol 1. The key
    /// is a pinUvAuthToken (or, inside [`SharedSecret`], its HMAC key).
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(message);
        let mut tag = mac.finalize().into_bytes().to_vec();
        tag.truncate(self.auth_param_len());
        tag
    }

    /// verify(key, message, signature) in constant time; a wrong length also fails.
    pub fn verify(self, key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), CtapError> {
        let expected = self.authenticate(key, message);
        if bool::from(expected.as_slice().ct_eq(signature)) {
            Ok(())
        } else {
            Err(CtapError::PinAuthInvalid)
        }
    }

    /// KDF(Z): the protocol's shared-secret derivation from the ECDH x-coordinate.
    fn kdf(self, z: &[u8]) -> SharedSecret {
        let mut hmac_key = Zeroizing::new([0u8; 32]);
        let mut aes_key = Zeroizing::new([0u8; 32]);
        match self {
            PinProtocol::One => {
                hmac_key.copy_from_slice(&Sha256::digest(z));
                aes_key.copy_from_slice(hmac_key.as_slice());
            }
            PinProtocol::Two => {
                let hkdf = Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
                hkdf.expand(b"CTAP2 HMAC key", hmac_key.as_mut_slice())
                    .expect("32 bytes is a valid HKDF-SHA-256 output length");
                hkdf.expand(b"CTAP2 AES key", aes_key.as_mut_slice())
                    .expect("32 bytes is a valid HKDF-SHA-256 output length");
            }
        }
        SharedSecret {
            protocol: self,
            hmac_key,
            aes_key,
        }
    }
}

impl TryFrom<u8> for PinProtocol {
    type Error = CtapError;

    fn try_from(n: u8) -> Result<Self, CtapError> {
        match n {
            1 => Ok(PinProtocol::One),
            2 => Ok(PinProtocol::Two),
            _ => Err(CtapError::InvalidParameter),
        }
    }
}

/// A P-256 key-agreement key pair. The authenticator keeps one per protocol (regenerated at
/// power-up, reset and after a PIN mismatch); the platform makes a fresh one per exchange.
pub struct KeyAgreementKey {
    secret: SecretKey,
}

impl std::fmt::Debug for KeyAgreementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyAgreementKey(..)")
    }
}

impl KeyAgreementKey {
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        KeyAgreementKey {
            secret: SecretKey::random(rng),
        }
    }

    /// The public half as a COSE_Key with alg ECDH-ES+HKDF-256, as getKeyAgreement returns it.
    pub fn public_key(&self) -> CoseKey {
        CoseKey::new(self.secret.public_key(), CoseAlgorithm::EcdhEsHkdf256)
    }

    /// Authenticator side: derive the shared secret from the platform's keyAgreement COSE_Key
    /// (a malformed key or a point off the curve is `InvalidParameter`).
    pub fn decapsulate(
        &self,
        protocol: PinProtocol,
        peer: &Value,
    ) -> Result<SharedSecret, CtapError> {
        let peer = CoseKey::from_value(peer, CoseAlgorithm::EcdhEsHkdf256)
            .map_err(|_| CtapError::InvalidParameter)?;
        Ok(self.agree(protocol, &peer))
    }

    fn agree(&self, protocol: PinProtocol, peer: &CoseKey) -> SharedSecret {
        let z = ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.key.as_affine());
        protocol.kdf(z.raw_secret_bytes())
    }
}

/// The secret both ends derive from key agreement; wiped on drop.
pub struct SharedSecret {
    protocol: PinProtocol,
    hmac_key: Zeroizing<[u8; 32]>,
    aes_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedSecret({:?}, ..)", self.protocol)
    }
}

impl SharedSecret {
    pub fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// encrypt(shared secret, plaintext): AES-256-CBC without padding. Protocol 1 uses a zero
    /// IV; protocol 2 a random IV, prepended to the ciphertext. The plaintext must be a whole
    /// number of 16-byte blocks (`InvalidLength` otherwise).
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CtapError> {
        if !plaintext.len().is_multiple_of(BLOCK) {
            return Err(CtapError::InvalidLength);
        }
        let mut iv = [0u8; BLOCK];
        if self.protocol == PinProtocol::Two {
            OsRng.fill_bytes(&mut iv);
        }
        let ciphertext = Aes256CbcEnc::new(self.aes_key.as_ref().into(), &iv.into())
            .encrypt_padded_vec_mut::<NoPadding>(plaintext);
        Ok(match self.protocol {
            PinProtocol::One => ciphertext,
            PinProtocol::Two => [iv.as_slice(), &ciphertext].concat(),
        })
    }

    /// decrypt(shared secret, ciphertext); a length that is not whole blocks (plus the IV for
    /// protocol 2) is `InvalidLength`. The plaintext is wiped on drop.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CtapError> {
        let (iv, body) = match self.protocol {
            PinProtocol::One => ([0u8; BLOCK], ciphertext),
            PinProtocol::Two => {
                if ciphertext.len() < BLOCK {
                    return Err(CtapError::InvalidLength);
                }
                let (iv, body) = ciphertext.split_at(BLOCK);
                (iv.try_into().expect("split at BLOCK"), body)
            }
        };
        if !body.len().is_multiple_of(BLOCK) {
            return Err(CtapError::InvalidLength);
        }
        Aes256CbcDec::new(self.aes_key.as_ref().into(), &iv.into())
            .decrypt_padded_vec_mut::<NoPadding>(body)
            .map(Zeroizing::new)
            .map_err(|_| CtapError::InvalidLength)
    }

    /// authenticate(shared secret, message) with the secret's HMAC key.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol
            .authenticate(self.hmac_key.as_slice(), message)
    }

    /// verify(shared secret, message, signature): `PinAuthInvalid` on mismatch.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CtapError> {
        self.protocol
            .verify(self.hmac_key.as_slice(), message, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(protocol: PinProtocol) -> (SharedSecret, SharedSecret) {
        let authenticator = KeyAgreementKey::generate(&mut OsRng);
        let (platform_key, platform) =
            protocol.encapsulate(&authenticator.public_key(), &mut OsRng);
        let device = authenticator
            .decapsulate(protocol, &platform_key.to_value())
            .unwrap();
        (platform, device)
    }

    #[test]
    fn both_sides_agree_and_round_trip() {
        for protocol in PinProtocol::ALL {
            let (platform, device) = pair(protocol);
            let plaintext = [7u8; 64];
            let ciphertext = platform.encrypt(&plaintext).unwrap();
            let expected_len = if protocol == PinProtocol::Two { 80 } else { 64 };
            assert_eq!(ciphertext.len(), expected_len);
            assert_eq!(device.decrypt(&ciphertext).unwrap().as_slice(), plaintext);
            let tag = platform.authenticate(b"message");
            assert_eq!(tag.len(), protocol.auth_param_len());
            device.verify(b"message", &tag).unwrap();
            assert_eq!(
                device.verify(b"massage", &tag),
                Err(CtapError::PinAuthInvalid)
            );
            assert_eq!(
                device.verify(b"message", &tag[..15]),
                Err(CtapError::PinAuthInvalid)
            );
        }
    }

    #[test]
    fn protocol_one_is_deterministic_and_two_is_not() {
        let (one, _) = pair(PinProtocol::One);
        assert_eq!(
            one.encrypt(&[1; 32]).unwrap(),
            one.encrypt(&[1; 32]).unwrap()
        );
        let (two, _) = pair(PinProtocol::Two);
        assert_ne!(
            two.encrypt(&[1; 32]).unwrap(),
            two.encrypt(&[1; 32]).unwrap()
        );
    }

    #[test]
    fn different_protocols_derive_different_keys() {
        let authenticator = KeyAgreementKey::generate(&mut OsRng);
        let (platform_key, two) =
            PinProtocol::Two.encapsulate(&authenticator.public_key(), &mut OsRng);
        let one = authenticator
            .decapsulate(PinProtocol::One, &platform_key.to_value())
            .unwrap();
        let tag = two.authenticate(b"m");
        assert!(one.verify(b"m", &tag).is_err());
    }

    #[test]
    fn rejects_bad_lengths_and_keys() {
        for protocol in PinProtocol::ALL {
            let (platform, device) = pair(protocol);
            assert_eq!(
                platform.encrypt(&[0; 15]).unwrap_err(),
                CtapError::InvalidLength
            );
            assert_eq!(
                device.decrypt(&[0; 33]).unwrap_err(),
                CtapError::InvalidLength
            );
        }
        let (_, two) = pair(PinProtocol::Two);
        assert_eq!(two.decrypt(&[0; 8]).unwrap_err(), CtapError::InvalidLength);
        let key = KeyAgreementKey::generate(&mut OsRng);
        let bad = Value::Map(vec![(1.into(), 2.into())]);
        assert!(key.decapsulate(PinProtocol::Two, &bad).is_err());
        assert_eq!(
            PinProtocol::try_from(3).unwrap_err(),
            CtapError::InvalidParameter
        );
        assert_eq!(
            PinProtocol::from_value(&Value::from(2)).unwrap(),
            PinProtocol::Two
        );
        assert_eq!(
            PinProtocol::from_value(&Value::from(300)).unwrap_err(),
            CtapError::InvalidParameter
        );
    }

    /// Known-answer check of protocol 1's token MAC: HMAC-SHA-256 (RFC 4231 case 2) truncated.
    #[test]
    fn authenticate_matches_hmac_sha256() {
        let tag = PinProtocol::Two.authenticate(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            PinProtocol::One.authenticate(b"Jefe", b"what do ya want for nothing?"),
            tag[..16]
        );
    }
}
