//! The full matcher's first stage on AVX-512 or AVX2. The stage scores every reference frame
//! at every shift of a step-2 grid on the probe's rows `1, 5, …, 29`: about 1,800 alignments of
//! 8 rows per comparison, nearly all of its time.
//!
//! Shifts in y are even, so only the reference's odd rows are ever compared. Laid out by phase
//! (rows `≡ 1` and `≡ 3 (mod 4)`) with empty rows on either side, the 8 reference rows of any
//! shift are contiguous: each plane takes one 512-bit load or two 256-bit ones, and a row
//! displaced outside the map reads an empty mask, exactly as the scalar search skips it. Counts are integers, so the
//! stage finds the same alignments as [`super::joint_count`], bit for bit (tests check).

use std::arch::x86_64::*;

use super::Packed;
use crate::code::{CodeMap, CODE_PLANES, GRID, MASK_PLANE};
use crate::vector::{popcount_bytes, Isa};

/// Probe rows the stage compares: `y = FIRST_ROW + ROW_STEP · k`.
pub(super) const ROW_STEP: usize = 4;
pub(super) const FIRST_ROW: usize = 1;
const ROWS: usize = GRID / ROW_STEP;
/// Empty rows before and after each phase of a reference frame.
const PAD: usize = 4;
const SLOTS: usize = PAD + ROWS + PAD;
/// Largest shift the padding covers (`1 − 14 − 3 = −16 = −4 · PAD`).
const MAX_REACH: i32 = 14;

/// The probe's compared rows, lane-packed as [`Packed`].
#[repr(C, align(32))]
pub(super) struct ScanProbe([[u64; ROWS]; CODE_PLANES + 1]);

impl ScanProbe {
    pub(super) fn new(probe: &Packed) -> Self {
        Self(std::array::from_fn(|p| {
            std::array::from_fn(|k| probe.rows[p][FIRST_ROW + ROW_STEP * k])
        }))
    }
}

/// One reference frame's odd rows, lane-packed: `[plane][phase][PAD + j]` is row
/// `2 · phase + 1 + 4 j`; the padding rows are empty.
#[repr(C, align(32))]
pub(super) struct ScanFrame([[[u64; SLOTS]; 2]; CODE_PLANES + 1]);

impl ScanFrame {
    pub(super) fn new<'a>(maps: impl Iterator<Item = &'a CodeMap>) -> Self {
        let mut rows = [[[0u64; SLOTS]; 2]; CODE_PLANES + 1];
        for (lane, map) in maps.enumerate() {
            for (p, plane) in rows.iter_mut().enumerate() {
                for (phase, slots) in plane.iter_mut().enumerate() {
                    for j in 0..ROWS {
                        let y = 2 * phase + 1 + ROW_STEP * j;
                        slots[PAD + j] |= u64::from(map.row(p, y)) << (32 * lane);
                    }
                }
            }
        }
        Self(rows)
    }
}

/// A first-stage kernel this CPU can run: only [`Kernel::available`] makes one, after detecting
/// its instruction set, so holding a `Kernel` is the proof its `unsafe` code may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Kernel(Isa);

impl Kernel {
    /// The fastest kernel this CPU has, if any covers shifts up to `reach`.
    pub(super) fn for_reach(reach: i32) -> Option<Self> {
        Self::available(reach).next()
    }

    /// Every kernel this CPU has that covers shifts up to `reach` (even, as the stage's step-2
    /// grid centred on 0 requires), fastest first.
    fn available(reach: i32) -> impl Iterator<Item = Self> {
        let covered = reach % 2 == 0 && reach <= MAX_REACH;
        Isa::available().filter(move |_| covered).map(Self)
    }

