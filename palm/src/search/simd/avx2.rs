//! The coarse-stage kernel on AVX2, for x86-64 CPUs without AVX-512: a plane's 8 compared rows
//! take two 256-bit vectors, and bits are counted per byte with a nibble table (`vpshufb`,
//! Muła's method), then summed per 32-bit lane (print lanes low, vein lanes high, as in the
//! row words). The distances of a block are computed 4 people (8 lanes) at a time in the
//! scalar path's operation order, so the results are the same bit for bit.

use std::arch::x86_64::*;

use super::{each_person, Sampled, BLOCK};
use crate::code::{CODE_PLANES, MASK_PLANE};
use crate::vector::popcount_bytes;

/// Sums of each 32-bit lane's 4 bytes (every byte < 128).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn sum_bytes_per_lane(v: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(v, _mm256_set1_epi8(1));
    _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
}

/// As [`super::avx512::scan`], on AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn scan(
    poses: &[Sampled],
    references: &[&Sampled],
    weights: [f32; 2],
    lane_bits: f32,
    out: &mut Vec<(f32, u32)>,
) {
    let half = _mm256_set1_ps(0.5);
    let cap = _mm256_set1_ps(1.5);
    let bits = _mm256_set1_ps(lane_bits);
    let low16 = _mm256_set1_epi32(0xffff);
    let planes = _mm256_set1_epi32(CODE_PLANES as i32);
    let w: [f32; 8] = std::array::from_fn(|i| weights[i % 2]);
    let w = _mm256_loadu_ps(w.as_ptr());
    // SAFETY (all loads and stores): a `Sampled` plane is 8 rows (two vectors); the arrays
    // below hold whole vectors at every offset used; unaligned accesses.
    let load = |plane: *const u64, h: usize| _mm256_loadu_si256(plane.add(4 * h).cast());
    out.clear();
    for block in references.chunks(BLOCK) {
        // Per person: lanes 2j and 2j + 1 both track person j.
        let mut best_d = [f32::INFINITY; 2 * BLOCK];
        let mut best_i = [0u32; 2 * BLOCK];
        for (i, pose) in poses.iter().enumerate() {
            let pm = [0, 1].map(|h| load(pose.plane(MASK_PLANE), h));
            let pc = [0, 1, 2].map(|p| [0, 1].map(|h| load(pose.plane(p), h)));
            let fields = |r: &Sampled| {
                // Per byte: differing compared bits of the 3 planes (≤ 48 over both halves)
                // and compared cells (≤ 16).
                let mut differing = _mm256_setzero_si256();
                let mut compared = _mm256_setzero_si256();
                for h in 0..2 {
                    let m = _mm256_and_si256(load(r.plane(MASK_PLANE), h), pm[h]);
                    compared = _mm256_add_epi8(compared, popcount_bytes(m));
                    for (p, probe) in pc.iter().enumerate() {
                        let x = _mm256_xor_si256(load(r.plane(p), h), probe[h]);
                        differing =
                            _mm256_add_epi8(differing, popcount_bytes(_mm256_and_si256(x, m)));
                    }
                }
                // Per 32-bit lane: differing bits low, compared cells << 16; the sum of a
                // person's 64-bit lanes then carries print in the low half, vein in the high
                // (as on AVX-512).
                _mm256_add_epi32(
                    sum_bytes_per_lane(differing),
                    _mm256_slli_epi32::<16>(sum_bytes_per_lane(compared)),
                )
            };
            let index = _mm256_set1_epi32(i as i32);
            for (c, people) in block.chunks(4).enumerate() {
                let v = sum_each(each_person::<_, 4>(people, _mm256_setzero_si256(), fields));
                let compared = _mm256_mullo_epi32(_mm256_srli_epi32::<16>(v), planes);
                let cf = _mm256_cvtepi32_ps(compared);
                let d = _mm256_div_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, low16)), cf);
                let scale = _mm256_sqrt_ps(_mm256_min_ps(_mm256_div_ps(cf, bits), cap));
                let lane = _mm256_sub_ps(half, _mm256_mul_ps(_mm256_sub_ps(half, d), scale));
                let empty =
                    _mm256_castsi256_ps(_mm256_cmpeq_epi32(compared, _mm256_setzero_si256()));
                let weighted = _mm256_mul_ps(_mm256_blendv_ps(lane, half, empty), w);
                // print + vein of each person, in both of its lanes.
                let dist = _mm256_add_ps(weighted, _mm256_permute_ps::<0b10_11_00_01>(weighted));
                let slot = 8 * c;
                let bd = _mm256_loadu_ps(best_d[slot..].as_ptr());
                let better = _mm256_cmp_ps::<_CMP_LT_OQ>(dist, bd);
                _mm256_storeu_ps(
                    best_d[slot..].as_mut_ptr(),
                    _mm256_blendv_ps(bd, dist, better),
                );
                let bi = _mm256_castsi256_ps(_mm256_loadu_si256(best_i[slot..].as_ptr().cast()));
                let chosen = _mm256_blendv_ps(bi, _mm256_castsi256_ps(index), better);
                _mm256_storeu_si256(
                    best_i[slot..].as_mut_ptr().cast(),
                    _mm256_castps_si256(chosen),
                );
            }
        }
        out.extend((0..block.len()).map(|j| (best_d[2 * j], best_i[2 * j])));
    }
}

/// Lane `j` of the result: the sum of the four 64-bit lanes of `x[j]`, by a tree of pairwise
/// sums shared across the four people (as [`super::avx512`] does for eight).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn sum_each(x: [__m256i; 4]) -> __m256i {
    // Lane k of each 128-bit half: (a's pair sum, b's pair sum).
    let pairs = |a, b| _mm256_add_epi64(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
    let (p, q) = (pairs(x[0], x[1]), pairs(x[2], x[3]));
    // Low halves of p and q, plus their high halves.
    _mm256_add_epi64(
        _mm256_permute2x128_si256::<0x20>(p, q),
        _mm256_permute2x128_si256::<0x31>(p, q),
    )
}
