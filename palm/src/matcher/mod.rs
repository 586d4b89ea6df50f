//! 1:1 comparison of two modality codes: masked angular Hamming distance, minimised over a few
//! rotations (pre-computed in the template) and translations of ±`max_shift` cells.
//!
//! The search is two-stage to stay near 1 µs per comparison: every alignment is first scored on
//! a quarter of the rows, then only the best few are scored on all rows. The final distance is
//! normalised for the number of bits compared (Daugman's rescaling), so that a heavily masked
//! comparison, whose distance is noisier, cannot reach a low distance by chance:
//! `d' = 0.5 − (0.5 − d) · sqrt(n / REFERENCE_BITS)`.
//!
//! The similarity returned is `1 − d'`: about 0.5 for unrelated palms, 1.0 for identical codes.

use crate::code::{coarse_count, BitCount, CodeMap, COARSE_BLOCK, CODE_PLANES, GRID, MASK_PLANE};
use crate::template::ModalityCode;

#[cfg(target_arch = "x86_64")]
mod scan;

/// Bits compared by a typical, unoccluded pair after alignment.
pub(crate) const REFERENCE_BITS: f32 = (CODE_PLANES * 350) as f32;
/// Coarse-stage counterpart of [`REFERENCE_BITS`].
const COARSE_REFERENCE_BITS: f32 = (CODE_PLANES * 24) as f32;
/// Fewer compared bits than this: no score (mostly occluded or barely overlapping).
const MIN_BITS: u32 = (CODE_PLANES * 60) as u32;

/// Coarse-stage alignments worth refining when the first stage is the 8 × 8 coarse code.
pub const CANDIDATES: usize = 10;
/// Fine-scan alignments refined by default: the fine first stage ranks alignments well, so 4
/// suffice (seed 31, 100 × 10: fused EER 0.48 %, against 1.75 % for 10 coarse candidates).
const FINE_CANDIDATES: usize = 4;
/// Upper bound of [`SearchRange::candidates`].
pub const MAX_CANDIDATES: usize = 64;

/// The search range of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchRange {
    /// Coarse translations tried: `-max_shift..=max_shift` coarse cells (1/8 of the ROI) in x
    /// and y; the fine stage refines by ±2 fine cells around each.
    pub max_shift: i32,
    /// Coarse alignments kept for the fine stage (more: fewer missed genuine alignments).
    pub candidates: usize,
    /// First stage on the fine codes (every 4th row, shifts on a step-2 grid) instead of the
    /// 8 × 8 coarse codes.
    pub fine_scan: bool,
}

impl Default for SearchRange {
    fn default() -> Self {
        Self {
            max_shift: 2,
            candidates: FINE_CANDIDATES,
            fine_scan: true,
        }
    }
}

/// The best alignment found and its similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    pub similarity: f32,
    pub rotation_deg: i8,
    pub scale: u8,
    pub dx: i32,
    pub dy: i32,
    pub compared_bits: u32,
}

/// Similarity of `probe` (canonical frame) against `reference`'s frames, alone.
pub fn compare(
    probe: &ModalityCode,
    reference: &ModalityCode,
    range: SearchRange,
) -> Option<Alignment> {
    let (scores, alignment) = compare_joint(&[(probe, reference)], range)?;
    Some(Alignment {
        similarity: scores[0]?,
        ..alignment
    })
}

/// Modalities a joint comparison packs into one `u64` row: modality `i` is lane `i` (bits
/// `32 i .. 32 i + 32`), so one 64-bit operation compares a row of both modalities.
pub const MAX_JOINT: usize = 2;

/// Rows of up to [`MAX_JOINT`] code maps, lane-packed: `rows[p][y]` holds row `y` of plane `p`
/// of every modality (see [`MAX_JOINT`]).
#[derive(Clone, Copy)]
pub(crate) struct Packed {
    pub(crate) rows: [[u64; GRID]; CODE_PLANES + 1],
}

