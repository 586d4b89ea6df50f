//! The coarse stage on AVX-512: one 512-bit vector holds the 8 compared rows (every 4th) of one
//! code plane of both modalities, so a pose costs a handful of vector instructions per person
//! instead of 8 scalar row comparisons. The probe's displaced rows are tabulated once per query
//! (a few dozen KiB); the gallery is scanned in blocks that stay in L1 while every pose passes
//! over them. Results equal [`super::quick::QuickProbe::search`] bit for bit (same poses, same
//! order, same arithmetic), which the tests check.

use std::arch::x86_64::*;

use crate::code::{CODE_PLANES, GRID, MASK_PLANE};
use crate::matcher::{lane_keep_for, Packed};

/// Rows a vector holds: `y = ROW_STEP · k`.
pub(super) const ROWS: usize = 8;
/// Row step of the compared rows.
pub(super) const ROW_STEP: usize = GRID / ROWS;
/// People scanned together (their sampled rows, 256 bytes each, stay in L1).
const BLOCK: usize = 64;

/// Rows `0, 4, …, 28` of each plane (3 code planes + mask), lane-packed like [`Packed`].
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Sampled([[u64; ROWS]; CODE_PLANES + 1]);

impl Sampled {
    /// The reference side: its own rows.
    pub(super) fn of(packed: &Packed) -> Self {
        Self(std::array::from_fn(|p| {
            std::array::from_fn(|k| packed.rows[p][ROW_STEP * k])
        }))
    }

    /// The probe side at one pose: for reference row `y`, the probe's row `y + dy` displaced by
    /// `dx` cells (as [`crate::matcher`] compares them); rows outside the map do not vote.
    pub(super) fn displaced(frame: &Packed, dx: i32, dy: i32) -> Self {
        let keep = lane_keep_for(dx);
        let shift = |w: u64| if dx >= 0 { w >> dx } else { w << -dx };
        let mut out = [[0u64; ROWS]; CODE_PLANES + 1];
        for k in 0..ROWS {
            let y = (ROW_STEP * k) as i32 + dy;
            if !(0..GRID as i32).contains(&y) {
                continue;
            }
            for (p, plane) in out.iter_mut().enumerate() {
                plane[k] = shift(frame.rows[p][y as usize]);
            }
            out[MASK_PLANE][k] &= keep;
        }
        Self(out)
    }

    #[inline(always)]
    fn plane(&self, p: usize) -> *const __m512i {
        self.0[p].as_ptr().cast()
    }
}

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
        let mut totals = [0u64; BLOCK];
        for (i, pose) in poses.iter().enumerate() {
            // SAFETY (all loads and stores): `Sampled` holds 4 planes × 64 bytes; the arrays
            // above hold whole vectors at every offset used; unaligned accesses.
            let pm = _mm512_loadu_si512(pose.plane(MASK_PLANE));
            let pc = [0, 1, 2].map(|p| _mm512_loadu_si512(pose.plane(p)));
            for (r, total) in block.iter().zip(totals.iter_mut()) {
                let m = _mm512_and_si512(_mm512_loadu_si512(r.plane(MASK_PLANE)), pm);
                // (reference ^ probe) & mask: truth table 0x28 over (a, b, c).
                let d = [0, 1, 2].map(|p| {
                    let rp = _mm512_loadu_si512(r.plane(p));
                    _mm512_popcnt_epi32(_mm512_ternarylogic_epi64::<0x28>(rp, pc[p], m))
                });
                let differing = _mm512_add_epi32(_mm512_add_epi32(d[0], d[1]), d[2]);
                // Per 32-bit lane: differing bits low, compared cells << 16 (both < 2^16 over 8
                // rows); one 64-bit sum then carries print in the low half, vein in the high.
                let fields =
                    _mm512_add_epi32(differing, _mm512_slli_epi32::<16>(_mm512_popcnt_epi32(m)));
                *total = _mm512_reduce_add_epi64(fields) as u64;
            }
            let index = _mm512_set1_epi32(i as i32);
            for c in 0..block.len().div_ceil(8) {
                let v = _mm512_loadu_si512(totals[8 * c..].as_ptr().cast());
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
