//! Pre-selection sketches: a coarse, shift-tolerant summary of an orientation-code map.
//!
//! The map is pooled over `block × block` cells; each block keeps its dominant orientation
//! (majority vote of the valid cells), written with the circular 3-bit code of the competitive
//! coding family (`0:000 1:001 2:011 3:111 4:110 5:100`), so the Hamming distance between two
//! blocks is their angular difference in 30° steps. Pooling makes the sketch robust to the few
//! cells of residual translation the full matcher searches over, and a 32×32 map pooled by 4
//! fits in 3 words (24 bytes) instead of 512 bytes.
//!
//! Layout: bit-plane `p` of block `b` is bit `b % 64` of word `p · W + b / 64`, with
//! `W = ceil(blocks / 64)` words per plane.

/// Orientations of the code family the sketch encodes.
pub const ORIENTATIONS: usize = 6;
const CIRCULAR_CODE: [u64; ORIENTATIONS] = [0b000, 0b001, 0b011, 0b111, 0b110, 0b100];
const PLANES: usize = 3;

/// Words of a sketch of a `grid × grid` map pooled by `block`.
pub fn words_for(grid: usize, block: usize) -> usize {
    let blocks = grid.div_ceil(block).pow(2);
    PLANES * blocks.div_ceil(64)
}

/// Sketch of the orientation field `cell(x, y)` (`None` = masked) of a `grid × grid` map.
/// A block without valid cells is written as orientation 0 (it costs at most 3 bits of
/// distance against anything, like a disagreement).
pub fn sketch(grid: usize, block: usize, cell: impl Fn(usize, usize) -> Option<usize>) -> Vec<u64> {
    assert!(block > 0 && grid > 0, "empty sketch geometry");
    let side = grid.div_ceil(block);
    let per_plane = (side * side).div_ceil(64);
    let mut words = vec![0u64; PLANES * per_plane];
    for by in 0..side {
        for bx in 0..side {
            let mut votes = [0u16; ORIENTATIONS];
            for y in by * block..((by + 1) * block).min(grid) {
                for x in bx * block..((bx + 1) * block).min(grid) {
                    if let Some(o) = cell(x, y) {
                        votes[o % ORIENTATIONS] += 1;
                    }
                }
            }
            // Circular smoothing: a vote also counts half for its neighbours, so a block split
            // between two adjacent orientations does not flip on one cell.
            let score = |o: usize| {
                2 * votes[o]
                    + votes[(o + 1) % ORIENTATIONS]
                    + votes[(o + ORIENTATIONS - 1) % ORIENTATIONS]
            };
            let dominant = (0..ORIENTATIONS)
                .max_by_key(|&o| (score(o), std::cmp::Reverse(o)))
                .unwrap_or(0);
            let b = by * side + bx;
            for p in 0..PLANES {
                if CIRCULAR_CODE[dominant] >> p & 1 == 1 {
                    words[p * per_plane + b / 64] |= 1 << (b % 64);
                }
            }
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::gallery::hamming;

    #[test]
    fn geometry() {
        assert_eq!(words_for(32, 4), 3);
        assert_eq!(words_for(32, 8), 3);
        assert_eq!(words_for(32, 2), 12);
    }

    #[test]
    fn uniform_fields_differ_by_their_angular_distance() {
        let field = |o: usize| sketch(32, 4, move |_, _| Some(o));
        for a in 0..ORIENTATIONS {
            for b in 0..ORIENTATIONS {
                let steps = (a as i32 - b as i32)
                    .rem_euclid(6)
                    .min((b as i32 - a as i32).rem_euclid(6));
                assert_eq!(u32::from(hamming(&field(a), &field(b))), 64 * steps as u32);
            }
        }
    }

    #[test]
    fn a_small_shift_changes_few_blocks() {
        // Stripes of orientation 8 cells wide: shifting by one cell moves 1/8 of each block's
        // votes, so the dominant orientation mostly stays.
        let f = |dx: usize| sketch(32, 4, move |x, y| Some(((x + dx) / 8 + y / 8) % 6));
        let same = hamming(&f(0), &f(1));
        let far = hamming(&f(0), &f(8));
        assert!(same < far / 2, "shift 1: {same}, shift 8: {far}");
    }

    #[test]
    fn masked_blocks_are_orientation_zero() {
        let s = sketch(32, 4, |_, _| None);
        assert!(s.iter().all(|&w| w == 0));
    }
}