    /// Calls `visit(dx, dy, distance)` for every shift `-reach..=reach` (step 2) in y, then x,
    /// the order of the scalar search, where any bits are compared; `distance` is
    /// `normalised_distance(joint_count(probe, frame, dx, dy, 4, 1), reference_bits)`.
    pub(super) fn scan(
        self,
        probe: &ScanProbe,
        frame: &ScanFrame,
        reach: i32,
        reference_bits: f32,
        visit: impl FnMut(i32, i32, f32),
    ) {
        debug_assert!(reach % 2 == 0 && reach <= MAX_REACH);
        // SAFETY: a `Kernel` is made only by `available`, after detecting its instruction set
        // (AVX-512 comes with AVX2).
        unsafe { scan_grid(self.0, probe, frame, reach, reference_bits, visit) }
    }
}

/// Shifts per row of the grid, at most (`-MAX_REACH..=MAX_REACH`, step 2), rounded up to
/// whole vectors of 8.
const ROW_SHIFTS: usize = 16;

/// Where one row of the shift grid reads: the probe's rows, and the reference rows of `phase`
/// from slot `start` on.
struct GridRow<'a> {
    probe: &'a ScanProbe,
    frame: &'a [[[u64; SLOTS]; 2]; CODE_PLANES + 1],
    phase: usize,
    start: usize,
}

impl GridRow<'_> {
    /// The reference rows of plane `p` this grid row compares.
    fn reference(&self, p: usize) -> *const u64 {
        self.frame[p][self.phase][self.start..].as_ptr()
    }
}

/// One row of the shift grid: for each shift, differing and compared bits.
struct RowCounts {
    differing: [i32; ROW_SHIFTS],
    compared: [i32; ROW_SHIFTS],
}

/// # Safety
/// The CPU must support AVX2 and `isa`; `reach` even and at most [`MAX_REACH`].
#[target_feature(enable = "avx2")]
unsafe fn scan_grid(
    isa: Isa,
    probe: &ScanProbe,
    frame: &ScanFrame,
    reach: i32,
    reference_bits: f32,
    mut visit: impl FnMut(i32, i32, f32),
) {
    let shifts = (-reach..=reach).step_by(2);
    for dy in (-reach..=reach).step_by(2) {
        // Probe row `1 + 4k` meets reference row `4k + t`, in phase `phase` at slot `start + k`.
        let t = FIRST_ROW as i32 + dy;
        let phase = (t.rem_euclid(4) / 2) as usize;
        let start = (PAD as i32 + (t - (2 * phase as i32 + 1)).div_euclid(4)) as usize;
        let mut row = RowCounts {
            differing: [0; ROW_SHIFTS],
            compared: [0; ROW_SHIFTS],
        };
        let at = GridRow {
            probe,
            frame: &frame.0,
            phase,
            start,
        };
        match isa {
            Isa::Avx512 => count_row_avx512(&at, shifts.clone(), &mut row),
            Isa::Avx2 => count_row_avx2(&at, shifts.clone(), &mut row),
        }
        // The scalar normalisation, 8 shifts at a time: the same IEEE operations in the same
        // order, so the same distances bit for bit (lanes that compared nothing are skipped).
        // SAFETY (loads and stores): the arrays hold `ROW_SHIFTS`, two whole vectors.
        let mut distances = [0f32; ROW_SHIFTS];
        for v in 0..ROW_SHIFTS / 8 {
            let load = |counts: &[i32; ROW_SHIFTS]| {
                _mm256_cvtepi32_ps(_mm256_loadu_si256(counts[8 * v..].as_ptr().cast()))
            };
            let (differing, compared) = (load(&row.differing), load(&row.compared));
            let half = _mm256_set1_ps(0.5);
            let d = _mm256_div_ps(differing, compared);
            let scale = _mm256_sqrt_ps(_mm256_min_ps(
                _mm256_div_ps(compared, _mm256_set1_ps(reference_bits)),
                _mm256_set1_ps(1.5),
            ));
            let distance = _mm256_sub_ps(half, _mm256_mul_ps(_mm256_sub_ps(half, d), scale));
            _mm256_storeu_ps(distances[8 * v..].as_mut_ptr(), distance);
        }
        for (i, dx) in shifts.clone().enumerate() {
            if row.compared[i] > 0 {
                visit(dx, dy, distances[i]);
            }
        }
    }
}

