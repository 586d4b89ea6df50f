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

use crate::code::{coarse_count, count_at, BitCount, COARSE_BLOCK, CODE_PLANES, GRID};
use crate::template::ModalityCode;

/// Bits compared by a typical, unoccluded pair after alignment.
const REFERENCE_BITS: f32 = (CODE_PLANES * 350) as f32;
/// Coarse-stage counterpart of [`REFERENCE_BITS`].
const COARSE_REFERENCE_BITS: f32 = (CODE_PLANES * 24) as f32;
/// Fewer compared bits than this: no score (mostly occluded or barely overlapping).
const MIN_BITS: u32 = (CODE_PLANES * 60) as u32;
/// Coarse alignments kept for the fine stage.
const CANDIDATES: usize = 10;

/// The search range of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchRange {
    /// Coarse translations tried: `-max_shift..=max_shift` coarse cells (1/8 of the ROI) in x
    /// and y; the fine stage refines by ±2 fine cells around each.
    pub max_shift: i32,
}

impl Default for SearchRange {
    fn default() -> Self {
        Self { max_shift: 2 }
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

/// Aligns several modalities of one capture pair jointly (they share the pose: a paired
/// capture's images are registered) and returns each modality's similarity at the common
/// best alignment (`None` where too few bits overlap), plus that alignment (`similarity` =
/// joint similarity).
pub fn compare_joint(
    pairs: &[(&ModalityCode, &ModalityCode)],
    range: SearchRange,
) -> Option<(Vec<Option<f32>>, Alignment)> {
    let frames = pairs.iter().map(|(_, r)| r.frames().len()).min()?;
    // Coarse stage: every frame and coarse shift, on the 8 × 8 codes.
    let mut coarse: Vec<(f32, usize, i32, i32)> = Vec::with_capacity(frames * 25);
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
                    coarse.push((
                        normalised_distance(c, COARSE_REFERENCE_BITS * pairs.len() as f32),
                        f,
                        dx,
                        dy,
                    ));
                }
            }
        }
    }
    let keep = CANDIDATES.min(coarse.len());
    if keep == 0 {
        return None;
    }
    coarse.select_nth_unstable_by(keep - 1, |x, y| x.0.total_cmp(&y.0));
    // Fine stage: around each candidate, a step-2 then a step-1 search on every other row.
    let reference_bits = REFERENCE_BITS * pairs.len() as f32;
    let joint = |f: usize, dx: i32, dy: i32, step: usize| -> BitCount {
        let mut c = BitCount::default();
        for (p, r) in pairs {
            let x = count_at(
                p.canonical(),
                &r.frames()[f].map,
                dx,
                dy,
                (0..GRID).step_by(step),
            );
            c.differing += x.differing;
            c.compared += x.compared;
        }
        c
    };
    let mut best = (f32::INFINITY, 0usize, 0i32, 0i32);
    for &(_, f, cx, cy) in &coarse[..keep] {
        let (mut bx, mut by) = (cx * COARSE_BLOCK as i32, cy * COARSE_BLOCK as i32);
        for step in [2, 1] {
            let (mut lx, mut ly, mut ld) = (bx, by, f32::INFINITY);
            for dy in [-step, 0, step] {
                for dx in [-step, 0, step] {
                    let (x, y) = (bx + dx, by + dy);
                    if x.abs() >= GRID as i32 || y.abs() >= GRID as i32 {
                        continue;
                    }
                    let c = joint(f, x, y, 2);
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
            }
        }
    }
    let (_, f, dx, dy) = best;
    if !best.0.is_finite() {
        return None;
    }
    let mut total = BitCount::default();
    let scores = pairs
        .iter()
        .map(|(p, r)| {
            let c = count_at(p.canonical(), &r.frames()[f].map, dx, dy, 0..GRID);
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
fn normalised_distance(c: BitCount, reference: f32) -> f32 {
    let d = c.differing as f32 / c.compared as f32;
    0.5 - (0.5 - d) * (c.compared as f32 / reference).min(1.5).sqrt()
}
