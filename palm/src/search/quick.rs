//! Quick comparisons for the pre-selection stages of 1:N identification.
//!
//! The full matcher aligns the probe's canonical code against 15 reference frames (5 rotations ×
//! 3 scales) at 121 shifts and refines. A quick comparison keeps the matcher's measure (masked
//! angular Hamming distance, both modalities aligned jointly) but searches less: the probe side
//! carries the rotated and rescaled frames (built once per query), the gallery side only the
//! canonical maps, and [`StageParams`] thins the shifts and rows. The modalities are weighted
//! as the fusion model weighs them, which ranks far better than one joint distance (tuning seed
//! 31: TAR at FAR 1e-3 98.5 % against 97.5 % for the coarse stage; see docs/palm-report.md).
//! Genuine pairs of that set align within ±4 cells in 99 % of cases, which bounds the search.

use super::histograms::{BroadProbe, BroadRef, HistogramParams};
use crate::code::{BitCount, CodeMap, GRID};
use crate::matcher::{normalised_distance, packed_count, Packed, REFERENCE_BITS};
use crate::template::{ModalityCode, Template};

#[cfg(target_arch = "x86_64")]
use super::simd;

/// How much of the pose space one stage searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageParams {
    /// Every search scale of the probe (else scale 1.0 only); always every rotation.
    pub all_scales: bool,
    /// Shifts tried: `-reach..=reach` cells in steps of `shift_step`, in x and y.
    pub reach: i32,
    pub shift_step: i32,
    /// Compare rows `y ≡ 0 (mod row_step)` only.
    pub row_step: usize,
}

fn modalities(t: &Template) -> [Option<&ModalityCode>; 2] {
    [t.print(), t.vein()]
}

static EMPTY: std::sync::LazyLock<CodeMap> = std::sync::LazyLock::new(CodeMap::empty);

/// How the fine stage refines a coarse pose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FineParams {
    /// Compare rows `y ≡ 0 (mod rows)` only.
    pub rows: usize,
    /// Also try the coarse pose's rotation at the probe's other scales, so that a coarse
    /// stage searching scale 1 alone still hands the fine stage the right scale.
    pub all_scales: bool,
}

/// Which of the probe's rotations a stage searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotations {
    All,
    /// From the first to the second (degrees, inclusive).
    Between(i8, i8),
}

impl Rotations {
    fn contains(self, rotation: i8) -> bool {
        match self {
            Self::All => true,
            Self::Between(lo, hi) => (lo..=hi).contains(&rotation),
        }
    }
}

/// One of the probe's search frames, lane-packed (print, vein).
struct ProbeFrame {
    rotation_deg: i8,
    /// Index into [`crate::template::SEARCH_SCALES`].
    scale: u8,
    packed: Packed,
    /// The fine stage kernel's layout of `packed`.
    #[cfg(target_arch = "x86_64")]
    parity: simd::refine::ParityRows,
}

/// The probe side: every search frame, lane-packed (print, vein), and the modality weights.
pub struct QuickProbe {
    frames: Vec<ProbeFrame>,
    weights: [f32; 2],
    /// The histogram stage's side of the probe.
    histogram: BroadProbe,
}

impl QuickProbe {
    /// `weights`: relative weight of the print and vein distances (normalised here).
    pub fn new(probe: &Template, weights: [f32; 2]) -> Self {
        let [print, vein] = modalities(probe);
        let frames = print.or(vein).map_or_else(Vec::new, |first| {
            (0..first.frames().len())
                .map(|i| {
                    let maps = [print, vein].map(|m| m.map_or(&*EMPTY, |m| &m.frames()[i].map));
                    let packed = Packed::new(maps.into_iter());
                    ProbeFrame {
                        rotation_deg: first.frames()[i].rotation_deg,
                        scale: first.frames()[i].scale,
                        #[cfg(target_arch = "x86_64")]
                        parity: simd::refine::ParityRows::of(&packed),
                        packed,
                    }
                })
                .collect()
        });
        let sum = (weights[0] + weights[1]).max(f32::EPSILON);
        Self {
            frames,
            weights: weights.map(|w| w / sum),
            histogram: BroadProbe::new(probe, weights, &HistogramParams::default()),
        }
    }

    /// The histogram stage's side of the probe (rotations at scale 1).
    pub fn histogram(&self) -> &BroadProbe {
        &self.histogram
    }