impl Packed {
    pub(crate) fn new<'a>(maps: impl Iterator<Item = &'a CodeMap>) -> Self {
        let mut rows = [[0u64; GRID]; CODE_PLANES + 1];
        for (lane, map) in maps.enumerate() {
            for (p, plane) in rows.iter_mut().enumerate() {
                for (y, row) in plane.iter_mut().enumerate() {
                    *row |= u64::from(map.row(p, y)) << (32 * lane);
                }
            }
        }
        Self { rows }
    }
}

/// Per-lane bit positions kept after displacing a packed row by `dx` cells: `KEEP[dx + 31]`
/// drops the bits that crossed from one lane into the other.
const fn lane_keep() -> [u64; 2 * GRID - 1] {
    let mut out = [0u64; 2 * GRID - 1];
    let mut i = 0;
    while i < 2 * GRID - 1 {
        let dx = i as i32 - (GRID as i32 - 1);
        let lane: u64 = if dx >= 0 {
            u32::MAX as u64 >> dx
        } else {
            (u32::MAX << (-dx)) as u64
        };
        out[i] = lane | lane << 32;
        i += 1;
    }
    out
}
const KEEP: [u64; 2 * GRID - 1] = lane_keep();

/// [`KEEP`] for a displacement of `dx` cells (`|dx| < GRID`).
#[inline(always)]
pub(crate) fn lane_keep_for(dx: i32) -> u64 {
    KEEP[(dx + GRID as i32 - 1) as usize]
}

/// Row `y` of `a` against row `yb` of `b` displaced by `dx` cells (`keep`: [`lane_keep_for`]
/// `dx`): the cells both compare, and each code plane's differing bits among them.
#[inline(always)]
fn row_bits(
    a: &Packed,
    b: &Packed,
    y: usize,
    yb: usize,
    dx: i32,
    keep: u64,
) -> (u64, [u64; CODE_PLANES]) {
    let sh = |w: u64| if dx >= 0 { w >> dx } else { w << (-dx) };
    let m = a.rows[MASK_PLANE][y] & sh(b.rows[MASK_PLANE][yb]) & keep;
    (
        m,
        std::array::from_fn(|p| (a.rows[p][y] ^ sh(b.rows[p][yb])) & m),
    )
}

/// Per-lane differing and compared bits of `a` against `b` displaced by `(dx, dy)` cells
/// (cell `(x, y)` of `a` against `(x + dx, y + dy)` of `b`), over rows `y ≡ 0 (mod step)`.
/// `|dx|, |dy| < GRID`.
#[inline(always)]
pub(crate) fn packed_count(
    a: &Packed,
    b: &Packed,
    dx: i32,
    dy: i32,
    step: usize,
) -> [BitCount; MAX_JOINT] {
    let keep = lane_keep_for(dx);
    // Rows y of a with y + dy inside b.
    let first = (-dy).max(0) as usize;
    let first = first.div_ceil(step) * step;
    let last = (GRID as i32 - dy.max(0)) as usize;
    let (mut d_lo, mut d_hi, mut m_lo, mut m_hi) = (0u32, 0u32, 0u32, 0u32);
    const LO: u64 = u32::MAX as u64;
    let mut y = first;
    while y < last {
        let (m, [d0, d1, d2]) = row_bits(a, b, y, (y as i32 + dy) as usize, dx, keep);
        d_lo += (d0 & LO).count_ones() + (d1 & LO).count_ones() + (d2 & LO).count_ones();
        d_hi += (d0 >> 32).count_ones() + (d1 >> 32).count_ones() + (d2 >> 32).count_ones();
        m_lo += (m & LO).count_ones();
        m_hi += (m >> 32).count_ones();
        y += step;
    }
    let planes = CODE_PLANES as u32;
    [
        BitCount {
            differing: d_lo,
            compared: m_lo * planes,
        },
        BitCount {
            differing: d_hi,
            compared: m_hi * planes,
        },
    ]
}

