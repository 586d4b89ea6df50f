//! The first, cheapest pre-selection stage: regional orientation histograms.
//!
//! The coarse quick stage reads 256 bytes per person at 375 poses (≈ 10 µs per person with
//! AVX2), so at N = 10,000 it alone takes ~100 ms. A stage in front of it must compare at a
//! handful of poses, so its features must tolerate the misalignment the poses would have
//! absorbed. Histograms of the code's orientations over large overlapping regions do: a
//! displacement of a few cells moves a few cells' votes between neighbouring regions, softened
//! by bilinear spatial weights (the HOG / SIFT construction; Histogram of Oriented Lines,
//! Jia et al. 2014, for palmprints). Comparing two people is then a sum of absolute byte
//! differences over 2 × `B` bytes, `PSADBW` on the widest vectors the CPU has ([`sad`]). The probe's rotated
//! frames (and optionally its scaled frames and a few shifts) are the only poses tried.
//!
//! Like every stage this is a matcher in its own right: it keeps the mate among the best
//! `keep · N` about as often as it verifies at FAR = `keep` (`examples/preselect_study.rs`).

mod sad;

use sad::{Lanes, Sad};

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
    lanes: Lanes<B>,
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
    poses: Vec<Lanes<B>>,
    /// The probe frame's rotation of each pose.
    rotations: Vec<i8>,
    weights: [u32; 2],
    /// The distance kernel, detected once per probe.
    sad: Sad,
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
            sad: Sad::detect(),
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
        self.sad.best(&self.poses, &reference.lanes, self.weights)
    }

    /// Distances to many people.
    pub fn distances(&self, references: &[HistogramRef<R, B>], out: &mut Vec<u32>) {
        out.extend(references.iter().map(|r| self.distance(r)));
    }
}

/// Orientation histograms of `map`: see [`descriptor_of`].
fn descriptor<const R: usize, const B: usize>(map: &CodeMap, dx: i32, dy: i32) -> Descriptor<B> {
    descriptor_of::<R, B>(&Cells::of(map), dx, dy)
}

/// A code map's cell orientations ([`CodeMap::orientations`]), decoded once for the several
/// descriptors of a probe.
struct Cells([u8; GRID * GRID]);

impl Cells {
    /// No valid orientation.
    const MASKED: u8 = CodeMap::MASKED;

    fn of(map: &CodeMap) -> Self {
        Self(map.orientations())
    }
}

/// Orientation histograms of the map sampled at cell `(x + dx, y + dy)` for cell `(x, y)`: every
/// valid cell votes for its orientation in the (up to) four regions around it, with bilinear
/// weights by its distance to their centres.
///
/// The weights are separable, so each row's votes are first summed per region column and then
/// spread over the region rows: two additions per cell instead of four products. They are also
/// exact in 1/16 of a cell per axis (cell centres lie at odd multiples of 1/(2·region)), so
/// integer sums in 1/256 give the same bins as any exact real arithmetic.
fn descriptor_of<const R: usize, const B: usize>(cells: &Cells, dx: i32, dy: i32) -> Descriptor<B> {
    const {
        assert!(B == R * R * ORIENTATIONS && GRID.is_multiple_of(R));
        assert!(8 % (GRID / R) == 0, "weights exact in sixteenths");
        assert!(R >= 2, "a row's votes and the masked entry fit in B");
    };
    let region = GRID / R;
    // Per cell coordinate, its two regions and weights in sixteenths. Cell x lies at
    // u = (x + 0.5) / region − 0.5 in region units (region r's centre at u = r); border cells
    // keep their whole vote inside the map.
    let spread: [[(usize, u32); 2]; GRID] = std::array::from_fn(|x| {
        let u = (8 * (2 * x + 1) / region) as i32 - 8;
        let (r0, f) = (u.div_euclid(16), u.rem_euclid(16) as u32);
        let clamp = |r: i32| r.clamp(0, R as i32 - 1) as usize;
        [(clamp(r0), 16 - f), (clamp(r0 + 1), f)]
    });
    let band = R * ORIENTATIONS;
    let mut bins = [0u32; B];
    // One row's votes per (region column, orientation): the first `band` entries; masked
    // cells vote into the entry after them, so the loop has no branch on the irregular mask.
    let mut row = [0u32; B];
    for (y, &regions_y) in spread.iter().enumerate() {
        let sy = y as i32 + dy;
        if !(0..GRID as i32).contains(&sy) {
            continue;
        }
        row[..band].fill(0);
        let source = &cells.0[sy as usize * GRID..][..GRID];
        for (x, regions_x) in spread.iter().enumerate() {
            let sx = x as i32 + dx;
            if !(0..GRID as i32).contains(&sx) {
                continue;
            }
            let k = source[sx as usize];
            for &(rx, wx) in regions_x {
                let at = if k == Cells::MASKED {
                    band
                } else {
                    rx * ORIENTATIONS + usize::from(k)
                };
                row[at] += wx;
            }
        }
        for (ry, wy) in regions_y {
            for (bin, &votes) in bins[ry * band..][..band].iter_mut().zip(&row) {
                *bin += wy * votes;
            }
        }
    }
    // Fixed point: a bin holds at most region² cells' weight.
    let scale = 255.0 / (region * region) as f32;
    bins.map(|n| (n as f32 / 256.0 * scale).round().min(255.0) as u8)
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

    /// The bilinear construction written out per cell, in exact arithmetic (f64 holds these
    /// sums of sixteenths exactly).
    fn bilinear<const R: usize, const B: usize>(cells: &Cells, dx: i32, dy: i32) -> Descriptor<B> {
        let region = (GRID / R) as f64;
        let weights = |x: usize| {
            let u = (x as f64 + 0.5) / region - 0.5;
            let (r0, f) = (u.floor(), u - u.floor());
            let clamp = |r: f64| (r as i32).clamp(0, R as i32 - 1) as usize;
            [(clamp(r0), 1.0 - f), (clamp(r0 + 1.0), f)]
        };
        let mut bins = [0f64; B];
        for y in 0..GRID {
            for x in 0..GRID {
                let (sx, sy) = (x as i32 + dx, y as i32 + dy);
                if !(0..GRID as i32).contains(&sx) || !(0..GRID as i32).contains(&sy) {
                    continue;
                }
                let k = cells.0[sy as usize * GRID + sx as usize];
                if k == Cells::MASKED {
                    continue;
                }
                for (ry, wy) in weights(y) {
                    for (rx, wx) in weights(x) {
                        bins[(ry * R + rx) * ORIENTATIONS + k as usize] += wy * wx;
                    }
                }
            }
        }
        let scale = 255.0 / (region * region) as f32;
        bins.map(|c| (c as f32 * scale).round().min(255.0) as u8)
    }

    #[test]
    fn descriptors_equal_the_per_cell_construction() {
        for seed in 0..8 {
            let t = random_template(seed);
            let cells = Cells::of(t.vein().unwrap().canonical());
            for (dx, dy) in [(0, 0), (3, -2), (-4, 4), (31, 0), (-7, -31)] {
                assert_eq!(
                    descriptor_of::<4, 96>(&cells, dx, dy),
                    bilinear::<4, 96>(&cells, dx, dy)
                );
                assert_eq!(
                    descriptor_of::<8, 384>(&cells, dx, dy),
                    bilinear::<8, 384>(&cells, dx, dy)
                );
            }
        }
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