    /// Best weighted distance to one enrolled person over `stage`'s poses (lower is closer;
    /// about 0.5 for strangers), and where it was found.
    pub fn search(&self, reference: &QuickRef, stage: &StageParams) -> Pose {
        self.search_at(reference, stage, Rotations::All)
    }

    /// [`Self::search`] over the frames of some rotations only.
    pub fn search_at(&self, reference: &QuickRef, stage: &StageParams, at: Rotations) -> Pose {
        self.best_of(reference, stage.row_step, self.poses(stage, at).into_iter())
    }

    /// The rotations within `reach` rotation steps of `rotation` among the probe's frames.
    pub fn rotations_near(&self, rotation: i8, reach: usize) -> Rotations {
        let mut all: Vec<i8> = self.frames.iter().map(|f| f.rotation_deg).collect();
        all.sort_unstable();
        all.dedup();
        let at = all.iter().position(|&r| r == rotation).unwrap_or(0);
        let (lo, hi) = (at.saturating_sub(reach), (at + reach).min(all.len() - 1));
        Rotations::Between(all[lo], all[hi])
    }

    /// Refines `pose` by one cell in x and y on rows `y ≡ 0 (mod fine.rows)`, in the same frame
    /// or (`fine.all_scales`) in every frame of the same rotation.
    pub fn refine(&self, reference: &QuickRef, pose: Pose, fine: FineParams) -> Pose {
        let rotation = self.frames[pose.frame].rotation_deg;
        let frames = (0..self.frames.len()).filter(move |&f| {
            f == pose.frame || (fine.all_scales && self.frames[f].rotation_deg == rotation)
        });
        let poses = frames.flat_map(move |f| {
            (-1..=1).flat_map(move |dy| (-1..=1).map(move |dx| (f, pose.dx + dx, pose.dy + dy)))
        });
        self.best_of(reference, fine.rows, poses)
    }

    /// The stage distance from both lanes' counts over rows `y ≡ 0 (mod row_step)`.
    #[inline(always)]
    fn weighted(&self, print: BitCount, vein: BitCount, row_step: usize) -> f32 {
        let lane_bits = REFERENCE_BITS / row_step as f32;
        let lane = |c: BitCount| {
            if c.compared == 0 {
                0.5
            } else {
                normalised_distance(c, lane_bits)
            }
        };
        self.weights[0] * lane(print) + self.weights[1] * lane(vein)
    }

