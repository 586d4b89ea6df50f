//! Deterministic, independent random streams.
//!
//! Every random decision draws from a ChaCha stream keyed by (seed, purpose, identity, sample).
//! Streams never share state, so an identity's anatomy does not depend on how many samples were
//! drawn, a sample's noise does not depend on how many draws the anatomy took, and changing one
//! stage of the generator leaves the others' randomness unchanged.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a stream is used for; part of the stream key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// The identity's skin: handedness, relief, creases, texture, tone.
    Anatomy = 1,
    /// One sample's acquisition: pose, deformation, light, band-aid.
    Acquisition = 2,
    /// One sample's sensor noise.
    SensorNoise = 3,
    /// One photo attack: the printed copy and its recapture.
    PhotoAttack = 4,
    /// The identity's hand outline (fingers, thumb) for whole-hand photos.
    HandShape = 5,
    /// One sample's hand posture (finger spread) in a whole-hand photo.
    HandPosture = 6,
    /// The identity's vessel network (its own stream, so skin changes leave veins alone).
    Vessels = 7,
}

/// SplitMix64 finaliser: a bijective 64-bit mix with full avalanche.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stream for `purpose` of (`seed`, `identity`, `sample`); `sample` is 0 for per-identity
/// purposes.
pub fn stream(seed: u64, purpose: Purpose, identity: u64, sample: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    let words = [
        mix(seed ^ 0x7061_6c6d_6b65_7931),
        mix((purpose as u64).wrapping_add(mix(seed))),
        mix(identity ^ mix(seed.rotate_left(17))),
        mix(sample ^ mix(identity.rotate_left(29) ^ purpose as u64)),
    ];
    for (chunk, word) in key.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream(1, Purpose::Anatomy, 5, 0).gen();
        assert_eq!(a, stream(1, Purpose::Anatomy, 5, 0).gen::<u64>());
        let others = [
            stream(2, Purpose::Anatomy, 5, 0).gen::<u64>(),
            stream(1, Purpose::Acquisition, 5, 0).gen::<u64>(),
            stream(1, Purpose::Anatomy, 6, 0).gen::<u64>(),
            stream(1, Purpose::Anatomy, 5, 1).gen::<u64>(),
            stream(1, Purpose::SensorNoise, 5, 0).gen::<u64>(),
        ];
        assert!(others.iter().all(|&o| o != a));
    }
}
