//! The first, cheapest pre-selection stage: regional orientation histograms.
//!
//! The coarse quick stage reads 256 bytes per person at 375 poses (≈ 10 µs per person with
//! AVX2), so at N = 10,000 it alone takes ~100 ms. A stage in front of it must compare at a
//! handful of poses, so its features must tolerate the misalignment the poses would have
//! absorbed. Histograms of the code's orientations over large overlapping regions do: a
//! displacement of a few cells moves a few cells' votes between neighbouring regions, softened
//! by bilinear spatial weights (the HOG / SIFT construction; Histogram of Oriented Lines,
//! Jia et al. 2014, for palmprints). Comparing two people is then a sum of absolute byte
//! differences over 2 × `BINS` bytes, which compilers turn into `PSADBW`. The probe's rotated
//! frames (and optionally its scaled frames and a few shifts) are the only poses tried.
//!
//! Like every stage this is a matcher in its own right: it keeps the mate among the best
//! `keep · N` about as often as it verifies at FAR = `keep` (`examples/preselect_study.rs`).

use crate::code::{CodeMap, GRID, ORIENTATIONS};
use crate::template::{ModalityCode, Template};

/// One modality's histograms on a `REGIONS × REGIONS` grid: `B = REGIONS² × ORIENTATIONS`
/// bytes (checked at compile time where a descriptor is built).
pub type Descriptor<const B: usize> = [u8; B];

/// The first stage's grid: 4 × 4 regions of 8 × 8 cells, 96 bytes per modality.
pub type BroadRef = HistogramRef<4, 96>;
pub type BroadProbe = HistogramProbe<4, 96>;
/// A finer grid, 8 × 8 regions of 4 × 4 cells, 384 bytes per modality: more specific, so the
/// probe also tries shifts ([`HistogramParams::local`]). Measured as a second stage and not
/// used: it loses more mates on held-out seeds than it saves time (docs/palm-report.md).
pub type LocalRef = HistogramRef<8, 384>;
pub type LocalProbe = HistogramProbe<8, 384>;

/// Which poses the histogram stage tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramParams {
    /// Every search scale of the probe (else scale 1.0 only); always every rotation.
    pub all_scales: bool,
    /// Probe shifts tried: `-reach..=reach` cells in steps of `step`, in x and y.
    pub reach: i32,
    pub step: i32,
}

impl Default for HistogramParams {
    /// The first stage: the probe's rotations at scale 1, no shifts (5 poses).
    fn default() -> Self {
        Self {
            all_scales: false,
            reach: 0,
            step: 4,
        }
    }
}

impl HistogramParams {
    /// For the finer grid: rotations at scale 1 × shifts of −4, 0, 4 cells (45 poses).
    pub fn local() -> Self {
        Self {
            reach: 4,
            ..Self::default()
        }
    }
}

/// The gallery side: the canonical maps' descriptors (print, vein).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramRef<const R: usize, const B: usize> {
    lanes: [Descriptor<B>; 2],
}

impl<const R: usize, const B: usize> HistogramRef<R, B> {
    pub fn new(reference: &Template) -> Self {
        Self::from_canonical(
            [reference.print(), reference.vein()].map(|m| m.map(ModalityCode::canonical)),
        )
    }

    /// From the canonical (print, vein) maps alone (an absent modality: empty histograms).
    pub fn from_canonical(maps: [Option<&CodeMap>; 2]) -> Self {
        Self {
            lanes: maps.map(|m| m.map_or([0; B], |m| descriptor::<R, B>(m, 0, 0))),
        }
    }
}

/// The probe side: its descriptors at every pose, and the modality weights in fixed point.
pub struct HistogramProbe<const R: usize, const B: usize> {
    poses: Vec<[Descriptor<B>; 2]>,
    /// The probe frame's rotation of each pose.
    rotations: Vec<i8>,
    weights: [u32; 2],
}