    /// Prepares [`Self::search`] over many references (see [`Scan`]), with the fastest vector
    /// kernel this CPU has.
    pub fn scan(&self, stage: StageParams) -> Scan<'_> {
        self.scan_at(stage, Rotations::All)
    }

    /// [`Self::scan`] over the frames of some rotations only.
    pub fn scan_at(&self, stage: StageParams, at: Rotations) -> Scan<'_> {
        #[cfg(target_arch = "x86_64")]
        return self.scan_with(stage, at, simd::Kernel::detect());
        #[cfg(not(target_arch = "x86_64"))]
        Scan {
            probe: self,
            poses: self.poses(&stage, at),
            stage,
        }
    }

    /// [`Self::scan_at`] with a given kernel (`None`: the scalar search).
    #[cfg(target_arch = "x86_64")]
    fn scan_with(
        &self,
        stage: StageParams,
        at: Rotations,
        kernel: Option<simd::Kernel>,
    ) -> Scan<'_> {
        let poses = self.poses(&stage, at);
        let table = kernel
            .filter(|_| stage.row_step == simd::ROW_STEP)
            .map(|kernel| (kernel, self.sampled_poses(&poses)));
        Scan {
            probe: self,
            stage,
            poses,
            #[cfg(target_arch = "x86_64")]
            table,
        }
    }

    /// The probe's compared rows at every pose, for a vector kernel.
    #[cfg(target_arch = "x86_64")]
    fn sampled_poses(&self, poses: &[(usize, i32, i32)]) -> Vec<simd::Sampled> {
        poses
            .iter()
            .map(|&(f, dx, dy)| simd::Sampled::displaced(&self.frames[f].packed, dx, dy))
            .collect()
    }

    /// `(frame, dx, dy)` of every pose `stage` tries at rotations `at`, in search order.
    fn poses(&self, stage: &StageParams, at: Rotations) -> Vec<(usize, i32, i32)> {
        let step = stage.shift_step.max(1) as usize;
        let shifts: Vec<i32> = (-stage.reach..=stage.reach).step_by(step).collect();
        let shifts = &shifts;
        (0..self.frames.len())
            .filter(|&f| stage.all_scales || self.frames[f].scale == 0)
            .filter(|&f| at.contains(self.frames[f].rotation_deg))
            .flat_map(|f| {
                shifts
                    .iter()
                    .flat_map(move |&dy| shifts.iter().map(move |&dx| (f, dx, dy)))
            })
            .collect()
    }

    fn best_of(
        &self,
        reference: &QuickRef,
        row_step: usize,
        poses: impl Iterator<Item = (usize, i32, i32)>,
    ) -> Pose {
        #[cfg(target_arch = "x86_64")]
        if row_step == simd::refine::ROW_STEP {
            if let Some(kernel) = simd::refine::Refine::detect() {
                return self.best_of_with(kernel, reference, poses);
            }
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports POPCNT (checked just above).
            return unsafe { self.best_of_popcnt(reference, row_step, poses) };
        }
        self.best_of_generic(reference, row_step, poses)
    }

    /// [`Self::best_of`] on rows `y ≡ 0 (mod 2)` with the fine stage's vector kernel.
    #[cfg(target_arch = "x86_64")]
    fn best_of_with(
        &self,
        kernel: simd::refine::Refine,
        reference: &QuickRef,
        poses: impl Iterator<Item = (usize, i32, i32)>,
    ) -> Pose {
        let row_step = simd::refine::ROW_STEP;
        let frame = |f: usize| (&self.frames[f].parity, &self.frames[f].packed);
        let distance = |p, v| self.weighted(p, v, row_step);
        match kernel.best_of(&reference.packed, frame, poses, distance) {
            Some((distance, frame, dx, dy)) => Pose {
                distance,
                frame,
                dx,
                dy,
            },
            None => Pose::NONE,
        }
    }

    /// [`Self::best_of_generic`] with the POPCNT instruction (see the matcher).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn best_of_popcnt(
        &self,
        reference: &QuickRef,
        row_step: usize,
        poses: impl Iterator<Item = (usize, i32, i32)>,
    ) -> Pose {
        self.best_of_generic(reference, row_step, poses)
    }

    #[inline(always)]
    fn best_of_generic(
        &self,
        reference: &QuickRef,
        row_step: usize,
        poses: impl Iterator<Item = (usize, i32, i32)>,
    ) -> Pose {
        let mut best = Pose::NONE;
        for (frame, dx, dy) in poses {
            if dx.abs() >= GRID as i32 || dy.abs() >= GRID as i32 {
                continue;
            }
            let [p, v] = packed_count(
                &reference.packed,
                &self.frames[frame].packed,
                dx,
                dy,
                row_step,
            );
            let distance = self.weighted(p, v, row_step);
            if distance < best.distance {
                best = Pose {
                    distance,
                    frame,
                    dx,
                    dy,
                };
            }
        }
        best
    }
}

/// One stage's search prepared for a whole gallery: the poses enumerated once and, on CPUs
/// with AVX-512 (VPOPCNTDQ) or AVX2 and a stage comparing every 4th row, the probe's displaced
/// rows tabulated for the vector scan. Shared by the threads scanning parts of the gallery.
pub struct Scan<'a> {
    probe: &'a QuickProbe,
    stage: StageParams,
    poses: Vec<(usize, i32, i32)>,
    #[cfg(target_arch = "x86_64")]
    table: Option<(simd::Kernel, Vec<simd::Sampled>)>,
}

impl Scan<'_> {
    /// The best pose of each reference (as [`QuickProbe::search`] finds it).
    pub fn search(&self, references: &[&QuickRef]) -> Vec<Pose> {
        #[cfg(target_arch = "x86_64")]
        if let Some((kernel, table)) = &self.table {
            let sampled: Vec<&simd::Sampled> = references.iter().map(|r| &r.sampled).collect();
            let mut best = Vec::with_capacity(references.len());
            let lane_bits = REFERENCE_BITS / simd::ROW_STEP as f32;
            kernel.scan(table, &sampled, self.probe.weights, lane_bits, &mut best);
            return best
                .into_iter()
                .map(|(distance, i)| {
                    let (frame, dx, dy) = self.poses[i as usize];
                    Pose {
                        distance,
                        frame,
                        dx,
                        dy,
                    }
                })
                .collect();
        }
        references
            .iter()
            .map(|r| {
                self.probe
                    .best_of(r, self.stage.row_step, self.poses.iter().copied())
            })
            .collect()
    }
}

