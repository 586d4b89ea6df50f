//! Three quick stages before the full matcher: orientation histograms over everyone keep a
//! fraction, a coarse pose search over those keeps a smaller one, a finer pass over those keeps
//! the K candidates the full matcher decides among.
//!
//! Each stage is a matcher in its own right, so the mate survives a stage about as often as
//! that stage verifies at FAR = kept / N. Tuning seed 31 (294 gallery, 869 probes): the
//! histogram stage keeps the mate at 5 % for 99.54 % of probes (5 poses, a contiguous
//! 192-byte descriptor per person). The coarse stage searches each survivor only at the
//! rotations next to the one the histograms found best (225 of 375 poses, fewer at the edge of
//! the range): that loses no more mates, since strangers get fewer poses too. The fine stage
//! then narrows down to K = 16. Against the full matcher the whole cascade misses ~3–9 in 1,000
//! accepted mates, which the exhaustive fallback finds (docs/palm-report.md,
//! `examples/preselect_study.rs`).

use rayon::prelude::*;

use super::histograms::BroadRef;
use super::quick::{FineParams, Pose, QuickProbe, QuickRef, Rotations, Scan, StageParams};

/// People per parallel task of the scanning stages.
const CHUNK: usize = 512;
/// How far ahead of its refinement the fine stage asks for a survivor's gallery entry: the
/// survivors lie scattered over the gallery, so each entry is a cache miss otherwise.
const AHEAD: usize = 4;

/// The cascade's stages and how many candidates each keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cascade {
    /// Fraction of the gallery the histogram stage keeps (at least `16 × k`); `None`: the
    /// coarse stage scans everyone.
    pub histogram_keep: Option<f32>,
    pub coarse: StageParams,
    /// `Some(r)`: the coarse stage tries, per person, only the rotations within `r` rotation
    /// steps of the one at which the histogram stage found them closest (`None`, or no
    /// histogram stage: every rotation).
    pub coarse_rotations: Option<usize>,
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
            coarse_rotations: Some(1),
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
    ///
    /// `histograms[i]` is `gallery[i].histogram()`, laid out contiguously: the first stage
    /// reads only them, for everyone, and reading them out of the 1,472-byte gallery entries
    /// costs 3–4× more (each entry's cache lines fetched one by one).
    pub fn preselect(
        &self,
        probe: &QuickProbe,
        gallery: &[QuickRef],
        histograms: &[BroadRef],
    ) -> Vec<u32> {
        assert_eq!(gallery.len(), histograms.len(), "one histogram per person");
        let n = gallery.len();
        let keep = |fraction: f32, floor: usize| ((n as f32 * fraction).ceil() as usize).max(floor);
        // Who the coarse stage compares, grouped by the rotations it tries them at.
        let groups: Vec<(Rotations, Vec<u32>)> = match self.histogram_keep {
            None => vec![(Rotations::All, (0..n as u32).collect())],
            Some(fraction) => {
                let histogram = probe.histogram();
                let kept = keep_best(histograms, keep(fraction, 16 * self.k), |r| {
                    histogram.best_pose(r)
                });
                match self.coarse_rotations {
                    None => vec![(Rotations::All, kept.into_iter().map(|(i, _)| i).collect())],
                    // One group per rotation the histograms found people closest at.
                    Some(reach) => {
                        let mut groups: Vec<(i8, Vec<u32>)> = Vec::new();
                        for (i, pose) in kept {
                            let rotation = histogram.pose_rotation(pose);
                            match groups.iter_mut().find(|(r, _)| *r == rotation) {
                                Some((_, ids)) => ids.push(i),
                                None => groups.push((rotation, vec![i])),
                            }
                        }
                        groups
                            .into_iter()
                            .map(|(rotation, ids)| (probe.rotations_near(rotation, reach), ids))
                            .collect()
                    }
                }
            }
        };
        let mut coarse: Vec<(Pose, u32)> = groups
            .iter()
            .flat_map(|(at, ids)| coarse_scan(&probe.scan_at(self.coarse, *at), gallery, ids))
            .collect();
        best_first(&mut coarse, keep(self.coarse_keep, 4 * self.k));
        let mut fine: Vec<(Pose, u32)> = coarse
            .par_chunks(CHUNK)
            .flat_map_iter(|part| {
                part.iter().enumerate().map(move |(j, &(pose, i))| {
                    if let Some(&(_, next)) = part.get(j + AHEAD) {
                        gallery[next as usize].prefetch();
                    }
                    (probe.refine(&gallery[i as usize], pose, self.fine), i)
                })
            })
            .collect();
        best_first(&mut fine, self.k.min(n));
        fine.into_iter().map(|(_, i)| i).collect()
    }
}

