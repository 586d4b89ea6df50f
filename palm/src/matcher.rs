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

use crate::code::{count_at, BitCount, CodeMap, CODE_PLANES, GRID};
use crate::template::ModalityCode;

/// Bits compared by a typical, unoccluded pair after alignment.
const REFERENCE_BITS: f32 = (CODE_PLANES * 700) as f32;
/// Fewer compared bits than this: no score (mostly occluded or barely overlapping).
const MIN_BITS: u32 = (CODE_PLANES * 120) as u32;
/// Alignments kept from the coarse stage for exact scoring.
const REFINE: usize = 3;

/// The search range of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchRange {
    /// Translations tried: `-max_shift..=max_shift` cells in x and y.
    pub max_shift: i32,
}

impl Default for SearchRange {
    fn default() -> Self {
        Self { max_shift: 3 }
    }
}

/// The best alignment found and its similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    pub similarity: f32,
    pub rotation_deg: i8,
    pub dx: i32,
    pub dy: i32,
    pub compared_bits: u32,
}

/// Similarity of `probe` (canonical frame) against all of `reference`'s rotated frames.
/// `None` when too few bits overlap to decide anything.
pub fn compare(probe: &ModalityCode, reference: &ModalityCode, range: SearchRange) -> Option<Alignment> {
    let a = probe.canonical();
    let mut coarse: Vec<(f32, usize, i32, i32)> = Vec::with_capacity(reference.variants().len() * 49);
    for (v, (_, b)) in reference.variants().iter().enumerate() {
        for dy in -range.max_shift..=range.max_shift {
            for dx in -range.max_shift..=range.max_shift {
                let c = count_at(a, b, dx, dy, (1..GRID).step_by(4));
                if c.compared > 0 {
                    coarse.push((normalised_distance(c, 4.0), v, dx, dy));
                }
            }
        }
    }
    let keep = REFINE.min(coarse.len());
    if keep == 0 {
        return None;
    }
    coarse.select_nth_unstable_by(keep - 1, |x, y| x.0.total_cmp(&y.0));
    coarse[..keep]
        .iter()
        .filter_map(|&(_, v, dx, dy)| {
            let (angle, b) = &reference.variants()[v];
            let c = full(a, b, dx, dy);
            (c.compared >= MIN_BITS).then(|| Alignment {
                similarity: 1.0 - normalised_distance(c, 1.0),
                rotation_deg: *angle,
                dx,
                dy,
                compared_bits: c.compared,
            })
        })
        .max_by(|x, y| x.similarity.total_cmp(&y.similarity))
}

fn full(a: &CodeMap, b: &CodeMap, dx: i32, dy: i32) -> BitCount {
    count_at(a, b, dx, dy, 0..GRID)
}

/// Distance rescaled for the number of compared bits; `subsample` is the row subsampling factor
/// of the count (the coarse stage sees a quarter of the rows).
fn normalised_distance(c: BitCount, subsample: f32) -> f32 {
    let d = c.differing as f32 / c.compared as f32;
    0.5 - (0.5 - d) * (c.compared as f32 * subsample / REFERENCE_BITS).min(1.5).sqrt()
}