/// Where a quick comparison found its best distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub distance: f32,
    /// Index of the probe frame.
    pub frame: usize,
    pub dx: i32,
    pub dy: i32,
}

impl Pose {
    /// No pose searched: farther than any.
    const NONE: Pose = Pose {
        distance: f32::INFINITY,
        frame: 0,
        dx: 0,
        dy: 0,
    };
}

/// The gallery side: the canonical maps, lane-packed (1 KiB per person, for the fine stage), the
/// rows the coarse stage reads (every 4th row: 256 bytes) and the histogram stage's descriptors
/// (192 bytes).
pub struct QuickRef {
    packed: Packed,
    #[cfg(target_arch = "x86_64")]
    sampled: simd::Sampled,
    histogram: BroadRef,
}

impl QuickRef {
    pub fn new(reference: &Template) -> Self {
        Self::from_canonical(modalities(reference).map(|m| m.map(ModalityCode::canonical)))
    }

    /// From the canonical (print, vein) maps alone: all the gallery side needs, so a benchmark
    /// can derive a million references without materialising their templates.
    pub fn from_canonical(maps: [Option<&CodeMap>; 2]) -> Self {
        let packed = Packed::new(maps.map(|m| m.unwrap_or(&*EMPTY)).into_iter());
        Self {
            #[cfg(target_arch = "x86_64")]
            sampled: simd::Sampled::of(&packed),
            packed,
            histogram: BroadRef::from_canonical(maps),
        }
    }

    /// The histogram stage's side of this person.
    pub fn histogram(&self) -> &BroadRef {
        &self.histogram
    }