/// The coarse stage's best pose for each of `ids`, in parallel.
fn coarse_scan(scan: &Scan<'_>, gallery: &[QuickRef], ids: &[u32]) -> Vec<(Pose, u32)> {
    let survivors: Vec<&QuickRef> = ids.iter().map(|&i| &gallery[i as usize]).collect();
    survivors
        .par_chunks(CHUNK)
        .zip(ids.par_chunks(CHUNK))
        .flat_map_iter(|(part, part_ids)| {
            scan.search(part).into_iter().zip(part_ids.iter().copied())
        })
        .collect()
}

/// The `keep` people of `gallery` with the smallest `score` distance, in gallery order (so
/// the next stage reads memory forwards), each with the pose it was found at; everyone when
/// the gallery holds no more than `keep`. Ties go to the lower position.
fn keep_best<T: Sync>(
    gallery: &[T],
    keep: usize,
    score: impl Fn(&T) -> (u32, usize) + Sync,
) -> Vec<(u32, usize)> {
    // One `u64` per person (distance, then position) selects fast; poses are looked up after.
    let mut poses = vec![0u16; gallery.len()];
    let mut keys = vec![0u64; gallery.len()];
    keys.par_chunks_mut(CHUNK)
        .zip(poses.par_chunks_mut(CHUNK))
        .zip(gallery.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, ((keys, poses), part))| {
            for (j, ((key, pose), r)) in keys.iter_mut().zip(poses).zip(part).enumerate() {
                let (distance, p) = score(r);
                *key = u64::from(distance) << 32 | (c * CHUNK + j) as u64;
                *pose = p as u16;
            }
        });
    if keys.len() > keep {
        keys.select_nth_unstable(keep);
        keys.truncate(keep);
    }
    keys.sort_unstable_by_key(|&k| k as u32);
    keys.into_iter()
        .map(|k| {
            let i = k as u32;
            (i, usize::from(poses[i as usize]))
        })
        .collect()
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
        let histograms: Vec<BroadRef> = gallery.iter().map(|r| *r.histogram()).collect();
        // K = 4: the histogram stage keeps 64 of 600, the coarse stage 16 of those.
        let cascade = Cascade {
            k: 4,
            ..Cascade::default()
        };
        for member in [0, 123, 599] {
            let probe = QuickProbe::new(&templates[member], [0.3, 0.7]);
            let picked = cascade.preselect(&probe, &gallery, &histograms);
            assert_eq!(picked.len(), 4);
            assert_eq!(picked[0], member as u32);
        }
        for reach in [0, 1] {
            let around = Cascade {
                coarse_rotations: Some(reach),
                ..cascade
            };
            for member in [0, 321, 599] {
                let probe = QuickProbe::new(&templates[member], [0.3, 0.7]);
                assert_eq!(
                    around.preselect(&probe, &gallery, &histograms)[0],
                    member as u32
                );
            }
        }
        let without = Cascade {
            histogram_keep: None,
            ..cascade
        };
        let probe = QuickProbe::new(&templates[42], [0.3, 0.7]);
        assert_eq!(without.preselect(&probe, &gallery, &histograms)[0], 42);
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