/// Shift counts that displace a row by `dx` cells as `w >> dx` (`dx ≥ 0`) or `w << -dx`: a
/// count of 64 or more empties a lane, so one of the two shifts is a no-op.
#[inline(always)]
fn shift_counts(dx: i32) -> (i32, i32) {
    (if dx >= 0 { dx } else { 64 }, if dx < 0 { -dx } else { 64 })
}

/// Records `(differing, compared cells)` of shift `i`, compared counting every code plane.
#[inline(always)]
fn record(row: &mut RowCounts, i: usize, differing: u32, compared_cells: u32) {
    row.differing[i] = differing as i32;
    row.compared[i] = (compared_cells * CODE_PLANES as u32) as i32;
}

/// One grid row on AVX-512: a plane's 8 rows are one vector.
///
/// # Safety
/// The CPU must support AVX-512F and VPOPCNTDQ; `start + 8 ≤ SLOTS`.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn count_row_avx512(at: &GridRow, shifts: impl Iterator<Item = i32>, row: &mut RowCounts) {
    // SAFETY (loads): 8 words inside each row array; unaligned loads.
    let a: [__m512i; CODE_PLANES + 1] =
        std::array::from_fn(|p| _mm512_loadu_si512(at.probe.0[p].as_ptr().cast()));
    let b: [__m512i; CODE_PLANES + 1] =
        std::array::from_fn(|p| _mm512_loadu_si512(at.reference(p).cast()));
    for (i, dx) in shifts.enumerate() {
        let (right, left) = shift_counts(dx);
        let (right, left) = (_mm_cvtsi32_si128(right), _mm_cvtsi32_si128(left));
        let shift =
            |v: __m512i| _mm512_or_si512(_mm512_srl_epi64(v, right), _mm512_sll_epi64(v, left));
        let keep = _mm512_set1_epi64(super::lane_keep_for(dx) as i64);
        // Truth tables over (a, b, c): 0x80 = a & b & c, 0x28 = (a ^ b) & c.
        let m = _mm512_ternarylogic_epi64::<0x80>(a[MASK_PLANE], shift(b[MASK_PLANE]), keep);
        let d: [__m512i; CODE_PLANES] = std::array::from_fn(|p| {
            _mm512_popcnt_epi64(_mm512_ternarylogic_epi64::<0x28>(a[p], shift(b[p]), m))
        });
        // One sum: differing bits low, compared cells high.
        let fields = _mm512_add_epi64(
            _mm512_add_epi64(d[0], d[1]),
            _mm512_add_epi64(d[2], _mm512_slli_epi64::<32>(_mm512_popcnt_epi64(m))),
        );
        let total = _mm512_reduce_add_epi64(fields) as u64;
        record(row, i, total as u32, (total >> 32) as u32);
    }
}

/// One grid row on AVX2: a plane's 8 rows are two vectors.
///
/// # Safety
/// The CPU must support AVX2; `start + 8 ≤ SLOTS`.
#[target_feature(enable = "avx2")]
unsafe fn count_row_avx2(at: &GridRow, shifts: impl Iterator<Item = i32>, row: &mut RowCounts) {
    // SAFETY (loads): two whole vectors inside each row array; unaligned loads.
    let load = |rows: *const u64| [0, 1].map(|h| _mm256_loadu_si256(rows.add(4 * h).cast()));
    let a: [[__m256i; 2]; CODE_PLANES + 1] = std::array::from_fn(|p| load(at.probe.0[p].as_ptr()));
    let b: [[__m256i; 2]; CODE_PLANES + 1] = std::array::from_fn(|p| load(at.reference(p)));
    for (i, dx) in shifts.enumerate() {
        let (differing, compared) = count_at(&a, &b, dx);
        record(row, i, differing, compared);
    }
}