/// Joint (all lanes) differing and compared bits over rows `y ≡ offset (mod step)`, for the
/// alignment search.
#[inline(always)]
pub(crate) fn joint_count(
    a: &Packed,
    b: &Packed,
    dx: i32,
    dy: i32,
    step: usize,
    offset: usize,
) -> BitCount {
    let keep = lane_keep_for(dx);
    // First row y ≥ max(0, −dy) with y ≡ offset (mod step).
    let lowest = (-dy).max(0) as usize;
    let first = lowest.saturating_sub(offset).div_ceil(step) * step + offset;
    let last = (GRID as i32 - dy.max(0)) as usize;
    let (mut differing, mut compared) = (0u32, 0u32);
    let mut y = first;
    while y < last {
        let (m, [d0, d1, d2]) = row_bits(a, b, y, (y as i32 + dy) as usize, dx, keep);
        differing += d0.count_ones() + d1.count_ones() + d2.count_ones();
        compared += m.count_ones();
        y += step;
    }
    BitCount {
        differing,
        compared: compared * CODE_PLANES as u32,
    }
}

/// Aligns several modalities of one capture pair jointly (they share the pose: a paired
/// capture's images are registered) and returns each modality's similarity at the common
/// best alignment (`None` where too few bits overlap), plus that alignment (`similarity` =
/// joint similarity). At most [`MAX_JOINT`] modalities (panics otherwise: a programming error).
pub fn compare_joint(
    pairs: &[(&ModalityCode, &ModalityCode)],
    range: SearchRange,
) -> Option<(Vec<Option<f32>>, Alignment)> {
    assert!(pairs.len() <= MAX_JOINT, "at most {MAX_JOINT} modalities");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports POPCNT (checked just above).
        return unsafe { compare_joint_popcnt(pairs, range) };
    }
    compare_joint_generic(pairs, range)
}

/// [`compare_joint_generic`] compiled with the POPCNT instruction (the default x86-64 target
/// lacks it and counts bits in ~15 instructions instead of one).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn compare_joint_popcnt(
    pairs: &[(&ModalityCode, &ModalityCode)],
    range: SearchRange,
) -> Option<(Vec<Option<f32>>, Alignment)> {
    compare_joint_generic(pairs, range)
}

