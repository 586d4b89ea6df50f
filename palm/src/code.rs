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

/// A cell's 3 code bits, with its mask bit inverted as bit 3 → its orientation index, or
/// [`CodeMap::MASKED`] for a masked cell and for the two unused patterns: one lookup and no
/// branch per cell (masks are irregular).
const DECODE: [u8; 2 << CODE_PLANES] = {
    let mut table = [CodeMap::MASKED; 2 << CODE_PLANES];
    let mut k = 0;
    while k < ORIENTATIONS {
        table[CIRCULAR_CODE[k] as usize] = k as u8;
        k += 1;
    }
    table
};

/// [`DECODE`]'s index for cell `x` of one row's three code planes and mask.
#[inline(always)]
fn decode_index([p0, p1, p2, mask]: [u32; CODE_PLANES + 1], x: usize) -> usize {
    const { assert!(CODE_PLANES == 3, "three code planes and a mask per row") };
    let bit = |plane: u32, at: u32| (plane >> x & 1) << at;
    (bit(p0, 0) | bit(p1, 1) | bit(p2, 2) | bit(!mask, 3)) as usize
}

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
        let k = DECODE[decode_index(self.rows(y), x)];
        (k != Self::MASKED).then_some(usize::from(k))
    }

    /// Row `y` of every plane (3 code planes + mask).
    fn rows(&self, y: usize) -> [u32; CODE_PLANES + 1] {
        std::array::from_fn(|p| self.row(p, y))
    }

    /// Every cell's [`Self::cell`] in row-major order, decoded a row at a time.
    pub fn cells(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        self.orientations()
            .into_iter()
            .map(|k| (k != Self::MASKED).then_some(usize::from(k)))
    }

    /// [`Self::orientations`]' value for a cell that does not vote.
    pub const MASKED: u8 = u8::MAX;

    /// Every cell's orientation index in row-major order, [`Self::MASKED`] where it does not
    /// vote: the histogram descriptors of a probe decode whole maps per query.
    pub fn orientations(&self) -> [u8; GRID * GRID] {
        let mut out = [Self::MASKED; GRID * GRID];
        for (y, row) in out.chunks_exact_mut(GRID).enumerate() {
            let rows = self.rows(y);
            for (x, cell) in row.iter_mut().enumerate() {
                *cell = DECODE[decode_index(rows, x)];
            }
        }
        out
    }
}

/// Side of the coarse code used to find candidate alignments fast.
pub const COARSE: usize = 8;
/// Fine cells per coarse cell side.
pub const COARSE_BLOCK: usize = GRID / COARSE;

/// An 8 × 8 coarse orientation code: one `u64` bitboard per plane (bit `8y + x`), 3 code
/// planes + mask. Each coarse cell holds the dominant orientation of its 4 × 4 fine block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoarseMap {
    pub planes: [u64; CODE_PLANES + 1],
}

impl CodeMap {
    /// The map resampled about its centre by `scale` (> 1: the palm appears larger), nearest
    /// cell. Scale needs no orientation change, so the code can be resampled directly.
    pub fn scaled(&self, scale: f32) -> CodeMap {
        let mut out = CodeMap::empty();
        let c = (GRID as f32 - 1.0) / 2.0;
        for y in 0..GRID {
            let sy = (c + (y as f32 - c) / scale).round();
            if !(0.0..GRID as f32).contains(&sy) {
                continue;
            }
            for x in 0..GRID {
                let sx = (c + (x as f32 - c) / scale).round();
                if !(0.0..GRID as f32).contains(&sx) {
                    continue;
                }
                if let Some(k) = self.cell(sx as usize, sy as usize) {
                    out.set_cell(x, y, k);
                }
            }
        }
        out
    }