impl<const R: usize, const B: usize> HistogramProbe<R, B> {
    /// `weights`: relative weight of the print and vein distances.
    pub fn new(probe: &Template, weights: [f32; 2], params: &HistogramParams) -> Self {
        let lanes = [probe.print(), probe.vein()];
        let frames = lanes.iter().flatten().map(|m| m.frames().len()).max();
        let step = params.step.max(1) as usize;
        let shifts: Vec<i32> = (-params.reach..=params.reach).step_by(step).collect();
        let mut poses = Vec::new();
        let mut rotations = Vec::new();
        for f in 0..frames.unwrap_or(0) {
            let [print, vein] = lanes.map(|m| m.map(|m| &m.frames()[f]));
            if !params.all_scales && print.or(vein).is_some_and(|fr| fr.scale != 0) {
                continue;
            }
            let cells = [print, vein].map(|fr| fr.map(|fr| Cells::of(&fr.map)));
            let rotation = print.or(vein).map_or(0, |fr| fr.rotation_deg);
            for &dy in &shifts {
                for &dx in &shifts {
                    rotations.push(rotation);
                    poses.push(cells.each_ref().map(|c| {
                        c.as_ref()
                            .map_or([0; B], |c| descriptor_of::<R, B>(c, dx, dy))
                    }));
                }
            }
        }
        let sum = (weights[0] + weights[1]).max(f32::EPSILON);
        Self {
            poses,
            rotations,
            weights: weights.map(|w| (w / sum * 256.0).round() as u32),
        }
    }

    /// The probe's rotation (degrees) at pose `pose` of [`Self::best_pose`].
    pub fn pose_rotation(&self, pose: usize) -> i8 {
        self.rotations[pose]
    }

    /// Poses tried per person.
    pub fn poses(&self) -> usize {
        self.poses.len()
    }

    /// Best weighted histogram distance to one person over every pose (lower is closer).
    #[inline]
    pub fn distance(&self, reference: &HistogramRef<R, B>) -> u32 {
        self.best_pose(reference).0
    }

    /// The best distance and the index of the pose that gave it (with the default
    /// [`HistogramParams`], the probe's rotation frame).
    #[inline]
    pub fn best_pose(&self, reference: &HistogramRef<R, B>) -> (u32, usize) {
        let mut best = (u32::MAX, 0);
        for (i, pose) in self.poses.iter().enumerate() {
            let d = self.weights[0] * sad(&pose[0], &reference.lanes[0])
                + self.weights[1] * sad(&pose[1], &reference.lanes[1]);
            if d < best.0 {
                best = (d, i);
            }
        }
        best
    }

    /// Distances to many people.
    pub fn distances(&self, references: &[HistogramRef<R, B>], out: &mut Vec<u32>) {
        out.extend(references.iter().map(|r| self.distance(r)));
    }
}

/// Sum of absolute differences, 16 bytes per `PSADBW` (SSE2 is part of every x86-64 CPU).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn sad<const B: usize>(a: &Descriptor<B>, b: &Descriptor<B>) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi64, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_sad_epu8,
        _mm_setzero_si128, _mm_unpackhi_epi64,
    };
    const { assert!(B.is_multiple_of(16)) };
    // SAFETY: SSE2 is baseline on x86_64; every load reads 16 bytes inside `a` or `b`
    // (offsets 0, 16, … B − 16) and `loadu` needs no alignment.
    unsafe {
        let mut acc = _mm_setzero_si128();
        for i in (0..B).step_by(16) {
            let x = _mm_loadu_si128(a.as_ptr().add(i).cast::<__m128i>());
            let y = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
            acc = _mm_add_epi64(acc, _mm_sad_epu8(x, y));
        }
        (_mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc))) as u32
    }
}

/// Sum of absolute differences.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn sad<const B: usize>(a: &Descriptor<B>, b: &Descriptor<B>) -> u32 {
    sad_scalar(a, b)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn sad_scalar<const B: usize>(a: &Descriptor<B>, b: &Descriptor<B>) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| u32::from(x.abs_diff(y)))
        .sum()
}

/// Orientation histograms of `map`: see [`descriptor_of`].
fn descriptor<const R: usize, const B: usize>(map: &CodeMap, dx: i32, dy: i32) -> Descriptor<B> {
    descriptor_of::<R, B>(&Cells::of(map), dx, dy)
}

/// A code map's cell orientations, decoded once for the several descriptors of a probe.
struct Cells([u8; GRID * GRID]);

impl Cells {
    /// No valid orientation.
    const MASKED: u8 = u8::MAX;

    fn of(map: &CodeMap) -> Self {
        let mut cells = [Self::MASKED; GRID * GRID];
        for (c, k) in cells.iter_mut().zip(map.cells()) {
            if let Some(k) = k {
                *c = k as u8;
            }
        }
        Self(cells)
    }
}

