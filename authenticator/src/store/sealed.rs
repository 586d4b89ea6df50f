//! The sealed-file envelope: a fixed header bound as AEAD associated data, then
//! ChaCha20-Poly1305 ciphertext + tag under the master key.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "PLMK"
//! 4       2     format version (big endian)
//! 6       1     kind (1 = state, 2 = rollback anchor, 3 = enrollment gallery)
//! 7       1     reserved, 0
//! 8       8     generation (big endian), +1 on every write
//! 16      12    nonce, fresh random per write
//! 28      n+16  ciphertext || Poly1305 tag, AAD = bytes 0..28
//! ```
//! Because the whole header is associated data, flipping any header bit, relabelling a file as
//! another kind or editing its generation breaks the tag just like a ciphertext edit does.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::error::IntegrityError;
use super::master_key::MasterKey;

pub(crate) const MAGIC: [u8; 4] = *b"PLMK";
/// Envelope format version; bump on any incompatible layout change.
pub(crate) const FORMAT_VERSION: u16 = 1;
pub(crate) const HEADER_LEN: usize = 28;
const TAG_LEN: usize = 16;

/// What a sealed file holds; part of the AAD so files cannot be swapped for one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    State = 1,
    Anchor = 2,
    /// The enrollment gallery (palm templates), see `enrollments.rs`.
    Enrollments = 3,
}

/// Seal `plaintext` as a file of `kind` at `generation`.
pub(crate) fn seal(
    key: &MasterKey,
    kind: Kind,
    generation: u64,
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&MAGIC);
    header[4..6].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    header[6] = kind as u8;
    header[8..16].copy_from_slice(&generation.to_be_bytes());
    rng.fill_bytes(&mut header[16..28]);
    let cipher = ChaCha20Poly1305::new(key.aead_key());
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&header[16..28]),
            Payload {
                msg: plaintext,
                aad: &header,
            },
        )
        .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory sizes");
    let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&ciphertext);
    out
}

/// Verify and decrypt a sealed file of `kind`; returns its generation and plaintext.
pub(crate) fn open(
    key: &MasterKey,
    kind: Kind,
    bytes: &[u8],
) -> Result<(u64, Zeroizing<Vec<u8>>), IntegrityError> {
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(IntegrityError::Truncated);
    }
    let (header, ciphertext) = bytes.split_at(HEADER_LEN);
    if header[0..4] != MAGIC {
        return Err(IntegrityError::BadMagic);
    }
    let version = u16::from_be_bytes([header[4], header[5]]);
    if version != FORMAT_VERSION {
        return Err(IntegrityError::WrongVersion(version));
    }
    if header[6] != kind as u8 || header[7] != 0 {
        return Err(IntegrityError::WrongKind);
    }
    let generation = u64::from_be_bytes(header[8..16].try_into().expect("8 bytes"));
    let cipher = ChaCha20Poly1305::new(key.aead_key());
    let plaintext = cipher
        .decrypt(
            Nonce::from_slice(&header[16..28]),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map_err(|_| IntegrityError::Authentication)?;
    Ok((generation, Zeroizing::new(plaintext)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes([b; 32])
    }

    #[test]
    fn round_trip_keeps_generation_and_plaintext() {
        let sealed = seal(&key(1), Kind::State, 42, b"hello", &mut OsRng);
        let (generation, plain) = open(&key(1), Kind::State, &sealed).unwrap();
        assert_eq!(generation, 42);
        assert_eq!(plain.as_slice(), b"hello");
    }

    #[test]
    fn nonce_is_fresh_per_write() {
        let a = seal(&key(1), Kind::State, 1, b"same", &mut OsRng);
        let b = seal(&key(1), Kind::State, 1, b"same", &mut OsRng);
        assert_ne!(a[16..28], b[16..28]);
        assert_ne!(a, b);
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let sealed = seal(&key(1), Kind::State, 7, b"some state bytes", &mut OsRng);
        for bit in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                open(&key(1), Kind::State, &bad).is_err(),
                "bit {bit} undetected"
            );
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let sealed = seal(&key(1), Kind::State, 7, b"some state bytes", &mut OsRng);
        for len in 0..sealed.len() {
            assert!(
                open(&key(1), Kind::State, &sealed[..len]).is_err(),
                "len {len}"
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(open(&key(1), Kind::State, &longer).is_err());
    }

    #[test]
    fn wrong_key_kind_and_version_are_rejected() {
        let sealed = seal(&key(1), Kind::State, 7, b"x", &mut OsRng);
        assert_eq!(
            open(&key(2), Kind::State, &sealed).unwrap_err(),
            IntegrityError::Authentication
        );
        assert_eq!(
            open(&key(1), Kind::Anchor, &sealed).unwrap_err(),
            IntegrityError::WrongKind
        );
        let mut future = sealed.clone();
        future[4..6].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            open(&key(1), Kind::State, &future).unwrap_err(),
            IntegrityError::WrongVersion(2)
        );
        let mut relabelled = sealed;
        relabelled[6] = Kind::Anchor as u8;
        assert_eq!(
            open(&key(1), Kind::Anchor, &relabelled).unwrap_err(),
            IntegrityError::Authentication
        );
    }
}