    /// The coarse code: per 4 × 4 block, the circular mean of the valid cells' orientations
    /// (doubled-angle unit vectors); blocks with few valid cells or no dominant orientation
    /// are masked.
    pub fn coarse(&self) -> CoarseMap {
        let mut out = CoarseMap::default();
        let step = std::f32::consts::TAU / ORIENTATIONS as f32;
        for by in 0..COARSE {
            for bx in 0..COARSE {
                let (mut re, mut im, mut n) = (0f32, 0f32, 0u32);
                for y in by * COARSE_BLOCK..(by + 1) * COARSE_BLOCK {
                    for x in bx * COARSE_BLOCK..(bx + 1) * COARSE_BLOCK {
                        if let Some(k) = self.cell(x, y) {
                            re += (k as f32 * step).cos();
                            im += (k as f32 * step).sin();
                            n += 1;
                        }
                    }
                }
                if n < 4 || (re * re + im * im).sqrt() < 0.4 * n as f32 {
                    continue;
                }
                let k = (im.atan2(re).rem_euclid(std::f32::consts::TAU) / step).round() as usize
                    % ORIENTATIONS;
                let bit = 1u64 << (by * COARSE + bx);
                for p in 0..CODE_PLANES {
                    if CIRCULAR_CODE[k] >> p & 1 == 1 {
                        out.planes[p] |= bit;
                    }
                }
                out.planes[MASK_PLANE] |= bit;
            }
        }
        out
    }
}

/// Column masks of an 8 × 8 bitboard: `KEEP[dx + 7]` keeps the columns still inside after a
/// horizontal displacement by `dx`.
const fn column_keep() -> [u64; 15] {
    let mut out = [0u64; 15];
    let mut i = 0;
    while i < 15 {
        let dx = i as i32 - 7;
        let mut m = 0u64;
        let mut y = 0;
        while y < 8 {
            let mut x = 0;
            while x < 8 {
                let xb = x + dx;
                if xb >= 0 && xb < 8 {
                    m |= 1 << (y * 8 + x);
                }
                x += 1;
            }
            y += 1;
        }
        out[i] = m;
        i += 1;
    }
    out
}
const KEEP: [u64; 15] = column_keep();

/// Coarse comparison of `a` with `b` displaced by `(dx, dy)` coarse cells (|d| ≤ 7).
#[inline(always)]
pub fn coarse_count(a: &CoarseMap, b: &CoarseMap, dx: i32, dy: i32) -> BitCount {
    let k = dy * 8 + dx;
    let sh = |w: u64| if k >= 0 { w >> k } else { w << (-k) };
    let m = a.planes[MASK_PLANE] & sh(b.planes[MASK_PLANE]) & KEEP[(dx + 7) as usize];
    let mut differing = 0;
    for p in 0..CODE_PLANES {
        differing += ((a.planes[p] ^ sh(b.planes[p])) & m).count_ones();
    }
    BitCount {
        differing,
        compared: m.count_ones() * CODE_PLANES as u32,
    }
}

/// Filter bank parameters in units of the ROI side, so they hold at any working resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BankParams {
    /// Gaussian envelope σ (across the line) as a fraction of the ROI side.
    pub sigma: f32,
    /// Cosine wavelength as a fraction of the ROI side.
    pub wavelength: f32,
    /// A cell votes when its orientation energy is at least this fraction of the map's
    /// 90th-percentile energy; weaker cells hold no line, only noise, and are masked.
    pub min_energy: f32,
    /// Orientation from the quadrature (even + odd) Gabor amplitude instead of the even
    /// response alone: the even filter's answer flips sign between a line's floor and its
    /// flanks, so a residual misalignment of a quarter wavelength changes the code; the
    /// amplitude `sqrt(even² + odd²)` does not (oriented energy, Freeman & Adelson 1991; the
    /// magnitude of the complex Gabor used by Fusion Code, Kong & Zhang 2004).
    pub quadrature: bool,
}

/// Encodes normalised planes of one modality, in the canonical frame and in a few rotated
/// sampling frames.
///
/// The Gabor bank is applied once, on the cell lattice of the canonical frame. Each cell's
/// `ORIENTATIONS` responses are combined into an orientation vector
/// `z = Σ_k −r_k · e^{2iθ_k}` (a steerable estimate: the bank's tuning curve is symmetric, so the
/// vector points at the line's orientation and `|z|` measures line energy). Rotated frames
/// interpolate the response lattice at the rotated cell positions and rotate `z` by the frame
/// angle, so rotation variants cost a fraction of a filtering pass. The code of a cell is `z`'s
/// angle quantised to `ORIENTATIONS` bins: the competitive code's winner, made less sensitive
/// to noise by using all responses instead of the single minimum.
#[derive(Debug, Clone)]
pub struct Coder {
    side: usize,
    /// The steered pair `Σ_k −K_k cos 2θ_k` and `Σ_k −K_k sin 2θ_k` of the bank's kernels `K_k`:
    /// filtering is linear, so two passes give exactly the orientation vector `z` of all
    /// `ORIENTATIONS` responses (a third of the work of filtering with each kernel).
    steered: [Kernel; 2],
    rotations_deg: Vec<i8>,
    min_energy: f32,
    /// Quadrature mode ([`BankParams::quadrature`]): per orientation the (even, odd) kernels
    /// and the doubled-angle unit vector of that orientation.
    quadrature: Vec<(Kernel, Kernel, f32, f32)>,
}

