//! The coarse stage's vector scan. The stage compares the 8 rows `0, 4, …, 28` of every code
//! plane, so one person's compared rows fit 256 bytes ([`Sampled`]); the probe's displaced
//! rows are tabulated once per query, and a kernel streams the gallery in blocks that stay in
//! L1 while every pose passes over them. Kernels: AVX-512 (one vector per plane, hardware
//! popcount) and AVX2 (two vectors per plane, nibble-table popcount), for the x86-64 servers
//! a terminal backend runs on; each returns what [`super::quick::QuickProbe::search`] returns,
//! bit for bit (same poses, same order, same arithmetic), which the tests check per kernel.

mod avx2;
mod avx512;
pub(super) mod refine;

use crate::code::{CODE_PLANES, GRID, MASK_PLANE};
use crate::matcher::{lane_keep_for, Packed};
use crate::vector::Isa;

/// Rows a person's sampled plane holds: `y = ROW_STEP · k`.
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

    /// Plane `p`'s 8 rows (64 bytes, 64-byte aligned).
    #[inline(always)]
    fn plane(&self, p: usize) -> *const u64 {
        self.0[p].as_ptr()
    }
}

/// `fields` of each of `people` (at most `L`), padded with `zero`: a kernel's per-person vectors,
/// `L` at a time, for one reduction over all of them.
#[inline(always)]
fn each_person<V: Copy, const L: usize>(
    people: &[&Sampled],
    zero: V,
    fields: impl Fn(&Sampled) -> V,
) -> [V; L] {
    match <&[&Sampled; L]>::try_from(people) {
        // A whole group: unrolled, the vectors stay in registers.
        Ok(all) => std::array::from_fn(|j| fields(all[j])),
        Err(_) => {
            let mut each = [zero; L];
            for (r, x) in people.iter().zip(&mut each) {
                *x = fields(r);
            }
            each
        }
    }
}

/// A vector kernel this CPU can run: only [`Kernel::available`] makes one, after detecting its
/// instruction set, so holding a `Kernel` is the proof its `unsafe` code may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Kernel(Isa);

impl Kernel {
    /// The fastest kernel this CPU supports, if any (else the scalar search runs).
    pub(super) fn detect() -> Option<Kernel> {
        Self::available().next()
    }

    /// Every kernel this CPU supports, fastest first.
    pub(super) fn available() -> impl Iterator<Item = Kernel> {
        Isa::available().map(Kernel)
    }

    /// For every reference, the index of its best pose in `poses` and the weighted distance
    /// there (per lane `0.5 − (0.5 − D/C)·sqrt(min(C/lane_bits, 1.5))`, 0.5 where nothing was
    /// compared, as [`crate::matcher`] normalises; ties keep the earlier pose).
    pub(super) fn scan(
        self,
        poses: &[Sampled],
        references: &[&Sampled],
        weights: [f32; 2],
        lane_bits: f32,
        out: &mut Vec<(f32, u32)>,
    ) {
        // SAFETY: a `Kernel` is made only by `available`, after detecting its features.
        unsafe {
            match self.0 {
                Isa::Avx512 => avx512::scan(poses, references, weights, lane_bits, out),
                Isa::Avx2 => avx2::scan(poses, references, weights, lane_bits, out),
            }
        }
    }
}
