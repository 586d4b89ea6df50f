//! Two quick stages before the full matcher: a coarse pass over everyone keeps a fraction, a
//! finer pass over those keeps the K candidates the full matcher decides among.
//!
//! Each stage is a matcher in its own right, so the mate survives stage 1 about as often as
//! that stage verifies at FAR = kept / N. Tuning seed 31 (294 gallery, 869 probes): the mate
//! survives coarse 10 % → fine 0.3 % in 99.65 % of probes, the full matcher alone accepts
//! 99.65 % at FAR 1e-4 (docs/palm-report.md, `examples/preselect_study.rs`).

use rayon::prelude::*;

use super::quick::{Pose, QuickProbe, QuickRef, StageParams};

/// People per parallel task of the coarse stage.
const CHUNK: usize = 512;

/// The cascade's stages and how many candidates each keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cascade {
    pub coarse: StageParams,
    /// Rows the fine stage compares (`y ≡ 0 mod fine_rows`) when it refines the coarse pose
    /// by ±1 cell.
    pub fine_rows: usize,
    /// Fraction of the gallery the coarse stage keeps (at least `4 × k`).
    pub coarse_keep: f32,
    /// Candidates handed to the full matcher.
    pub k: usize,
}

impl Default for Cascade {
    fn default() -> Self {
        Self {
            coarse: StageParams {
                all_scales: true,
                reach: 4,
                shift_step: 2,
                row_step: 4,
            },
            fine_rows: 2,
            coarse_keep: 0.1,
            k: 32,
        }
    }
}

impl Cascade {
    /// Positions in `gallery` of the K best candidates for `probe`, best first. Both stages
    /// run on the current rayon pool (all cores by default; the bench installs one thread).
    pub fn preselect(&self, probe: &QuickProbe, gallery: &[QuickRef]) -> Vec<u32> {
        let n = gallery.len();
        let keep = ((n as f32 * self.coarse_keep).ceil() as usize)
            .max(4 * self.k)
            .min(n);
        let scan = probe.scan(self.coarse);
        let mut coarse: Vec<(Pose, u32)> = gallery
            .par_chunks(CHUNK)
            .enumerate()
            .flat_map_iter(|(c, part)| {
                let poses = scan.search(part);
                poses
                    .into_iter()
                    .enumerate()
                    .map(move |(i, pose)| (pose, (c * CHUNK + i) as u32))
            })
            .collect();
        best_first(&mut coarse, keep);
        let mut fine: Vec<(Pose, u32)> = coarse
            .par_iter()
            .map(|&(pose, i)| (probe.refine(&gallery[i as usize], pose, self.fine_rows), i))
            .collect();
        best_first(&mut fine, self.k.min(n));
        fine.into_iter().map(|(_, i)| i).collect()
    }
}

/// Keeps the `keep` smallest distances, sorted.
fn best_first(items: &mut Vec<(Pose, u32)>, keep: usize) {
    let by = |a: &(Pose, u32), b: &(Pose, u32)| {
        a.0.distance.total_cmp(&b.0.distance).then(a.1.cmp(&b.1))
    };
    if keep < items.len() {
        items.select_nth_unstable_by(keep, by);
        items.truncate(keep);
    }
    items.sort_unstable_by(by);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_keeps_the_smallest_in_order() {
        let pose = |distance| Pose {
            distance,
            frame: 0,
            dx: 0,
            dy: 0,
        };
        let ids = |v: &[(Pose, u32)]| v.iter().map(|x| x.1).collect::<Vec<_>>();
        let mut v: Vec<_> = [0.4, 0.1, 0.3, 0.2, 0.5]
            .into_iter()
            .enumerate()
            .map(|(i, d)| (pose(d), i as u32))
            .collect();
        best_first(&mut v, 3);
        assert_eq!(ids(&v), vec![1, 3, 2]);
        let mut all = vec![(pose(0.2), 0), (pose(0.1), 1)];
        best_first(&mut all, 5);
        assert_eq!(ids(&all), vec![1, 0]);
    }
}
