//! The histogram stage's distance: the modality-weighted sum of absolute byte differences
//! between one probe pose's descriptors and one person's, minimised over the probe's poses.
//! It runs for everyone enrolled, so it has a kernel per x86-64 vector width (`PSADBW` on 16,
//! 32 and 64 bytes); all compute the same integers, so they pick the same pose.

/// One pose's (print, vein) descriptors, contiguous: `2 · B` bytes.
pub(super) type Lanes<const B: usize> = [[u8; B]; 2];

/// The kernels, fastest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    Scalar,
    /// 16 bytes; SSE2 is part of every x86-64 CPU.
    #[cfg(target_arch = "x86_64")]
    Sse2,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512BW: 64 bytes at a time across both lanes, weights per 8-byte group.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// A kernel this CPU can run: only [`Sad::available`] makes one, so holding it is the proof its
/// `unsafe` code may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sad(Width);

impl Sad {
    /// The fastest kernel this CPU has.
    pub(super) fn detect() -> Self {
        Self::available().last().unwrap_or(Self(Width::Scalar))
    }

    /// Every kernel this CPU has, slowest (the portable one) first.
    pub(super) fn available() -> impl Iterator<Item = Sad> {
        #[cfg(target_arch = "x86_64")]
        let wide = {
            let avx2 = std::is_x86_feature_detected!("avx2");
            let avx512 = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw");
            [
                (true, Width::Sse2),
                (avx2, Width::Avx2),
                (avx512, Width::Avx512),
            ]
            .into_iter()
            .filter(|&(has, _)| has)
            .map(|(_, width)| width)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let wide = std::iter::empty();
        std::iter::once(Width::Scalar).chain(wide).map(Sad)
    }

    /// The first of `poses` with the smallest `weights[0] · SAD(print) + weights[1] ·
    /// SAD(vein)` to `reference`, and that distance; `(u32::MAX, 0)` without poses. Each weight
    /// must be at most 256 (fixed point), so that no sum overflows.
    #[inline]
    pub(super) fn best<const B: usize>(
        self,
        poses: &[Lanes<B>],
        reference: &Lanes<B>,
        weights: [u32; 2],
    ) -> (u32, usize) {
        debug_assert!(weights.iter().all(|&w| w <= 256));
        let weighted = |sad: fn(&[u8; B], &[u8; B]) -> u32| {
            move |pose: &Lanes<B>| {
                weights[0] * sad(&pose[0], &reference[0])
                    + weights[1] * sad(&pose[1], &reference[1])
            }
        };
        match self.0 {
            Width::Scalar => best_by(poses, weighted(scalar)),
            #[cfg(target_arch = "x86_64")]
            Width::Sse2 => best_by(poses, weighted(sse2)),
            // SAFETY: a `Sad` is made only by `available`, after detecting the features.
            #[cfg(target_arch = "x86_64")]
            Width::Avx2 => unsafe { x86::best_avx2(poses, reference, weights) },
            #[cfg(target_arch = "x86_64")]
            Width::Avx512 => unsafe { x86::best_avx512(poses, reference, weights) },
        }
    }
}

/// The first pose with the smallest `distance`.
#[inline(always)]
fn best_by<const B: usize>(
    poses: &[Lanes<B>],
    distance: impl Fn(&Lanes<B>) -> u32,
) -> (u32, usize) {
    let mut best = (u32::MAX, 0);
    for (i, pose) in poses.iter().enumerate() {
        let d = distance(pose);
        if d < best.0 {
            best = (d, i);
        }
    }
    best
}

fn scalar<const B: usize>(a: &[u8; B], b: &[u8; B]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| u32::from(x.abs_diff(y)))
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn sse2<const B: usize>(a: &[u8; B], b: &[u8; B]) -> u32 {
    use std::arch::x86_64::*;
    const { assert!(B.is_multiple_of(16)) };
    // SAFETY: SSE2 is baseline on x86_64; every load reads 16 bytes inside `a` or `b`
    // (offsets 0, 16, … B − 16) and `loadu` needs no alignment.
    unsafe {
        let mut acc = _mm_setzero_si128();
        for i in (0..B).step_by(16) {
            let x = _mm_loadu_si128(a.as_ptr().add(i).cast());
            let y = _mm_loadu_si128(b.as_ptr().add(i).cast());
            acc = _mm_add_epi64(acc, _mm_sad_epu8(x, y));
        }
        (_mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc))) as u32
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{best_by, Lanes};

