//! The coarse-stage kernel on AVX-512: one 512-bit vector holds the 8 compared rows of one code
//! plane of both modalities, so a pose costs a handful of vector instructions per person
//! instead of 8 scalar row comparisons.

use std::arch::x86_64::*;

use super::{each_person, Sampled, BLOCK};
use crate::code::{CODE_PLANES, MASK_PLANE};

/// For every reference, the index of its best pose in `poses` and the weighted distance there
/// (per lane `0.5 − (0.5 − D/C)·sqrt(min(C/lane_bits, 1.5))`, 0.5 where nothing was compared,
/// as [`crate::matcher`] normalises). Ties keep the earlier pose. The distances of a block are
/// computed 8 people (16 lanes) at a time, in the scalar path's operation order, so the results
/// are the same bit for bit.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512 VPOPCNTDQ.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
pub(super) unsafe fn scan(
    poses: &[Sampled],
    references: &[&Sampled],
    weights: [f32; 2],
    lane_bits: f32,
    out: &mut Vec<(f32, u32)>,
) {
    let half = _mm512_set1_ps(0.5);
    let cap = _mm512_set1_ps(1.5);
    let bits = _mm512_set1_ps(lane_bits);
    let low16 = _mm512_set1_epi32(0xffff);
    let planes = _mm512_set1_epi32(CODE_PLANES as i32);
    let w: [f32; 16] = std::array::from_fn(|i| weights[i % 2]);
    let w = _mm512_loadu_ps(w.as_ptr());
    out.clear();
    for block in references.chunks(BLOCK) {
        // Per person: lanes 2j and 2j + 1 both track person j.
        let mut best_d = [f32::INFINITY; 2 * BLOCK];
        let mut best_i = [0u32; 2 * BLOCK];
        for (i, pose) in poses.iter().enumerate() {
            // SAFETY (all loads and stores): `Sampled` holds 4 planes × 64 bytes; `best_d` and
            // `best_i` hold whole vectors at every offset used; unaligned accesses.
            let pm = _mm512_loadu_si512(pose.plane(MASK_PLANE).cast());
            let pc = [0, 1, 2].map(|p| _mm512_loadu_si512(pose.plane(p).cast()));
            // Per 32-bit lane: differing bits low, compared cells << 16 (both < 2^16 over 8
            // rows); the sum of a person's 64-bit lanes then carries print in the low half,
            // vein in the high.
            let fields = |r: &Sampled| {
                let m = _mm512_and_si512(_mm512_loadu_si512(r.plane(MASK_PLANE).cast()), pm);
                // (reference ^ probe) & mask: truth table 0x28 over (a, b, c).
                let d = [0, 1, 2].map(|p| {
                    let rp = _mm512_loadu_si512(r.plane(p).cast());
                    _mm512_popcnt_epi32(_mm512_ternarylogic_epi64::<0x28>(rp, pc[p], m))
                });
                let differing = _mm512_add_epi32(_mm512_add_epi32(d[0], d[1]), d[2]);
                _mm512_add_epi32(differing, _mm512_slli_epi32::<16>(_mm512_popcnt_epi32(m)))
            };
            let index = _mm512_set1_epi32(i as i32);
            for (c, people) in block.chunks(8).enumerate() {
                let v = sum_each(each_person::<_, 8>(people, _mm512_setzero_si512(), fields));
                let compared = _mm512_mullo_epi32(_mm512_srli_epi32::<16>(v), planes);
                let cf = _mm512_cvtepi32_ps(compared);
                let d = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, low16)), cf);
                let scale = _mm512_sqrt_ps(_mm512_min_ps(_mm512_div_ps(cf, bits), cap));
                let lane = _mm512_sub_ps(half, _mm512_mul_ps(_mm512_sub_ps(half, d), scale));
                let empty = _mm512_cmpeq_epi32_mask(compared, _mm512_setzero_si512());
                let weighted = _mm512_mul_ps(_mm512_mask_blend_ps(empty, lane, half), w);
                // print + vein of each person, in both of its lanes.
                let dist = _mm512_add_ps(weighted, _mm512_permute_ps::<0b10_11_00_01>(weighted));
                let slot = 16 * c;
                let bd = _mm512_loadu_ps(best_d[slot..].as_ptr());
                let better = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(dist, bd);
                _mm512_storeu_ps(
                    best_d[slot..].as_mut_ptr(),
                    _mm512_mask_blend_ps(better, bd, dist),
                );
                let bi = _mm512_loadu_si512(best_i[slot..].as_ptr().cast());
                _mm512_storeu_si512(
                    best_i[slot..].as_mut_ptr().cast(),
                    _mm512_mask_blend_epi32(better, bi, index),
                );
            }
        }
        out.extend((0..block.len()).map(|j| (best_d[2 * j], best_i[2 * j])));
    }
}

/// Lane `j` of the result: the sum of the eight 64-bit lanes of `x[j]`. A tree of pairwise
/// sums shares its shuffles across the eight people, where one horizontal reduction per person
/// (`_mm512_reduce_add_epi64`) costs a chain of extracts and adds each.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn sum_each(x: [__m512i; 8]) -> __m512i {
    // Lane k of each 128-bit block: (a's pair sum, b's pair sum).
    let pairs = |a, b| _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
    // Sum of the 128-bit blocks 2k and 2k + 1 of a, then of b.
    let blocks = |a, b| {
        _mm512_add_epi64(
            _mm512_shuffle_i64x2::<0b10_00_10_00>(a, b),
            _mm512_shuffle_i64x2::<0b11_01_11_01>(a, b),
        )
    };
    let p = [
        pairs(x[0], x[1]),
        pairs(x[2], x[3]),
        pairs(x[4], x[5]),
        pairs(x[6], x[7]),
    ];
    blocks(blocks(p[0], p[1]), blocks(p[2], p[3]))
}
