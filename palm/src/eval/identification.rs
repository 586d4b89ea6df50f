//! Identification protocol (ISO/IEC 19795-1 §7, open-set terms of ISO/IEC 19795-2 / NIST FRVT):
//!
//! * Subjects are split by their position in the sorted subject list: every `holdout_every`-th
//!   subject is **never enrolled**; all its samples are **non-mated probes**.
//! * Every other subject enrols its first sample (sample ordinal 0) into the gallery; its other
//!   samples are **mated probes**. A subject whose first sample failed extraction failed to
//!   enrol (FTE) and takes no part.
//! * Closed set: **rank-1 identification rate** = mated probes whose best-scoring gallery entry
//!   is their own subject.
//! * Open set: the threshold `t` is the lowest one at which at most `fpir` of non-mated probes
//!   return any candidate (top score ≥ t); **FNIR** = mated probes whose top candidate is not
//!   their mate or scores below `t`. `None` when non-mated probes are fewer than 3 / fpir.
//! * The same probes are searched with the two-stage [`Gallery`] search: the report states how
//!   often it returns exactly the exhaustive result (same entry, same score) and how often it
//!   takes the same decision at the open-set threshold.

use rayon::prelude::*;

use super::confidence::{subject_bootstrap, Interval, SubjectTally};
use super::metrics::RULE_OF_THREE;
use super::verification::Enrolled;
use crate::search::{Gallery, Scratch};

/// How the identification run is set up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdentificationConfig {
    /// Every n-th subject is held out as non-mated (5 → 20 %).
    pub holdout_every: usize,
    /// Target false-positive identification rate for the open-set threshold.
    pub fpir: f64,
    /// Candidates kept by the sketch pre-selection.
    pub preselect_k: usize,
}

/// Candidates kept by the sketch pre-selection unless told otherwise.
pub const DEFAULT_PRESELECT_K: usize = 64;

impl Default for IdentificationConfig {
    fn default() -> Self {
        Self {
            holdout_every: 5,
            fpir: 1e-3,
            preselect_k: DEFAULT_PRESELECT_K,
        }
    }
}

/// Agreement of the two-stage search with exhaustive search over all probes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SearchAgreement {
    pub probes: usize,
    pub preselect_k: usize,
    pub sketch_words: usize,
    /// Same gallery entry and bit-identical score.
    pub same_result: usize,
    /// Mated probes only: same entry and score.
    pub mated_same_result: usize,
    pub mated_probes: usize,
    /// Same decision (same subject above the threshold, or none) at the open-set threshold.
    pub same_decision: Option<usize>,
    /// Smallest K that would have given every mated probe the exhaustive result.
    pub k_needed_mated: usize,
    /// Smallest K that would have given every probe the exhaustive result.
    pub k_needed_all: usize,
    /// Smallest K for the same decision at the open-set threshold on every probe: only probes
    /// whose exhaustive winner reaches the threshold need it pre-selected.
    pub k_needed_decision: Option<usize>,
}

/// Results of the identification protocol.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IdentificationReport {
    pub gallery: usize,
    pub mated_probes: usize,
    pub nonmated_probes: usize,
    pub rank1: f64,
    pub rank1_ci80: Interval,
    pub fpir_target: f64,
    pub threshold: Option<f64>,
    pub fpir: Option<f64>,
    pub fnir: Option<f64>,
    pub fnir_ci80: Option<Interval>,
    pub search: SearchAgreement,
}

#[derive(Debug, Clone, Copy)]
struct ProbeOutcome {
    subject: u32,
    mated: bool,
    exhaustive: Option<crate::search::Hit>,
    fast: Option<crate::search::Hit>,
    /// Pre-selection rank of the exhaustive winner (K must exceed it).
    winner_rank: Option<usize>,
}

