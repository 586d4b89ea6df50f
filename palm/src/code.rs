//! Bit-packed competitive orientation codes (CompCode family) and their masked, shift-tolerant
//! angular Hamming distance.
//!
//! A code map samples a normalised ROI on a `GRID × GRID` lattice. At each cell a bank of
//! `ORIENTATIONS` even Gabor filters competes; the winner (the most negative response: palm
//! lines and vessels are darker than their surroundings) is the cell's dominant orientation.
//! It is stored in 3 bits with the circular encoding of Kong & Zhang (2004)
//! `0:000 1:001 2:011 3:111 4:110 5:100`, so the Hamming distance between two cells equals
//! their circular orientation difference (0..=3 steps of 30°). A fourth plane is the validity
//! mask: cells outside the image, occluded (band-aid) or without any line energy do not vote.
//!
//! Layout: plane `p` (0..3 code bits, 3 = mask), row `y` is one `u32` (bit `x` = column `x`);
//! two rows share a `u64` (`y` even in the low half). So a map is `4 × GRID/2 = 64` words
//! (512 bytes), exposed as a `&[u64]` for fast pre-selection indexes.

use crate::filters::{Kernel, Plane};

/// Cells per side of a code map.
pub const GRID: usize = 32;
/// Gabor orientations competing per cell.
pub const ORIENTATIONS: usize = 6;
/// Code bit-planes (excluding the mask).
pub const CODE_PLANES: usize = 3;
/// `u64` words per plane.
pub const WORDS_PER_PLANE: usize = GRID / 2;
/// `u64` words per map (3 code planes + mask).
pub const WORDS: usize = (CODE_PLANES + 1) * WORDS_PER_PLANE;
/// Index of the mask plane.
pub const MASK_PLANE: usize = CODE_PLANES;

const CIRCULAR_CODE: [u32; ORIENTATIONS] = [0b000, 0b001, 0b011, 0b111, 0b110, 0b100];

/// One bit-packed orientation code map with its validity mask.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeMap {
    words: [u64; WORDS],
}

impl std::fmt::Debug for CodeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeMap({} valid cells)", self.valid_cells())
    }
}

impl CodeMap {
    /// An all-invalid map.
    pub fn empty() -> Self {
        Self { words: [0; WORDS] }
    }

    pub fn from_words(words: [u64; WORDS]) -> Self {
        Self { words }
    }

    /// The packed words: planes 0..3 code bits, plane 3 the mask (see module doc).
    pub fn words(&self) -> &[u64; WORDS] {
        &self.words
    }

    /// Row `y` of plane `p` as 32 bits (bit x = column x).
    #[inline(always)]
    pub fn row(&self, plane: usize, y: usize) -> u32 {
        (self.words[plane * WORDS_PER_PLANE + y / 2] >> ((y & 1) * 32)) as u32
    }

    fn set_cell(&mut self, x: usize, y: usize, orientation: usize) {
        let bits = CIRCULAR_CODE[orientation];
        let shift = (y & 1) * 32 + x;
        for p in 0..CODE_PLANES {
            if bits >> p & 1 == 1 {
                self.words[p * WORDS_PER_PLANE + y / 2] |= 1 << shift;
            }
        }
        self.words[MASK_PLANE * WORDS_PER_PLANE + y / 2] |= 1 << shift;
    }

    /// Number of cells that vote.
    pub fn valid_cells(&self) -> u32 {
        self.words[MASK_PLANE * WORDS_PER_PLANE..]
            .iter()
            .map(|w| w.count_ones())
            .sum()
    }

    /// Orientation index at a cell, `None` where masked.
    pub fn cell(&self, x: usize, y: usize) -> Option<usize> {
        if self.row(MASK_PLANE, y) >> x & 1 == 0 {
            return None;
        }
        let bits = (0..CODE_PLANES).fold(0, |acc, p| acc | (self.row(p, y) >> x & 1) << p);
        CIRCULAR_CODE.iter().position(|&c| c == bits)
    }
}

/// Filter bank parameters in units of the ROI side, so they hold at any working resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BankParams {
    /// Gaussian envelope σ as a fraction of the ROI side.
    pub sigma: f32,
    /// Cosine wavelength as a fraction of the ROI side.
    pub wavelength: f32,
    /// Minimum winning response (relative to the plane's local contrast, which normalisation
    /// makes ≈ 1) for a cell to vote; below it the cell has no line and its orientation is noise.
    pub min_energy: f32,
}

/// A Gabor bank prepared for one working resolution and one rotation of the sampling frame.
#[derive(Debug, Clone)]
pub struct Bank {
    kernels: Vec<Kernel>,
    angle: f32,
    min_energy: f32,
}

impl Bank {
    /// `side`: working plane side in pixels; `angle`: rotation of the sampling frame (radians).
    pub fn new(params: BankParams, side: usize, angle: f32) -> Self {
        let sigma = params.sigma * side as f32;
        let wavelength = params.wavelength * side as f32;
        let kernels = (0..ORIENTATIONS)
            .map(|k| {
                let theta = angle + k as f32 * std::f32::consts::PI / ORIENTATIONS as f32;
                Kernel::gabor_even(theta, sigma, wavelength)
            })
            .collect();
        Self {
            kernels,
            angle,
            min_energy: params.min_energy,
        }
    }