#[inline(always)]
fn compare_joint_generic(
    pairs: &[(&ModalityCode, &ModalityCode)],
    range: SearchRange,
) -> Option<(Vec<Option<f32>>, Alignment)> {
    let frames = pairs.iter().map(|(_, r)| r.frames().len()).min()?;
    // First stage: every frame and shift, either on the 8 × 8 coarse codes or (`fine_scan`)
    // on the fine codes' every 4th row at shifts on a step-2 grid. The best `keep` are kept
    // sorted in a small array (insertion: no allocation, no full selection). Candidates are
    // `(distance, frame, dx, dy)` with shifts in fine cells.
    let keep = range.candidates.clamp(1, MAX_CANDIDATES);
    let mut top = [(f32::INFINITY, 0usize, 0i32, 0i32); MAX_CANDIDATES];
    let mut found = 0usize;
    let mut offer = |d: f32, f: usize, dx: i32, dy: i32| {
        if found == keep && d >= top[keep - 1].0 {
            return;
        }
        let mut i = found.min(keep - 1);
        while i > 0 && top[i - 1].0 > d {
            top[i] = top[i - 1];
            i -= 1;
        }
        top[i] = (d, f, dx, dy);
        found = (found + 1).min(keep);
    };
    let probe = Packed::new(pairs.iter().map(|(p, _)| p.canonical()));
    let mut packed: Vec<(usize, Packed)> =
        Vec::with_capacity(if range.fine_scan { frames } else { keep });
    let reference_bits = REFERENCE_BITS * pairs.len() as f32;
    if range.fine_scan {
        let reach = (4 * range.max_shift + 2).min(GRID as i32 - 1);
        let maps = |f: usize| pairs.iter().map(move |(_, r)| &r.frames()[f].map);
        #[cfg(target_arch = "x86_64")]
        let kernel = scan::Kernel::for_reach(reach);
        #[cfg(not(target_arch = "x86_64"))]
        let kernel: Option<std::convert::Infallible> = None;
        match kernel {
            // The fine stage packs the few frames it refines on demand.
            #[cfg(target_arch = "x86_64")]
            Some(kernel) => {
                let scan_probe = scan::ScanProbe::new(&probe);
                for f in 0..frames {
                    let frame = scan::ScanFrame::new(maps(f));
                    kernel.scan(
                        &scan_probe,
                        &frame,
                        reach,
                        reference_bits / 4.0,
                        |dx, dy, d| offer(d, f, dx, dy),
                    );
                }
            }
            _ => {
                for f in 0..frames {
                    let reference = Packed::new(maps(f));
                    for dy in (-reach..=reach).step_by(2) {
                        for dx in (-reach..=reach).step_by(2) {
                            let c = joint_count(&probe, &reference, dx, dy, 4, 1);
                            if c.compared > 0 {
                                offer(normalised_distance(c, reference_bits / 4.0), f, dx, dy);
                            }
                        }
                    }
                    packed.push((f, reference));
                }
            }
        }
    } else {
        let coarse_reference = COARSE_REFERENCE_BITS * pairs.len() as f32;
        let block = COARSE_BLOCK as i32;
        for f in 0..frames {
            for dy in -range.max_shift..=range.max_shift {
                for dx in -range.max_shift..=range.max_shift {
                    let mut c = BitCount::default();
                    for (p, r) in pairs {
                        let x = coarse_count(p.coarse(), &r.frames()[f].coarse, dx, dy);
                        c.differing += x.differing;
                        c.compared += x.compared;
                    }
                    if c.compared > 0 {
                        offer(
                            normalised_distance(c, coarse_reference),
                            f,
                            dx * block,
                            dy * block,
                        );
                    }
                }
            }
        }
    }
    if found == 0 {
        return None;
    }
    let coarse = &top[..found];
    // Fine stage: around each candidate, a step-2 then a step-1 search on every other row.
    let mut best = (f32::INFINITY, 0usize, 0i32, 0i32);
    let mut best_slot = 0;
    for &(_, f, cx, cy) in coarse {
        let slot = match packed.iter().position(|(g, _)| *g == f) {
            Some(i) => i,
            None => {
                let maps = pairs.iter().map(|(_, r)| &r.frames()[f].map);
                packed.push((f, Packed::new(maps)));
                packed.len() - 1
            }
        };
        let reference = &packed[slot].1;
        let (mut bx, mut by) = (cx, cy);
        for step in [2, 1] {
            let (mut lx, mut ly, mut ld) = (bx, by, f32::INFINITY);
            for dy in [-step, 0, step] {
                for dx in [-step, 0, step] {
                    let (x, y) = (bx + dx, by + dy);
                    if x.abs() >= GRID as i32 || y.abs() >= GRID as i32 {
                        continue;
                    }
                    let c = joint_count(&probe, reference, x, y, 2, 0);
                    if c.compared == 0 {
                        continue;
                    }
                    let d = normalised_distance(c, reference_bits / 2.0);
                    if d < ld {
                        (lx, ly, ld) = (x, y, d);
                    }
                }
            }
            (bx, by) = (lx, ly);
            if step == 1 && ld < best.0 {
                best = (ld, f, bx, by);
                best_slot = slot;
            }
        }
    }
    let (_, f, dx, dy) = best;
    if !best.0.is_finite() {
        return None;
    }
    let lanes = packed_count(&probe, &packed[best_slot].1, dx, dy, 1);
    let mut total = BitCount::default();
    let scores = lanes[..pairs.len()]
        .iter()
        .map(|&c| {
            total.differing += c.differing;
            total.compared += c.compared;
            (c.compared >= MIN_BITS).then(|| 1.0 - normalised_distance(c, REFERENCE_BITS))
        })
        .collect();
    let frame = &pairs[0].1.frames()[f];
    let alignment = Alignment {
        similarity: 1.0 - normalised_distance(total, reference_bits),
        rotation_deg: frame.rotation_deg,
        scale: frame.scale,
        dx,
        dy,
        compared_bits: total.compared,
    };
    Some((scores, alignment))
}

/// Distance rescaled for the number of bits compared relative to `reference` bits.
#[inline(always)]
pub(crate) fn normalised_distance(c: BitCount, reference: f32) -> f32 {
    let d = c.differing as f32 / c.compared as f32;
    0.5 - (0.5 - d) * (c.compared as f32 / reference).min(1.5).sqrt()
}