/// Runs the protocol. `samples` carry `(subject, sample ordinal)` and are sorted by subject;
/// `sketch` maps a template to its `words`-word sketch; `compare` is the full matcher.
pub fn identify<T, S, F>(
    samples: &[(Enrolled<T>, u32)],
    config: IdentificationConfig,
    words: usize,
    sketch: S,
    compare: F,
) -> IdentificationReport
where
    T: Sync,
    S: Fn(&T) -> Vec<u64> + Sync,
    F: Fn(&T, &T) -> f32 + Sync,
{
    let mut subjects: Vec<u32> = samples.iter().map(|(e, _)| e.subject).collect();
    subjects.dedup();
    let held_out = |subject: u32| {
        let pos = subjects.binary_search(&subject).unwrap_or(0);
        config.holdout_every > 0 && pos % config.holdout_every == config.holdout_every - 1
    };

    let mut gallery: Gallery<usize> = Gallery::new(words);
    let mut enrolled_subjects = Vec::new();
    for (i, (e, ordinal)) in samples.iter().enumerate() {
        if *ordinal == 0 && !held_out(e.subject) {
            gallery.push(e.subject, &sketch(&e.template), i);
            enrolled_subjects.push(e.subject);
        }
    }
    let probes: Vec<usize> = (0..samples.len())
        .filter(|&i| {
            let (e, ordinal) = &samples[i];
            held_out(e.subject)
                || (*ordinal != 0 && enrolled_subjects.binary_search(&e.subject).is_ok())
        })
        .collect();

    let outcomes: Vec<ProbeOutcome> = probes
        .par_iter()
        .map_init(Scratch::default, |scratch, &p| {
            let probe = &samples[p].0;
            let score = |&g: &usize| compare(&probe.template, &samples[g].0.template);
            let probe_sketch = sketch(&probe.template);
            let exhaustive = gallery.search_exhaustive(score);
            ProbeOutcome {
                subject: probe.subject,
                mated: !held_out(probe.subject),
                exhaustive,
                fast: gallery.search(&probe_sketch, config.preselect_k, scratch, score),
                winner_rank: exhaustive.map(|h| gallery.preselect_rank(&probe_sketch, h.index)),
            }
        })
        .collect();
    summarize(&outcomes, gallery.len(), config, words)
}