    /// Encodes `plane` (normalised, square) on the code lattice rotated by this bank's angle
    /// around the plane centre. `valid(x, y)` (plane pixel coordinates) excludes occluded areas.
    pub fn encode(&self, plane: &Plane, valid: &dyn Fn(f32, f32) -> bool) -> CodeMap {
        let side = plane.w as f32;
        let stride = side / GRID as f32;
        let centre = (side - 1.0) / 2.0;
        let (s, c) = self.angle.sin_cos();
        let radius = (self.kernels[0].side / 2) as f32;
        let mut map = CodeMap::empty();
        for gy in 0..GRID {
            for gx in 0..GRID {
                let u = (gx as f32 + 0.5) * stride - 0.5 - centre;
                let v = (gy as f32 + 0.5) * stride - 0.5 - centre;
                let x = centre + u * c - v * s;
                let y = centre + u * s + v * c;
                // The filter must mostly see real image, not replicated borders.
                let margin = -0.5 * radius;
                if x < margin || y < margin || x > side - 1.0 - margin || y > side - 1.0 - margin {
                    continue;
                }
                if !valid(x, y) {
                    continue;
                }
                let (xi, yi) = (x.round() as i32, y.round() as i32);
                let mut best = (0, f32::INFINITY);
                for (k, kernel) in self.kernels.iter().enumerate() {
                    let r = kernel.apply_at(plane, xi, yi);
                    if r < best.1 {
                        best = (k, r);
                    }
                }
                if -best.1 >= self.min_energy {
                    map.set_cell(gx, gy, best.0);
                }
            }
        }
        map
    }
}

/// The banks of one modality at every rotation of the sampling frame kept in a template.
#[derive(Debug, Clone)]
pub struct Coder {
    side: usize,
    banks: Vec<(i8, Bank)>,
}

impl Coder {
    /// `rotations_deg` must start with 0 (the canonical frame).
    pub fn new(params: BankParams, side: usize, rotations_deg: &[i8]) -> Self {
        let banks = rotations_deg
            .iter()
            .map(|&deg| (deg, Bank::new(params, side, f32::from(deg).to_radians())))
            .collect();
        Self { side, banks }
    }

    /// Working plane side the banks are built for.
    pub fn side(&self) -> usize {
        self.side
    }

    /// Encodes a normalised plane of side [`Coder::side`] in every frame.
    pub fn encode(&self, plane: &Plane, valid: &dyn Fn(f32, f32) -> bool) -> Vec<(i8, CodeMap)> {
        debug_assert_eq!(plane.w, self.side);
        self.banks
            .iter()
            .map(|(deg, bank)| (*deg, bank.encode(plane, valid)))
            .collect()
    }
}

/// Bits that differ and bits compared, for one alignment of two maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BitCount {
    pub differing: u32,
    pub compared: u32,
}

/// Compares `a` with `b` displaced by `(dx, dy)` cells (cell `(x, y)` of `a` against
/// `(x + dx, y + dy)` of `b`), over rows `ys`.
#[inline]
pub fn count_at(a: &CodeMap, b: &CodeMap, dx: i32, dy: i32, rows: impl Iterator<Item = usize>) -> BitCount {
    let mut differing = 0;
    let mut compared = 0;
    let shift = |w: u32| if dx >= 0 { w >> dx } else { w << (-dx) };
    for y in rows {
        let yb = y as i32 + dy;
        if yb < 0 || yb >= GRID as i32 {
            continue;
        }
        let yb = yb as usize;
        let m = a.row(MASK_PLANE, y) & shift(b.row(MASK_PLANE, yb));
        let d0 = (a.row(0, y) ^ shift(b.row(0, yb))) & m;
        let d1 = (a.row(1, y) ^ shift(b.row(1, yb))) & m;
        let d2 = (a.row(2, y) ^ shift(b.row(2, yb))) & m;
        // Pack two 32-bit counts per popcount: fewer popcounts on targets without POPCNT.
        differing += (u64::from(d0) | u64::from(d1) << 32).count_ones() + d2.count_ones();
        compared += m.count_ones();
    }
    BitCount {
        differing,
        compared: compared * CODE_PLANES as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circular_code_hamming_is_angular_distance() {
        for a in 0..ORIENTATIONS {
            for b in 0..ORIENTATIONS {
                let d = (CIRCULAR_CODE[a] ^ CIRCULAR_CODE[b]).count_ones() as usize;
                let circ = (a as i32 - b as i32)
                    .rem_euclid(6)
                    .min((b as i32 - a as i32).rem_euclid(6));
                assert_eq!(d, circ as usize);
            }
        }
    }

    #[test]
    fn cells_round_trip_and_shifted_compare_aligns() {
        let mut a = CodeMap::empty();
        let mut b = CodeMap::empty();
        for y in 0..GRID {
            for x in 0..GRID {
                a.set_cell(x, y, (x * 7 + y * 3) % 6);
                if x >= 2 && y >= 1 {
                    // b is a displaced by (+2, +1) cells.
                    b.set_cell(x, y, ((x - 2) * 7 + (y - 1) * 3) % 6);
                }
            }
        }
        assert_eq!(a.cell(5, 9), Some((5 * 7 + 9 * 3) % 6));
        let aligned = count_at(&a, &b, 2, 1, 0..GRID);
        assert_eq!(aligned.differing, 0);
        assert_eq!(aligned.compared, 3 * 30 * 31);
        let misaligned = count_at(&a, &b, 0, 0, 0..GRID);
        assert!(misaligned.differing * 4 > misaligned.compared);
    }
}
