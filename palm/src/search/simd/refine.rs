//! The fine stage's kernel on AVX-512: the ±1-cell refinement of a coarse pose compares rows
//! `0, 2, …, 30` (16 rows: two vectors per plane) at 9 poses per person. With the probe frames'
//! rows laid out by parity and padded with empty rows ([`ParityRows`]), every pose's displaced
//! rows are two contiguous loads per plane; the reference's even rows are picked once per
//! person. Counts are per lane (print, vein), as [`crate::matcher::packed_count`] returns
//! them, and the distance is the caller's, so the result is the scalar search's bit for bit.
//! CPUs without AVX-512 keep the scalar refinement (it is a fifth of a 1:N search at most).

use std::arch::x86_64::*;

use crate::code::{BitCount, CODE_PLANES, GRID, MASK_PLANE};
use crate::matcher::{lane_keep_for, packed_count, Packed};
use crate::vector::Isa;

/// The row step the kernel compares.
pub(in crate::search) const ROW_STEP: usize = 2;
const ROWS: usize = GRID / ROW_STEP;
/// Empty rows before and after each parity.
const PAD: usize = 8;
const SLOTS: usize = PAD + ROWS + PAD;
/// Displacements in y the padding covers (`⌊dy / 2⌋` within `±PAD`).
const DY: std::ops::RangeInclusive<i32> = -2 * PAD as i32..=2 * PAD as i32 + 1;

/// A probe frame's rows by parity: `[plane][parity][PAD + j]` is row `2j + parity`; the padding
/// rows are empty, so rows displaced outside the map do not vote.
#[derive(Clone)]
#[repr(C, align(64))]
pub(in crate::search) struct ParityRows([[[u64; SLOTS]; 2]; CODE_PLANES + 1]);

impl ParityRows {
    pub(in crate::search) fn of(packed: &Packed) -> Self {
        let mut rows = [[[0u64; SLOTS]; 2]; CODE_PLANES + 1];
        for (p, plane) in rows.iter_mut().enumerate() {
            for (parity, slots) in plane.iter_mut().enumerate() {
                for j in 0..ROWS {
                    slots[PAD + j] = packed.rows[p][ROW_STEP * j + parity];
                }
            }
        }
        Self(rows)
    }
}

/// The kernel, available only where the CPU has AVX-512F and VPOPCNTDQ: holding one is the
/// proof its `unsafe` code may run.
#[derive(Debug, Clone, Copy)]
pub(in crate::search) struct Refine(());

impl Refine {
    pub(in crate::search) fn detect() -> Option<Self> {
        Isa::available()
            .any(|isa| isa == Isa::Avx512)
            .then_some(Self(()))
    }

    /// The pose of `poses` (frame, dx, dy) with the lowest `distance(print, vein)`, earlier
    /// first on ties, where the counts are `packed_count(reference, frame(f).1, dx, dy, 2)`
    /// and `frame(f).0` is [`ParityRows::of`] that frame; poses with `|dx|` or `|dy| ≥ GRID`
    /// are skipped. `None` if every pose was.
    pub(in crate::search) fn best_of<'a>(
        self,
        reference: &Packed,
        frame: impl Fn(usize) -> (&'a ParityRows, &'a Packed),
        poses: impl Iterator<Item = (usize, i32, i32)>,
        distance: impl Fn(BitCount, BitCount) -> f32,
    ) -> Option<(f32, usize, i32, i32)> {
        // SAFETY: a `Refine` is made only by `detect`, after detecting both features.
        unsafe { best_of_avx512(reference, frame, poses, distance) }
    }
}

/// # Safety
/// The CPU must support AVX-512F and VPOPCNTDQ.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn best_of_avx512<'a>(
    reference: &Packed,
    frame: impl Fn(usize) -> (&'a ParityRows, &'a Packed),
    poses: impl Iterator<Item = (usize, i32, i32)>,
    distance: impl Fn(BitCount, BitCount) -> f32,
) -> Option<(f32, usize, i32, i32)> {
    // The reference's even rows: qwords 0, 2, …, 14 of each 16-row half.
    let even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    // SAFETY (all loads): whole vectors inside the row arrays (`start + 16 ≤ SLOTS` for `dy`
    // in `DY`); unaligned loads.
    // `a[h][p]`: the even rows among rows `16h .. 16h + 16` of plane `p`.
    let a: [[__m512i; CODE_PLANES + 1]; 2] = std::array::from_fn(|h| {
        std::array::from_fn(|p| {
            let rows = reference.rows[p].as_ptr();
            let lo = _mm512_loadu_si512(rows.add(16 * h).cast());
            let hi = _mm512_loadu_si512(rows.add(16 * h + 8).cast());
            _mm512_permutex2var_epi64(lo, even, hi)
        })
    });
    let mut best: Option<(f32, usize, i32, i32)> = None;
    for (f, dx, dy) in poses {
        if dx.abs() >= GRID as i32 || dy.abs() >= GRID as i32 {
            continue;
        }
        let [print, vein] = if DY.contains(&dy) {
            let parity = dy.rem_euclid(2) as usize;
            let start = (PAD as i32 + dy.div_euclid(2)) as usize;
            let rows = &frame(f).0 .0;
            let right = _mm_cvtsi32_si128(if dx >= 0 { dx } else { 64 });
            let left = _mm_cvtsi32_si128(if dx < 0 { -dx } else { 64 });
            let shift =
                |v: __m512i| _mm512_or_si512(_mm512_srl_epi64(v, right), _mm512_sll_epi64(v, left));
            let b = |p: usize, h: usize| {
                shift(_mm512_loadu_si512(
                    rows[p][parity][start + 8 * h..].as_ptr().cast(),
                ))
            };
            let keep = _mm512_set1_epi64(lane_keep_for(dx) as i64);
            // Per 32-bit lane (print low, vein high in each row word): differing bits, and
            // compared cells << 16 (both < 2^16 over 16 rows).
            let mut fields = _mm512_setzero_si512();
            for (h, half) in a.iter().enumerate() {
                // Truth tables over (a, b, c): 0x80 = a & b & c, 0x28 = (a ^ b) & c.
                let m = _mm512_ternarylogic_epi64::<0x80>(half[MASK_PLANE], b(MASK_PLANE, h), keep);
                fields = _mm512_add_epi32(fields, _mm512_slli_epi32::<16>(_mm512_popcnt_epi32(m)));
                for (p, &plane) in half[..CODE_PLANES].iter().enumerate() {
                    let d = _mm512_ternarylogic_epi64::<0x28>(plane, b(p, h), m);
                    fields = _mm512_add_epi32(fields, _mm512_popcnt_epi32(d));
                }
            }
            let total = _mm512_reduce_add_epi64(fields) as u64;
            let lane = |bits: u32| BitCount {
                differing: bits & 0xffff,
                compared: (bits >> 16) * CODE_PLANES as u32,
            };
            [lane(total as u32), lane((total >> 32) as u32)]
        } else {
            packed_count(reference, frame(f).1, dx, dy, ROW_STEP)
        };
        let d = distance(print, vein);
        if best.is_none_or(|(b, ..)| d < b) {
            best = Some((d, f, dx, dy));
        }
    }
    best
}