fn summarize(
    outcomes: &[ProbeOutcome],
    gallery: usize,
    config: IdentificationConfig,
    words: usize,
) -> IdentificationReport {
    let mated: Vec<&ProbeOutcome> = outcomes.iter().filter(|o| o.mated).collect();
    let top = |o: &ProbeOutcome| o.exhaustive.map_or(f32::NEG_INFINITY, |h| h.score);
    let mut nonmated_top: Vec<f32> = outcomes.iter().filter(|o| !o.mated).map(top).collect();
    nonmated_top.sort_by(|a, b| b.total_cmp(a));

    let hit_at = |o: &ProbeOutcome, t: f32| {
        o.exhaustive
            .is_some_and(|h| h.label == o.subject && h.score >= t)
    };
    let tallies = |t: f32| -> Vec<SubjectTally> {
        let mut out: Vec<(u32, SubjectTally)> = Vec::new();
        for o in &mated {
            if out.last().is_none_or(|(s, _)| *s != o.subject) {
                out.push((o.subject, SubjectTally::default()));
            }
            let tally = &mut out.last_mut().expect("just pushed").1;
            tally.trials += 1;
            tally.hits += u64::from(hit_at(o, t));
        }
        out.into_iter().map(|(_, t)| t).collect()
    };
    let rate = |t: &[SubjectTally]| {
        let (h, n) = t
            .iter()
            .fold((0, 0), |(h, n), s| (h + s.hits, n + s.trials));
        h as f64 / n.max(1) as f64
    };

    let rank1_tallies = tallies(f32::NEG_INFINITY);
    let measurable = nonmated_top.len() as f64 * config.fpir >= RULE_OF_THREE;
    let threshold = measurable.then(|| {
        let allowed = (config.fpir * nonmated_top.len() as f64).floor() as usize;
        // Just above the (allowed+1)-th highest non-mated score.
        next_up(nonmated_top[allowed])
    });
    let decision =
        |h: Option<crate::search::Hit>, t: f32| h.filter(|h| h.score >= t).map(|h| h.label);

    let search = SearchAgreement {
        probes: outcomes.len(),
        preselect_k: config.preselect_k,
        sketch_words: words,
        same_result: outcomes.iter().filter(|o| o.fast == o.exhaustive).count(),
        mated_same_result: mated.iter().filter(|o| o.fast == o.exhaustive).count(),
        mated_probes: mated.len(),
        k_needed_mated: k_needed(mated.iter().copied(), f32::NEG_INFINITY),
        k_needed_all: k_needed(outcomes.iter(), f32::NEG_INFINITY),
        k_needed_decision: threshold.map(|t| k_needed(outcomes.iter(), t)),
        same_decision: threshold.map(|t| {
            outcomes
                .iter()
                .filter(|o| decision(o.fast, t) == decision(o.exhaustive, t))
                .count()
        }),
    };
    let fnir_tallies = threshold.map(|t| {
        tallies(t)
            .into_iter()
            .map(|s| SubjectTally {
                hits: s.trials - s.hits,
                trials: s.trials,
            })
            .collect::<Vec<_>>()
    });
    IdentificationReport {
        gallery,
        mated_probes: mated.len(),
        nonmated_probes: nonmated_top.len(),
        rank1: rate(&rank1_tallies),
        rank1_ci80: subject_bootstrap(&rank1_tallies, 0.8, 1000),
        fpir_target: config.fpir,
        threshold: threshold.map(f64::from),
        fpir: threshold.map(|t| {
            nonmated_top.iter().filter(|&&s| s >= t).count() as f64 / nonmated_top.len() as f64
        }),
        fnir: fnir_tallies.as_deref().map(rate),
        fnir_ci80: fnir_tallies
            .as_deref()
            .map(|t| subject_bootstrap(t, 0.8, 1000)),
        search,
    }
}

/// Human-readable identification summary.
pub fn to_text(r: &IdentificationReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "identification    gallery {} (first sample of each enrolled identity), {} mated probes, {} non-mated probes (held-out identities)",
        r.gallery, r.mated_probes, r.nonmated_probes
    );
    let _ = writeln!(
        s,
        "rank-1            {:.4} %  (80 % CI {:.4} … {:.4} %, subject bootstrap)",
        100.0 * r.rank1,
        100.0 * r.rank1_ci80.lo,
        100.0 * r.rank1_ci80.hi
    );
    match (r.threshold, r.fpir, r.fnir, r.fnir_ci80) {
        (Some(t), Some(fpir), Some(fnir), Some(ci)) => {
            let _ = writeln!(
                s,
                "FNIR at FPIR {:.0e}  {:.4} %  (80 % CI {:.4} … {:.4} %; threshold {t:.6}, measured FPIR {fpir:.2e})",
                r.fpir_target,
                100.0 * fnir,
                100.0 * ci.lo,
                100.0 * ci.hi
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "FNIR at FPIR {:.0e}  not measurable: needs ≥ {:.0} non-mated probes",
                r.fpir_target,
                3.0 / r.fpir_target
            );
        }
    }
    let a = &r.search;
    let _ = writeln!(
        s,
        "1:N pre-selection {} sketch words, K = {}: same result as exhaustive for {}/{} probes ({}/{} mated){}",
        a.sketch_words,
        a.preselect_k,
        a.same_result,
        a.probes,
        a.mated_same_result,
        a.mated_probes,
        a.same_decision.map_or(String::new(), |d| format!(", same decision at the threshold for {d}/{}", a.probes))
    );
    let _ = writeln!(
        s,
        "                  K needed for the exhaustive result: {} (mated probes), {} (all probes){}",
        a.k_needed_mated,
        a.k_needed_all,
        a.k_needed_decision.map_or(String::new(), |k| format!(", {k} (same decision at the threshold)"))
    );
    s
}