/// Orientation histograms of the map sampled at cell `(x + dx, y + dy)` for cell `(x, y)`: every
/// valid cell votes for its orientation in the (up to) four regions around it, with bilinear
/// weights by its distance to their centres.
fn descriptor_of<const R: usize, const B: usize>(cells: &Cells, dx: i32, dy: i32) -> Descriptor<B> {
    const { assert!(B == R * R * ORIENTATIONS && GRID.is_multiple_of(R)) };
    let region = GRID / R;
    // Per cell coordinate, its two regions and weights. Cell x lies at
    // u = (x + 0.5) / region − 0.5 in region units (region r's centre at u = r); border cells
    // keep their whole vote inside the map.
    let spread: [[(usize, f32); 2]; GRID] = std::array::from_fn(|x| {
        let u = (x as f32 + 0.5) / region as f32 - 0.5;
        let r0 = u.floor();
        let f = u - r0;
        let clamp = |r: f32| (r as i32).clamp(0, R as i32 - 1) as usize;
        [(clamp(r0), 1.0 - f), (clamp(r0 + 1.0), f)]
    });
    let mut bins = [0f32; B];
    for (y, row) in spread.iter().enumerate() {
        let sy = y as i32 + dy;
        if !(0..GRID as i32).contains(&sy) {
            continue;
        }
        for (x, column) in spread.iter().enumerate() {
            let sx = x as i32 + dx;
            if !(0..GRID as i32).contains(&sx) {
                continue;
            }
            let k = cells.0[sy as usize * GRID + sx as usize];
            if k == Cells::MASKED {
                continue;
            }
            for &(ry, wy) in row {
                for &(rx, wx) in column {
                    bins[(ry * R + rx) * ORIENTATIONS + k as usize] += wy * wx;
                }
            }
        }
    }
    // Fixed point: a bin holds at most region² cells' weight.
    let scale = 255.0 / (region * region) as f32;
    bins.map(|c| (c * scale).round().min(255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::quick::tests::random_template;

    /// Every valid cell's votes add up to one, on both grids.
    fn votes_once<const R: usize, const B: usize>() {
        let t = random_template(9);
        let map = t.print().unwrap().canonical();
        let d = descriptor::<R, B>(map, 0, 0);
        let region = GRID / R;
        let step = (region * region) as f32 / 255.0;
        let total: f32 = d.iter().map(|&b| b as f32 * step).sum();
        // Cells with a valid code (random bits also hold the two unused 3-bit patterns).
        let valid = (0..GRID * GRID)
            .filter(|i| map.cell(i % GRID, i / GRID).is_some())
            .count() as f32;
        // Rounding each bin loses at most half a count step.
        assert!(
            (total - valid).abs() <= B as f32 * 0.5 * step,
            "{R}: {total} vs {valid}"
        );
    }

    #[test]
    fn every_valid_cell_votes_once() {
        votes_once::<4, 96>();
        votes_once::<8, 384>();
    }

    #[test]
    fn sad_equals_the_scalar_sum() {
        let a: Descriptor<384> = std::array::from_fn(|i| (i * 37 % 256) as u8);
        let b: Descriptor<384> = std::array::from_fn(|i| (255 - i * 11 % 256) as u8);
        assert_eq!(sad(&a, &b), sad_scalar(&a, &b));
        assert_eq!(sad(&a, &a), 0);
        assert_eq!(sad(&[0; 96], &[255; 96]), 255 * 96);
    }

    /// A gallery member is its own nearest neighbour at zero distance.
    fn finds_itself<const R: usize, const B: usize>(params: HistogramParams, poses: usize) {
        let gallery: Vec<Template> = (0..100).map(random_template).collect();
        let refs: Vec<HistogramRef<R, B>> = gallery.iter().map(HistogramRef::new).collect();
        let probe = HistogramProbe::<R, B>::new(&gallery[42], [0.3, 0.7], &params);
        assert_eq!(probe.poses(), poses);
        let mut d = Vec::new();
        probe.distances(&refs, &mut d);
        assert_eq!(d[42], 0);
        assert!(d.iter().enumerate().all(|(i, &x)| i == 42 || x > 0));
    }

    #[test]
    fn a_template_finds_itself_first() {
        // 3 stored rotations at scale 1; the local stage also × 3 × 3 shifts.
        finds_itself::<4, 96>(HistogramParams::default(), 3);
        finds_itself::<8, 384>(HistogramParams::local(), 27);
    }
}
