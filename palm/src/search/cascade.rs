//! Three quick stages before the full matcher: orientation histograms over everyone keep a
//! fraction, a coarse pose search over those keeps a smaller one, a finer pass over those keeps
//! the K candidates the full matcher decides among.
//!
//! Each stage is a matcher in its own right, so the mate survives a stage about as often as
//! that stage verifies at FAR = kept / N. Tuning seed 31 (294 gallery, 869 probes): the
//! histogram stage keeps the mate at 5 % for 99.54 % of probes at ~30 ns per person (5 poses);
//! the coarse stage (375 poses, ~6–10 µs per person) and the fine stage then narrow down to K.
//! Against the full matcher the whole cascade misses ~3 in 1,000 accepted mates (the
//! exhaustive fallback finds them; docs/palm-report.md, `examples/preselect_study.rs`).

use rayon::prelude::*;

use super::quick::{FineParams, Pose, QuickProbe, QuickRef, StageParams};

/// People per parallel task of the scanning stages.
const CHUNK: usize = 512;

/// The cascade's stages and how many candidates each keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cascade {
    /// Fraction of the gallery the histogram stage keeps (at least `16 × k`); `None`: the
    /// coarse stage scans everyone.
    pub histogram_keep: Option<f32>,
    pub coarse: StageParams,
    /// How the fine stage refines the coarse pose (±1 cell).
    pub fine: FineParams,
    /// Fraction of the gallery the coarse stage keeps (at least `4 × k`).
    pub coarse_keep: f32,
    /// Candidates handed to the full matcher.
    pub k: usize,
}

impl Default for Cascade {
    fn default() -> Self {
        Self {
            histogram_keep: Some(0.05),
            coarse: StageParams {
                all_scales: true,
                reach: 4,
                shift_step: 2,
                row_step: 4,
            },
            fine: FineParams {
                rows: 2,
                all_scales: false,
            },
            coarse_keep: 0.02,
            k: 16,
        }
    }
}

impl Cascade {
    /// Positions in `gallery` of the K best candidates for `probe`, best first. Every stage
    /// runs on the current rayon pool (all cores by default; the bench installs one thread).
    pub fn preselect(&self, probe: &QuickProbe, gallery: &[QuickRef]) -> Vec<u32> {
        let n = gallery.len();
        let keep = |fraction: f32, floor: usize| ((n as f32 * fraction).ceil() as usize).max(floor);
        let mut ids: Vec<u32> = (0..n as u32).collect();
        if let Some(fraction) = self.histogram_keep {
            let histogram = probe.histogram();
            ids = keep_best(gallery, ids, keep(fraction, 16 * self.k), |r| {
                histogram.distance(r.histogram())
            });
        }
        let survivors: Vec<&QuickRef> = ids.iter().map(|&i| &gallery[i as usize]).collect();
        let scan = probe.scan(self.coarse);
        let mut coarse: Vec<(Pose, u32)> = survivors
            .par_chunks(CHUNK)
            .zip(ids.par_chunks(CHUNK))
            .flat_map_iter(|(part, part_ids)| {
                scan.search(part).into_iter().zip(part_ids.iter().copied())
            })
            .collect();
        best_first(&mut coarse, keep(self.coarse_keep, 4 * self.k));
        let mut fine: Vec<(Pose, u32)> = coarse
            .par_iter()
            .map(|&(pose, i)| (probe.refine(&gallery[i as usize], pose, self.fine), i))
            .collect();
        best_first(&mut fine, self.k.min(n));
        fine.into_iter().map(|(_, i)| i).collect()
    }
}

/// The `keep` entries of `ids` with the smallest `distance`, in gallery order again (so the
/// next stage reads memory forwards); all of `ids` when they are no more than `keep`.
fn keep_best(
    gallery: &[QuickRef],
    ids: Vec<u32>,
    keep: usize,
    distance: impl Fn(&QuickRef) -> u32 + Sync,
) -> Vec<u32> {
    if ids.len() <= keep {
        return ids;
    }
    let mut scored: Vec<(u32, u32)> = ids
        .par_chunks(CHUNK)
        .flat_map_iter(|part| part.iter().map(|&i| (distance(&gallery[i as usize]), i)))
        .collect();
    scored.select_nth_unstable(keep);
    scored.truncate(keep);
    let mut kept: Vec<u32> = scored.into_iter().map(|(_, i)| i).collect();
    kept.sort_unstable();
    kept
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
    fn every_stage_keeps_a_gallery_member() {
        use crate::search::quick::tests::random_template;
        use crate::template::Template;
        let templates: Vec<Template> = (0..600).map(random_template).collect();
        let gallery: Vec<QuickRef> = templates.iter().map(QuickRef::new).collect();
        // K = 4: the histogram stage keeps 64 of 600, the coarse stage 16 of those.
        let cascade = Cascade {
            k: 4,
            ..Cascade::default()
        };
        for member in [0, 123, 599] {
            let probe = QuickProbe::new(&templates[member], [0.3, 0.7]);
            let picked = cascade.preselect(&probe, &gallery);
            assert_eq!(picked.len(), 4);
            assert_eq!(picked[0], member as u32);
        }
        let without = Cascade {
            histogram_keep: None,
            ..cascade
        };
        let probe = QuickProbe::new(&templates[42], [0.3, 0.7]);
        assert_eq!(without.preselect(&probe, &gallery)[0], 42);
    }

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