    /// 32 bytes per `VPSADBW`; the weights multiply each lane's vector of sums, so a pose
    /// costs one horizontal sum instead of two.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn best_avx2<const B: usize>(
        poses: &[Lanes<B>],
        reference: &Lanes<B>,
        weights: [u32; 2],
    ) -> (u32, usize) {
        const { assert!(B.is_multiple_of(32)) };
        let [wp, wv] = weights.map(|w| _mm256_set1_epi64x(i64::from(w)));
        // Per 64-bit lane, the sum of absolute differences of its bytes.
        let sums = |a: &[u8; B], b: &[u8; B]| {
            let mut acc = _mm256_setzero_si256();
            for i in (0..B).step_by(32) {
                // SAFETY: offsets 0, 32, … B − 32 read inside both arrays; unaligned loads.
                let x = _mm256_loadu_si256(a.as_ptr().add(i).cast());
                let y = _mm256_loadu_si256(b.as_ptr().add(i).cast());
                acc = _mm256_add_epi64(acc, _mm256_sad_epu8(x, y));
            }
            acc
        };
        best_by(poses, |pose| {
            // Each lane's sum < 2^32 / 256: 32-bit products suffice.
            let d = _mm256_add_epi64(
                _mm256_mul_epu32(sums(&pose[0], &reference[0]), wp),
                _mm256_mul_epu32(sums(&pose[1], &reference[1]), wv),
            );
            let d = _mm_add_epi64(_mm256_castsi256_si128(d), _mm256_extracti128_si256::<1>(d));
            (_mm_cvtsi128_si64(d) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(d, d))) as u32
        })
    }

    /// 64 bytes per `VPSADBW`, straight across the print and vein descriptors (contiguous in
    /// [`Lanes`]): each 8-byte group belongs to one modality (`B` is a multiple of 8), so its
    /// sum takes that modality's weight.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn best_avx512<const B: usize>(
        poses: &[Lanes<B>],
        reference: &Lanes<B>,
        weights: [u32; 2],
    ) -> (u32, usize) {
        const { assert!(B.is_multiple_of(32)) };
        let [wp, wv] = weights.map(|w| _mm512_set1_epi64(i64::from(w)));
        // The weights of bytes 64i … 64i + 63's eight groups: print's up to byte B.
        let weight = |i: usize| {
            let print_groups = (B.saturating_sub(64 * i) / 8).min(8);
            _mm512_mask_blend_epi64(((1u32 << print_groups) - 1) as __mmask8, wv, wp)
        };
        let bytes = |lanes: &Lanes<B>| lanes.as_ptr().cast::<u8>();
        best_by(poses, |pose| {
            let (a, b) = (bytes(pose), bytes(reference));
            let mut acc = _mm512_setzero_si512();
            for i in 0..2 * B / 64 {
                // SAFETY: offsets 0, 64, … 2B − 64 read inside the 2B bytes of both; unaligned.
                let x = _mm512_loadu_si512(a.add(64 * i).cast());
                let y = _mm512_loadu_si512(b.add(64 * i).cast());
                let sums = _mm512_sad_epu8(x, y);
                acc = _mm512_add_epi64(acc, _mm512_mul_epu32(sums, weight(i)));
            }
            _mm512_reduce_add_epi64(acc) as u32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes<const B: usize>(seed: u64) -> Lanes<B> {
        let mut state = seed;
        let mut next = move || crate::search::derive::splitmix(&mut state) as u8;
        [(); 2].map(|_| std::array::from_fn(|_| next()))
    }

    fn kernels_agree<const B: usize>() {
        let poses: Vec<Lanes<B>> = (0..9).map(lanes).collect();
        let weights = [77, 179];
        for seed in 100..140 {
            let reference = lanes::<B>(seed);
            let expected = Sad(Width::Scalar).best(&poses, &reference, weights);
            for sad in Sad::available() {
                assert_eq!(sad.best(&poses, &reference, weights), expected, "{sad:?}");
            }
            // A pose equal to the reference is found at distance zero.
            let mut with_self = poses.clone();
            with_self.insert(4, reference);
            assert_eq!(Sad::detect().best(&with_self, &reference, weights), (0, 4));
        }
        // Extremes: every byte differs by 255, at the largest weights.
        let far = Sad::detect().best(&[[[0; B]; 2]], &[[255; B]; 2], [256, 256]);
        assert_eq!(far, (2 * 256 * 255 * B as u32, 0));
    }

    #[test]
    fn every_kernel_equals_the_scalar_sum() {
        kernels_agree::<96>();
        kernels_agree::<384>();
    }
}