/// 1 + the largest pre-selection rank of an exhaustive winner scoring at least `t`.
fn k_needed<'a>(outcomes: impl Iterator<Item = &'a ProbeOutcome>, t: f32) -> usize {
    outcomes
        .filter(|o| o.exhaustive.is_some_and(|h| h.score >= t))
        .filter_map(|o| o.winner_rank)
        .max()
        .map_or(0, |r| r + 1)
}

/// The smallest f32 greater than `x` (for "strictly above this score" thresholds).
fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == f32::NEG_INFINITY {
        return f32::MIN;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 {
        1
    } else if x > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Templates are points on a line: subject s sits at 10·s, sample k adds a small offset;
    /// similarity falls with distance. Everyone is identified correctly.
    fn samples(subjects: u32, per: u32) -> Vec<(Enrolled<f32>, u32)> {
        let mut v = Vec::new();
        for s in 0..subjects {
            for k in 0..per {
                v.push((
                    Enrolled {
                        subject: s,
                        template: 10.0 * s as f32 + 0.1 * k as f32,
                    },
                    k,
                ));
            }
        }
        v
    }

    fn sim(a: &f32, b: &f32) -> f32 {
        1.0 / (1.0 + (a - b).abs())
    }

    fn sketch(t: &f32) -> Vec<u64> {
        // Thermometer code of the position: Hamming distance grows with |a - b|.
        let level = (*t / 10.0).round().clamp(0.0, 511.0) as u32;
        let mut w = vec![0u64; 8];
        for b in 0..level {
            w[(b / 64) as usize] |= 1 << (b % 64);
        }
        w
    }

    #[test]
    fn perfect_matcher_gives_full_rank1_and_zero_fnir() {
        let s = samples(100, 6);
        let cfg = IdentificationConfig {
            holdout_every: 5,
            fpir: 1e-2,
            preselect_k: 3,
        };
        let r = identify(&s, cfg, 8, sketch, sim);
        assert_eq!(r.gallery, 80);
        assert_eq!(r.mated_probes, 80 * 5);
        assert_eq!(r.nonmated_probes, 20 * 6);
        assert_eq!(r.rank1, 1.0);
        // 120 non-mated probes < 3 / 1e-2 = 300: FNIR at this FPIR cannot be measured.
        assert!(r.fnir.is_none() && r.threshold.is_none());
        assert_eq!(r.search.same_result, r.search.probes);
    }

    #[test]
    fn open_set_threshold_respects_fpir_and_counts_misses() {
        let s = samples(500, 4);
        let cfg = IdentificationConfig {
            holdout_every: 2,
            fpir: 1e-2,
            preselect_k: 3,
        };
        let r = identify(&s, cfg, 8, sketch, sim);
        assert_eq!(r.nonmated_probes, 1000);
        let fpir = r.fpir.unwrap();
        assert!(fpir <= 1e-2, "{fpir}");
        // Non-mated probes sit 10 away from the nearest enrolled subject (score 1/11); mated
        // probes at most 0.3 (score ≥ 0.77): all identified above the threshold.
        assert_eq!(r.fnir, Some(0.0));
        assert_eq!(r.search.same_decision, Some(r.search.probes));
    }

    #[test]
    fn a_useless_matcher_fails_identification() {
        let s = samples(200, 4);
        let cfg = IdentificationConfig {
            holdout_every: 4,
            fpir: 2e-2,
            preselect_k: 3,
        };
        let r = identify(&s, cfg, 8, sketch, |_, _| 0.5);
        // Every score ties: the first gallery entry wins, which is the mate for 1 subject.
        assert!(r.rank1 < 0.01, "{}", r.rank1);
        assert!(r.fnir.unwrap() > 0.99);
    }

    #[test]
    fn next_up_is_strictly_greater() {
        for x in [-1.5f32, -0.0, 0.0, 0.3, 1e30] {
            assert!(next_up(x) > x);
        }
    }
}