impl Coder {
    /// `rotations_deg` must start with 0 (the canonical frame).
    pub fn new(params: BankParams, side: usize, rotations_deg: &[i8]) -> Self {
        let sigma = params.sigma * side as f32;
        let wavelength = params.wavelength * side as f32;
        let kernels: Vec<Kernel> = (0..ORIENTATIONS)
            .map(|k| {
                Kernel::gabor_even(
                    k as f32 * std::f32::consts::PI / ORIENTATIONS as f32,
                    sigma,
                    wavelength,
                )
            })
            .collect();
        let doubled = |k: usize| 2.0 * k as f32 * std::f32::consts::PI / ORIENTATIONS as f32;
        let re: Vec<f32> = (0..ORIENTATIONS).map(|k| -doubled(k).cos()).collect();
        let im: Vec<f32> = (0..ORIENTATIONS).map(|k| -doubled(k).sin()).collect();
        let quadrature = if params.quadrature {
            (0..ORIENTATIONS)
                .map(|k| {
                    let theta = k as f32 * std::f32::consts::PI / ORIENTATIONS as f32;
                    (
                        kernels[k].clone(),
                        Kernel::gabor_odd(theta, sigma, wavelength),
                        doubled(k).cos(),
                        doubled(k).sin(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            side,
            steered: [
                Kernel::combine(&kernels, &re),
                Kernel::combine(&kernels, &im),
            ],
            rotations_deg: rotations_deg.to_vec(),
            min_energy: params.min_energy,
            quadrature,
        }
    }

    /// Working plane side the bank is built for.
    pub fn side(&self) -> usize {
        self.side
    }

    /// Orientation vectors `(re, im)` on the canonical cell lattice of `plane`.
    fn lattice(&self, plane: &Plane) -> Vec<(f32, f32)> {
        let stride = plane.w as f32 / GRID as f32;
        let r = self.steered[0].side / 2;
        let padded = plane.padded(r);
        let mut out = Vec::with_capacity(GRID * GRID);
        for gy in 0..GRID {
            for gx in 0..GRID {
                let x = ((gx as f32 + 0.5) * stride - 0.5).round().max(0.0) as usize;
                let y = ((gy as f32 + 0.5) * stride - 0.5).round().max(0.0) as usize;
                if self.quadrature.is_empty() {
                    let [re, im] = &self.steered;
                    out.push(Kernel::apply_pair_inside(re, im, &padded, x + r, y + r));
                } else {
                    // Oriented amplitudes vote with their doubled angles: the isotropic part
                    // cancels (Σ e^{2iθ_k} = 0) and the vector points at the strongest line.
                    let (mut re, mut im) = (0f32, 0f32);
                    for (even, odd, c, s) in &self.quadrature {
                        let (e, o) = Kernel::apply_pair_inside(even, odd, &padded, x + r, y + r);
                        let a = (e * e + o * o).sqrt();
                        re += a * c;
                        im += a * s;
                    }
                    out.push((re, im));
                }
            }
        }
        out
    }

    /// Encodes a normalised plane of side [`Coder::side`] in every frame. `valid(x, y)` (plane
    /// pixel coordinates) excludes occluded areas.
    pub fn encode(&self, plane: &Plane, valid: &dyn Fn(f32, f32) -> bool) -> Vec<(i8, CodeMap)> {
        debug_assert_eq!(plane.w, self.side);
        let lattice = self.lattice(plane);
        let side = plane.w as f32;
        let stride = side / GRID as f32;
        let centre = (side - 1.0) / 2.0;
        // Cells whose filter would mostly see replicated borders do not vote.
        let margin = (self.steered[0].side / 2) as f32 * 0.5;
        self.rotations_deg
            .iter()
            .map(|&deg| {
                let angle = f32::from(deg).to_radians();
                let (s, c) = angle.sin_cos();
                let (s2, c2) = (-2.0 * angle).sin_cos();
                let mut cells: Vec<(usize, usize, f32, f32)> = Vec::with_capacity(GRID * GRID);
                for gy in 0..GRID {
                    for gx in 0..GRID {
                        let u = (gx as f32 + 0.5) * stride - 0.5 - centre;
                        let v = (gy as f32 + 0.5) * stride - 0.5 - centre;
                        let x = centre + u * c - v * s;
                        let y = centre + u * s + v * c;
                        if x < -margin
                            || y < -margin
                            || x > side - 1.0 + margin
                            || y > side - 1.0 + margin
                        {
                            continue;
                        }
                        if !valid(x.clamp(0.0, side - 1.0), y.clamp(0.0, side - 1.0)) {
                            continue;
                        }
                        let (re, im) = interpolate(
                            &lattice,
                            (x + 0.5) / stride - 0.5,
                            (y + 0.5) / stride - 0.5,
                        );
                        // Into the rotated frame: orientation angles shift by -angle (doubled).
                        let (re, im) = (re * c2 - im * s2, re * s2 + im * c2);
                        cells.push((gx, gy, im.atan2(re), (re * re + im * im).sqrt()));
                    }
                }
                (deg, self.quantise(cells))
            })
            .collect()
    }

    fn quantise(&self, mut cells: Vec<(usize, usize, f32, f32)>) -> CodeMap {
        let mut map = CodeMap::empty();
        if cells.is_empty() {
            return map;
        }
        let mut energies: Vec<f32> = cells.iter().map(|c| c.3).collect();
        let k = energies.len() * 9 / 10;
        let (_, p90, _) = energies.select_nth_unstable_by(k, f32::total_cmp);
        let floor = self.min_energy * *p90;
        let bin = std::f32::consts::TAU / ORIENTATIONS as f32;
        for (gx, gy, phase, energy) in cells.drain(..) {
            if energy >= floor && energy > 0.0 {
                let k =
                    (phase.rem_euclid(std::f32::consts::TAU) / bin).round() as usize % ORIENTATIONS;
                map.set_cell(gx, gy, k);
            }
        }
        map
    }
}

/// Bilinear interpolation on the `GRID × GRID` lattice (border clamped).
fn interpolate(lattice: &[(f32, f32)], fx: f32, fy: f32) -> (f32, f32) {
    let max = (GRID - 1) as f32;
    let (fx, fy) = (fx.clamp(0.0, max), fy.clamp(0.0, max));
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(GRID - 1), (y0 + 1).min(GRID - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let at = |x: usize, y: usize| lattice[y * GRID + x];
    let mix = |a: (f32, f32), b: (f32, f32), t: f32| (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
    mix(
        mix(at(x0, y0), at(x1, y0), tx),
        mix(at(x0, y1), at(x1, y1), tx),
        ty,
    )
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
pub fn count_at(
    a: &CodeMap,
    b: &CodeMap,
    dx: i32,
    dy: i32,
    rows: impl Iterator<Item = usize>,
) -> BitCount {
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
        for (a, ca) in CIRCULAR_CODE.iter().enumerate() {
            for (b, cb) in CIRCULAR_CODE.iter().enumerate() {
                let d = (ca ^ cb).count_ones() as usize;
                let circ = (a as i32 - b as i32)
                    .rem_euclid(6)
                    .min((b as i32 - a as i32).rem_euclid(6));
                assert_eq!(d, circ as usize);
            }
        }
    }

    #[test]
    fn whole_map_decoding_equals_cell_by_cell() {
        // Every 3-bit pattern (the two unused ones too), masked and not.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let words = std::array::from_fn(|_| crate::search::derive::splitmix(&mut state));
        let map = CodeMap::from_words(words);
        let cells: Vec<Option<usize>> = map.cells().collect();
        assert_eq!(cells.len(), GRID * GRID);
        for (i, &c) in cells.iter().enumerate() {
            let (x, y) = (i % GRID, i / GRID);
            assert_eq!(c, map.cell(x, y), "cell {i}");
            // Decoded from the definition: the code's position in CIRCULAR_CODE.
            let bit = |p: usize| map.row(p, y) >> x & 1;
            let bits = bit(0) | bit(1) << 1 | bit(2) << 2;
            let expected = (bit(MASK_PLANE) == 1)
                .then(|| CIRCULAR_CODE.iter().position(|&code| code == bits))
                .flatten();
            assert_eq!(c, expected, "cell {i}");
        }
        assert!(cells.iter().any(Option::is_none) && cells.iter().any(Option::is_some));
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