    /// Starts loading what the fine stage reads of this person (the lane-packed rows, 1 KiB),
    /// so that its memory latency overlaps the refinement of earlier survivors.
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let start = std::ptr::from_ref(&self.packed).cast::<i8>();
            for line in (0..std::mem::size_of::<Packed>()).step_by(64) {
                // SAFETY: a prefetch is only a hint (it never faults), and the address lies
                // inside `self.packed`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(line)) };
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::code::WORDS;

    /// Two random modality codes (dense masks), 3 rotation variants each.
    pub(crate) fn random_template(seed: u64) -> Template {
        let mut state = seed;
        let mut next = move || crate::search::derive::splitmix(&mut state);
        let mut code = || {
            let variants = [0i8, -5, 5]
                .map(|deg| {
                    // Dense mask (3 of 4 cells vote), random code bits.
                    let words: [u64; WORDS] = std::array::from_fn(|i| {
                        if i >= 3 * WORDS / 4 {
                            next() | next()
                        } else {
                            next()
                        }
                    });
                    (deg, CodeMap::from_words(words))
                })
                .to_vec();
            ModalityCode::new(variants).expect("canonical first")
        };
        Template::new(Some(code()), Some(code())).expect("two modalities")
    }

    #[test]
    fn scan_equals_one_by_one_search() {
        let weights = [0.3, 0.7];
        let gallery: Vec<Template> = (0..150).map(random_template).collect();
        let owned: Vec<QuickRef> = gallery.iter().map(QuickRef::new).collect();
        let refs: Vec<&QuickRef> = owned.iter().collect();
        // The probe: a gallery member (its own canonical frame must win at zero shift).
        let probe = QuickProbe::new(&gallery[17], weights);
        for stage in [
            StageParams {
                all_scales: true,
                reach: 4,
                shift_step: 2,
                row_step: 4,
            },
            StageParams {
                all_scales: false,
                reach: 3,
                shift_step: 1,
                row_step: 2,
            },
        ] {
            let scanned = probe.scan(stage).search(&refs);
            let one_by_one: Vec<Pose> = refs.iter().map(|r| probe.search(r, &stage)).collect();
            assert_eq!(scanned, one_by_one);
            // Every vector kernel this CPU has, not only the fastest.
            #[cfg(target_arch = "x86_64")]
            for kernel in super::simd::Kernel::available() {
                let by_kernel = probe
                    .scan_with(stage, Rotations::All, Some(kernel))
                    .search(&refs);
                assert_eq!(by_kernel, one_by_one, "{kernel:?}");
            }
            let best = (0..refs.len())
                .min_by(|&a, &b| scanned[a].distance.total_cmp(&scanned[b].distance))
                .unwrap();
            assert_eq!(best, 17);
            assert_eq!(
                (scanned[17].frame, scanned[17].dx, scanned[17].dy),
                (0, 0, 0)
            );
            assert!(scanned[17].distance < 0.05, "{:?}", scanned[17]);
            assert!(scanned
                .iter()
                .enumerate()
                .all(|(i, p)| i == 17 || p.distance > 0.3));
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn fine_kernel_equals_the_scalar_refinement() {
        let Some(kernel) = simd::refine::Refine::detect() else {
            eprintln!("no AVX-512 VPOPCNTDQ on this CPU: nothing to compare");
            return;
        };
        let probe = QuickProbe::new(&random_template(3), [0.4, 0.6]);
        for seed in 10..16 {
            let reference = QuickRef::new(&random_template(seed));
            // Each pose alone (every displacement, inside and outside the padding, and off
            // the map), then all at once (the best and its tie order).
            let poses: Vec<(usize, i32, i32)> = (0..probe.frames.len())
                .step_by(4)
                .flat_map(|f| {
                    (-33..=33)
                        .step_by(3)
                        .flat_map(move |dy| (-33..=33).step_by(5).map(move |dx| (f, dx, dy)))
                })
                .collect();
            for &pose in &poses {
                let one = std::iter::once(pose);
                assert_eq!(
                    probe.best_of_with(kernel, &reference, one.clone()),
                    probe.best_of_generic(&reference, 2, one),
                    "seed {seed} pose {pose:?}"
                );
            }
            let all = poses.iter().copied();
            assert_eq!(
                probe.best_of_with(kernel, &reference, all.clone()),
                probe.best_of_generic(&reference, 2, all)
            );
        }
    }

    #[test]
    fn refine_finds_a_one_cell_offset() {
        let t = random_template(5);
        let refs = QuickRef::new(&t);
        let probe = QuickProbe::new(&t, [0.5, 0.5]);
        let off = Pose {
            distance: 1.0,
            frame: 0,
            dx: 1,
            dy: -1,
        };
        let fine = FineParams {
            rows: 2,
            all_scales: false,
        };
        let refined = probe.refine(&refs, off, fine);
        assert_eq!((refined.dx, refined.dy), (0, 0));
        assert!(refined.distance < 0.05);
    }

    #[test]
    fn rotations_near_one_stay_inside_the_probe_rotations() {
        // random_template stores the rotations 0, -5 and 5.
        let probe = QuickProbe::new(&random_template(7), [0.5, 0.5]);
        assert_eq!(probe.rotations_near(0, 1), Rotations::Between(-5, 5));
        assert_eq!(probe.rotations_near(-5, 1), Rotations::Between(-5, 0));
        assert_eq!(probe.rotations_near(5, 0), Rotations::Between(5, 5));
        assert_eq!(probe.rotations_near(0, 9), Rotations::Between(-5, 5));
        let stage = StageParams {
            all_scales: true,
            reach: 2,
            shift_step: 2,
            row_step: 4,
        };
        let at = |r| probe.poses(&stage, r).len();
        assert_eq!(at(Rotations::All), 9 * 3 * 3);
        assert_eq!(at(Rotations::Between(-5, 0)), 9 * 2 * 3);
        assert_eq!(at(Rotations::Between(5, 5)), 9 * 3);
    }

    #[test]
    fn refine_across_scales_finds_the_right_scale() {
        let t = random_template(6);
        let refs = QuickRef::new(&t);
        let probe = QuickProbe::new(&t, [0.5, 0.5]);
        // The canonical rotation at the second search scale: frames are scale-major.
        let rotations = t
            .print()
            .unwrap()
            .frames()
            .iter()
            .filter(|f| f.scale == 0)
            .count();
        let scaled = Pose {
            distance: 1.0,
            frame: rotations,
            dx: 0,
            dy: 1,
        };
        let fine = FineParams {
            rows: 2,
            all_scales: true,
        };
        let refined = probe.refine(&refs, scaled, fine);
        assert_eq!((refined.frame, refined.dx, refined.dy), (0, 0, 0));
        assert!(refined.distance < 0.05);
        let same_frame = probe.refine(
            &refs,
            scaled,
            FineParams {
                all_scales: false,
                ..fine
            },
        );
        assert_eq!(same_frame.frame, rotations);
        assert!(same_frame.distance > refined.distance);
    }
}
