//! Further gallery identities derived from real templates, for search benchmarks at N = 1M
//! where rendering and extracting a million captures is out of reach.
//!
//! A derived identity applies to every code map of a real template (all rotation variants, both
//! modalities) one secret permutation of its 4 × 4 blocks of 8 × 8 cells and one orientation
//! offset (all orientations turned by k × 30°). The result keeps the local statistics of real
//! codes (line density, mask shape per block, orientation coherence), so the pre-selection and
//! the matcher see realistic work, yet compares with its source like an unrelated palm.

use super::quick::QuickRef;
use crate::code::{CodeMap, CODE_PLANES, GRID, MASK_PLANE, WORDS, WORDS_PER_PLANE};
use crate::template::{ModalityCode, Template};

const BLOCK: usize = 8;
const SIDE: usize = GRID / BLOCK;

/// One derivation: a block permutation and an orientation offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Derivation {
    /// `perm[dest block] = source block`, blocks numbered row-major.
    perm: [u8; SIDE * SIDE],
    /// Orientation offset in 30° steps, 1..=5 (never 0, so no block keeps its code).
    offset: u8,
}

/// SplitMix64 step (deterministic derivations and test data).
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Derivation {
    /// The derivation numbered `id` (deterministic).
    pub fn new(id: u64) -> Self {
        let mut state = id ^ 0x5eed_0f9a_11e7;
        let mut perm: [u8; SIDE * SIDE] = std::array::from_fn(|i| i as u8);
        for i in (1..perm.len()).rev() {
            let j = (splitmix(&mut state) % (i as u64 + 1)) as usize;
            perm.swap(i, j);
        }
        let offset = 1 + (splitmix(&mut state) % 5) as u8;
        Self { perm, offset }
    }

    /// Applies the derivation to one code map.
    pub fn map(&self, src: &CodeMap) -> CodeMap {
        let mut rows = [[0u32; GRID]; CODE_PLANES + 1];
        for (dest, &source) in self.perm.iter().enumerate() {
            let (dx, dy) = (dest % SIDE * BLOCK, dest / SIDE * BLOCK);
            let (sx, sy) = (
                source as usize % SIDE * BLOCK,
                source as usize / SIDE * BLOCK,
            );
            for r in 0..BLOCK {
                for (p, plane) in rows.iter_mut().enumerate() {
                    let byte = (src.row(p, sy + r) >> sx) & 0xff;
                    plane[dy + r] |= byte << dx;
                }
            }
        }
        // Turn orientations: one 30° step maps the circular code (b2 b1 b0) to (b1 b0 ¬b2),
        // restricted to valid cells.
        for _ in 0..self.offset {
            let turned: [u32; GRID] = std::array::from_fn(|y| !rows[2][y] & rows[MASK_PLANE][y]);
            rows = [turned, rows[0], rows[1], rows[MASK_PLANE]];
        }
        let mut words = [0u64; WORDS];
        for (p, plane) in rows.iter().enumerate() {
            for y in 0..GRID {
                words[p * WORDS_PER_PLANE + y / 2] |= u64::from(plane[y]) << ((y & 1) * 32);
            }
        }
        CodeMap::from_words(words)
    }

    /// The pre-selection code of the derived template, from the canonical maps alone (what a
    /// million-person benchmark gallery stores; equals `QuickRef::new(&self.template(src))`).
    pub fn quick_ref(&self, src: &Template) -> QuickRef {
        let [print, vein] = [src.print(), src.vein()].map(|c| c.map(|c| self.map(c.canonical())));
        QuickRef::from_canonical([print.as_ref(), vein.as_ref()])
    }

    /// Applies the derivation to every map of a template.
    pub fn template(&self, src: &Template) -> Template {
        let code = |c: Option<&ModalityCode>| {
            c.map(|c| {
                ModalityCode::new(
                    c.variants()
                        .iter()
                        .map(|(a, m)| (*a, self.map(m)))
                        .collect(),
                )
                .expect("variants keep their order")
            })
        };
        Template::new(code(src.print()), code(src.vein())).expect("a template keeps its modalities")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(f: impl Fn(usize, usize) -> Option<usize>) -> CodeMap {
        const CODE: [u64; 6] = [0b000, 0b001, 0b011, 0b111, 0b110, 0b100];
        let mut words = [0u64; WORDS];
        for y in 0..GRID {
            for x in 0..GRID {
                if let Some(o) = f(x, y) {
                    let shift = (y & 1) * 32 + x;
                    for p in 0..CODE_PLANES {
                        if CODE[o] >> p & 1 == 1 {
                            words[p * WORDS_PER_PLANE + y / 2] |= 1 << shift;
                        }
                    }
                    words[MASK_PLANE * WORDS_PER_PLANE + y / 2] |= 1 << shift;
                }
            }
        }
        CodeMap::from_words(words)
    }

    #[test]
    fn derivation_moves_blocks_and_turns_orientations() {
        let src = field(|x, y| {
            if (x + y) % 7 == 0 {
                None
            } else {
                Some((x / 8 + 2 * (y / 8)) % 6)
            }
        });
        let d = Derivation::new(42);
        let out = d.map(&src);
        assert_eq!(out.valid_cells(), src.valid_cells());
        for dest in 0..16 {
            let s = d.perm[dest] as usize;
            let (dx, dy, sx, sy) = (dest % 4 * 8, dest / 4 * 8, s % 4 * 8, s / 4 * 8);
            for r in 0..8 {
                for c in 0..8 {
                    let want = src
                        .cell(sx + c, sy + r)
                        .map(|o| (o + d.offset as usize) % 6);
                    assert_eq!(out.cell(dx + c, dy + r), want);
                }
            }
        }
    }

    #[test]
    fn derived_quick_ref_equals_that_of_the_derived_template() {
        use crate::search::quick::{tests::random_template, QuickProbe};
        let src = random_template(3);
        let d = Derivation::new(11);
        let derived = d.template(&src);
        let probe = QuickProbe::new(&random_template(4), [0.4, 0.6]);
        let stage = crate::search::cascade::Cascade::default().coarse;
        assert_eq!(
            probe.search(&d.quick_ref(&src), &stage),
            probe.search(&QuickRef::new(&derived), &stage)
        );
    }

    #[test]
    fn derivations_differ() {
        let a = Derivation::new(1);
        assert_eq!(a, Derivation::new(1));
        let distinct = (0..200)
            .map(Derivation::new)
            .collect::<std::collections::HashSet<_>>()
            .len();
        assert_eq!(distinct, 200);
        assert!((0..200).all(|i| (1..=5).contains(&Derivation::new(i).offset)));
    }
}