/// Differing bits and compared cells of the probe rows `a` against the reference rows `b`
/// displaced by `dx` cells.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn count_at(
    a: &[[__m256i; 2]; CODE_PLANES + 1],
    b: &[[__m256i; 2]; CODE_PLANES + 1],
    dx: i32,
) -> (u32, u32) {
    let (right, left) = shift_counts(dx);
    let (right, left) = (_mm_cvtsi32_si128(right), _mm_cvtsi32_si128(left));
    let keep = _mm256_set1_epi64x(super::lane_keep_for(dx) as i64);
    let shift = |v: __m256i| _mm256_or_si256(_mm256_srl_epi64(v, right), _mm256_sll_epi64(v, left));
    // Per byte: differing bits of the 3 planes over both halves (≤ 48), compared cells (≤ 16).
    let mut differing = _mm256_setzero_si256();
    let mut compared = _mm256_setzero_si256();
    for h in 0..2 {
        let m = _mm256_and_si256(
            _mm256_and_si256(a[MASK_PLANE][h], shift(b[MASK_PLANE][h])),
            keep,
        );
        compared = _mm256_add_epi8(compared, popcount_bytes(m));
        for p in 0..CODE_PLANES {
            let x = _mm256_xor_si256(a[p][h], shift(b[p][h]));
            differing = _mm256_add_epi8(differing, popcount_bytes(_mm256_and_si256(x, m)));
        }
    }
    // One 64-bit sum: differing bits low, compared cells high.
    let zero = _mm256_setzero_si256();
    let fields = _mm256_add_epi64(
        _mm256_sad_epu8(differing, zero),
        _mm256_slli_epi64::<32>(_mm256_sad_epu8(compared, zero)),
    );
    let pair = _mm_add_epi64(
        _mm256_castsi256_si128(fields),
        _mm256_extracti128_si256::<1>(fields),
    );
    let total = (_mm_cvtsi128_si64(pair) as u64).wrapping_add(_mm_extract_epi64::<1>(pair) as u64);
    (total as u32, (total >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::{joint_count, normalised_distance};
    use crate::search::quick::tests::random_template;

    #[test]
    fn scan_counts_equal_the_scalar_counts() {
        let kernels: Vec<Kernel> = Kernel::available(MAX_REACH).collect();
        eprintln!("kernels on this CPU: {kernels:?}");
        for (seed, kernel) in (0..6).flat_map(|s| kernels.iter().map(move |&k| (s, k))) {
            let (a, b) = (random_template(seed), random_template(seed + 100));
            let probe = Packed::new(
                [a.print(), a.vein()]
                    .into_iter()
                    .flatten()
                    .map(|c| c.canonical()),
            );
            for frame in 0..b.print().expect("print").frames().len() {
                let maps = || {
                    [b.print(), b.vein()]
                        .into_iter()
                        .flatten()
                        .map(move |c| &c.frames()[frame].map)
                };
                let reference = Packed::new(maps());
                for reach in [10, MAX_REACH] {
                    let mut visited = 0;
                    let bits = 1234.5;
                    kernel.scan(
                        &ScanProbe::new(&probe),
                        &ScanFrame::new(maps()),
                        reach,
                        bits,
                        |dx, dy, distance| {
                            let c = joint_count(&probe, &reference, dx, dy, ROW_STEP, FIRST_ROW);
                            assert!(c.compared > 0);
                            assert_eq!(
                                distance.to_bits(),
                                normalised_distance(c, bits).to_bits(),
                                "{kernel:?} seed {seed} frame {frame} ({dx}, {dy})"
                            );
                            visited += 1;
                        },
                    );
                    // Shifts that compare nothing are not visited.
                    let scalar = (-reach..=reach)
                        .step_by(2)
                        .flat_map(|dy| (-reach..=reach).step_by(2).map(move |dx| (dx, dy)))
                        .filter(|&(dx, dy)| {
                            joint_count(&probe, &reference, dx, dy, ROW_STEP, FIRST_ROW).compared
                                > 0
                        })
                        .count();
                    assert_eq!(visited, scalar);
                    assert!(visited > 0);
                }
            }
        }
    }

    #[test]
    fn reaches_the_padding_cannot_cover_fall_back() {
        assert!(Kernel::for_reach(16).is_none());
        assert!(Kernel::for_reach(31).is_none());
        assert!(Kernel::for_reach(9).is_none());
    }
}
