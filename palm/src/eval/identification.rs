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
//! * The same probes are searched with the 1:N search the authenticator runs
//!   ([`crate::search::Gallery`]: the cascade pre-selection, then the full matcher on its K
//!   best). The report states how often the cascade alone returns exactly the exhaustive result
//!   (same entry, same score), how often the exhaustive winner was not among the K candidates,
//!   and, at the open-set threshold, how many mates the full matcher accepts that the cascade
//!   alone loses and how often the decision with the exhaustive fallback differs.

use rayon::prelude::*;

use super::confidence::{subject_bootstrap, Interval, SubjectTally};
use super::metrics::RULE_OF_THREE;
use super::verification::Enrolled;
use crate::search::quick::{QuickProbe, QuickRef};
use crate::search::{Gallery, Hit, SearchConfig};

/// The 1:N pre-selection codes of a biometric's templates (see [`crate::search::quick`]).
pub trait Preselection<T>: Sync {
    /// The gallery side of a template.
    fn quick_ref(&self, template: &T) -> QuickRef;
    /// The probe side of a template.
    fn quick_probe(&self, template: &T) -> QuickProbe;
}

/// How the identification run is set up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdentificationConfig {
    /// Every n-th subject is held out as non-mated (5 → 20 %).
    pub holdout_every: usize,
    /// Target false-positive identification rate for the open-set threshold.
    pub fpir: f64,
    /// The 1:N search measured against exhaustive search. Its exhaustive fallback is not run
    /// (its outcome follows from the exhaustive result, see [`SearchAgreement`]).
    pub search: SearchConfig,
}

impl Default for IdentificationConfig {
    fn default() -> Self {
        Self {
            holdout_every: 5,
            fpir: 1e-3,
            // Evaluation galleries are small: run the cascade whatever the size (the product
            // compares galleries up to 128 people exhaustively) so that it is measured.
            search: SearchConfig {
                exhaustive_up_to: 0,
                ..SearchConfig::default()
            },
        }
    }
}

/// Agreement of the 1:N search with exhaustive search over all probes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SearchAgreement {
    /// The cascade ran (false: no pre-selection codes, or the gallery is small enough to be
    /// searched exhaustively; then everything below agrees trivially).
    pub cascade: bool,
    pub probes: usize,
    /// Candidates handed to the full matcher and the fractions the histogram stage (if on)
    /// and the coarse stage keep.
    pub preselect_k: usize,
    pub histogram_keep: Option<f32>,
    pub coarse_keep: f32,
    /// The cascade alone (no fallback): same gallery entry and bit-identical score.
    pub same_result: usize,
    /// Mated probes only: same entry and score.
    pub mated_same_result: usize,
    pub mated_probes: usize,
    /// Probes whose exhaustive winner was not among the K candidates.
    pub winner_missed: usize,
    /// Mated probes whose exhaustive winner is their mate at or above the open-set threshold
    /// that the cascade alone does not return (found only by the exhaustive fallback).
    pub mates_lost: Option<usize>,
    /// Probes whose pre-selected best is below the open-set threshold: the fallback compares
    /// the rest of the gallery for them.
    pub fallbacks: Option<usize>,
    /// Same decision as exhaustive search (same subject at or above the threshold, or none)
    /// with the cascade alone, and with the exhaustive fallback (which returns the exhaustive
    /// best whenever it runs, so it can differ only where the pre-selected best already
    /// reached the threshold and a better entry was not pre-selected).
    pub same_decision_cascade: Option<usize>,
    pub same_decision: Option<usize>,
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

/// A gallery hit with the subject it was enrolled under.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Found {
    hit: Hit,
    subject: u32,
}

#[derive(Debug, Clone, Copy)]
struct ProbeOutcome {
    subject: u32,
    mated: bool,
    exhaustive: Option<Found>,
    /// The best among the cascade's candidates (= `exhaustive` where the cascade did not run).
    preselected: Option<Found>,
    /// The exhaustive winner was among the candidates (true where the cascade did not run).
    winner_kept: bool,
}

/// Runs the protocol. `samples` carry `(subject, sample ordinal)` and are sorted by subject;
/// `preselection` gives the pre-selection codes (`None`: exhaustive search only); `compare` is
/// the full matcher.
pub fn identify<T, F>(
    samples: &[(Enrolled<T>, u32)],
    config: IdentificationConfig,
    preselection: Option<&dyn Preselection<T>>,
    compare: F,
) -> IdentificationReport
where
    T: Sync,
    F: Fn(&T, &T) -> f32 + Sync,
{
    let mut subjects: Vec<u32> = samples.iter().map(|(e, _)| e.subject).collect();
    subjects.dedup();
    let held_out = |subject: u32| {
        let pos = subjects.binary_search(&subject).unwrap_or(0);
        config.holdout_every > 0 && pos % config.holdout_every == config.holdout_every - 1
    };

    // Gallery entry i is sample `enrolled[i]`.
    let enrolled: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].1 == 0 && !held_out(samples[i].0.subject))
        .collect();
    let enrolled_subjects: Vec<u32> = enrolled.iter().map(|&i| samples[i].0.subject).collect();
    let mut gallery = Gallery::new();
    if let Some(pre) = preselection {
        let codes: Vec<QuickRef> = enrolled
            .par_iter()
            .map(|&i| pre.quick_ref(&samples[i].0.template))
            .collect();
        gallery.reserve(codes.len());
        codes.into_iter().for_each(|c| gallery.push(c));
    }
    let search = SearchConfig {
        exhaustive_fallback: false,
        ..config.search
    };
    let probes: Vec<usize> = (0..samples.len())
        .filter(|&i| {
            let (e, ordinal) = &samples[i];
            held_out(e.subject)
                || (*ordinal != 0 && enrolled_subjects.binary_search(&e.subject).is_ok())
        })
        .collect();
    let found = |hit: Option<Hit>| {
        hit.map(|hit| Found {
            hit,
            subject: enrolled_subjects[hit.index],
        })
    };

    let outcomes: Vec<ProbeOutcome> = probes
        .par_iter()
        .map(|&p| {
            let probe = &samples[p].0;
            let score = |g: usize| compare(&probe.template, &samples[enrolled[g]].0.template);
            let exhaustive = found(
                (0..enrolled.len())
                    .map(|index| Hit {
                        index,
                        score: score(index),
                    })
                    .reduce(|a, b| if b.score > a.score { b } else { a }),
            );
            let (preselected, winner_kept) = match preselection {
                Some(pre) => {
                    let out = gallery.search(
                        || pre.quick_probe(&probe.template),
                        score,
                        f32::INFINITY,
                        &search,
                    );
                    let kept = match (&out.candidates, exhaustive) {
                        (Some(c), Some(w)) => c.contains(&(w.hit.index as u32)),
                        _ => true,
                    };
                    (found(out.best), kept)
                }
                None => (exhaustive, true),
            };
            ProbeOutcome {
                subject: probe.subject,
                mated: !held_out(probe.subject),
                exhaustive,
                preselected,
                winner_kept,
            }
        })
        .collect();
    let cascade =
        preselection.is_some() && enrolled.len() > search.exhaustive_up_to.max(search.cascade.k);
    summarize(&outcomes, enrolled.len(), config, cascade)
}

fn summarize(
    outcomes: &[ProbeOutcome],
    gallery: usize,
    config: IdentificationConfig,
    cascade: bool,
) -> IdentificationReport {
    let mated: Vec<&ProbeOutcome> = outcomes.iter().filter(|o| o.mated).collect();
    let top = |o: &ProbeOutcome| o.exhaustive.map_or(f32::NEG_INFINITY, |h| h.hit.score);
    let mut nonmated_top: Vec<f32> = outcomes.iter().filter(|o| !o.mated).map(top).collect();
    nonmated_top.sort_by(|a, b| b.total_cmp(a));

    let hit_at = |o: &ProbeOutcome, t: f32| {
        o.exhaustive
            .is_some_and(|h| h.subject == o.subject && h.hit.score >= t)
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
    let decision = |h: Option<Found>, t: f32| h.filter(|h| h.hit.score >= t).map(|h| h.subject);
    // What the search with its exhaustive fallback returns: the pre-selected best if it
    // reaches the threshold, else the best over everyone (= the exhaustive result).
    let with_fallback = |o: &ProbeOutcome, t: f32| match o.preselected {
        Some(p) if p.hit.score >= t => Some(p),
        _ => o.exhaustive,
    };
    let count = |f: &dyn Fn(&ProbeOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();

    let search = SearchAgreement {
        cascade,
        probes: outcomes.len(),
        preselect_k: config.search.cascade.k,
        histogram_keep: config.search.cascade.histogram_keep,
        coarse_keep: config.search.cascade.coarse_keep,
        same_result: count(&|o| o.preselected == o.exhaustive),
        mated_same_result: mated
            .iter()
            .filter(|o| o.preselected == o.exhaustive)
            .count(),
        mated_probes: mated.len(),
        winner_missed: count(&|o| !o.winner_kept),
        mates_lost: threshold
            .map(|t| count(&|o| o.mated && hit_at(o, t) && o.preselected != o.exhaustive)),
        fallbacks: threshold.map(|t| count(&|o| decision(o.preselected, t).is_none())),
        same_decision_cascade: threshold
            .map(|t| count(&|o| decision(o.preselected, t) == decision(o.exhaustive, t))),
        same_decision: threshold
            .map(|t| count(&|o| decision(with_fallback(o, t), t) == decision(o.exhaustive, t))),
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
    if !a.cascade {
        let _ = writeln!(s, "1:N search        exhaustive (no pre-selection ran)");
        return s;
    }
    let _ = writeln!(
        s,
        "1:N cascade       histograms keep {}, coarse keeps {:.0} %, full matcher on K = {}: same result as exhaustive for {}/{} probes ({}/{} mated); exhaustive winner not pre-selected for {}",
        a.histogram_keep
            .map_or_else(|| "everyone (stage off)".to_string(), |h| format!("{:.0} %", 100.0 * h)),
        100.0 * a.coarse_keep,
        a.preselect_k,
        a.same_result,
        a.probes,
        a.mated_same_result,
        a.mated_probes,
        a.winner_missed
    );
    if let (Some(lost), Some(fallbacks), Some(cascade), Some(with)) = (
        a.mates_lost,
        a.fallbacks,
        a.same_decision_cascade,
        a.same_decision,
    ) {
        let _ = writeln!(
            s,
            "                  at the threshold: mates lost by the cascade alone {lost}; same decision {cascade}/{n} (cascade alone), {with}/{n} (with the exhaustive fallback, run for {fallbacks} probes)",
            n = a.probes
        );
    }
    s
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
    use crate::search::quick::tests::random_template;
    use crate::template::Template;

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

    /// Random pre-selection codes; sample `k` of subject `s` carries the codes of
    /// `codes_of(s, k)` and the full matcher (`same_subject`) knows who is who.
    struct Codes;

    type Coded = (u32, Template);

    impl Preselection<Coded> for Codes {
        fn quick_ref(&self, t: &Coded) -> QuickRef {
            QuickRef::new(&t.1)
        }
        fn quick_probe(&self, t: &Coded) -> QuickProbe {
            QuickProbe::new(&t.1, [0.3, 0.7])
        }
    }

    fn coded(
        subjects: u32,
        per: u32,
        codes_of: impl Fn(u32, u32) -> u64,
    ) -> Vec<(Enrolled<Coded>, u32)> {
        (0..subjects)
            .flat_map(|s| (0..per).map(move |k| (s, k)))
            .map(|(s, k)| {
                let template = (s, random_template(codes_of(s, k)));
                (
                    Enrolled {
                        subject: s,
                        template,
                    },
                    k,
                )
            })
            .collect()
    }

    fn same_subject(a: &Coded, b: &Coded) -> f32 {
        if a.0 == b.0 {
            1.0
        } else {
            -(b.0 as f32) * 1e-3
        }
    }

    #[test]
    fn cascade_finds_mates_whose_codes_agree() {
        // 200 subjects, 40 held out: gallery 160 > K = 16, so the cascade runs.
        let s = coded(200, 3, |s, _| u64::from(s));
        let r = identify(
            &s,
            IdentificationConfig::default(),
            Some(&Codes),
            same_subject,
        );
        assert!(r.search.cascade);
        assert_eq!(r.gallery, 160);
        assert_eq!(r.rank1, 1.0);
        assert_eq!(r.search.mated_same_result, r.search.mated_probes);
        // A non-mated probe's exhaustive winner is the best-scoring stranger (subject 0 here),
        // whom its random codes need not pre-select; every mated winner was pre-selected.
        assert!(
            r.search.winner_missed <= r.nonmated_probes,
            "{:?}",
            r.search
        );
    }

    #[test]
    fn mates_the_cascade_loses_are_counted_and_the_fallback_recovers_them() {
        // Probes carry codes unrelated to their enrolment's: the cascade pre-selects at random
        // (K = 16 of 800), the full matcher still knows the mate.
        let s = coded(1000, 2, |s, k| u64::from(s) + 100_000 * u64::from(k));
        let cfg = IdentificationConfig {
            fpir: 1e-2,
            ..IdentificationConfig::default()
        };
        let r = identify(&s, cfg, Some(&Codes), same_subject);
        let a = r.search;
        assert!(a.cascade);
        assert_eq!(r.rank1, 1.0);
        assert!(a.mated_same_result < a.mated_probes / 2, "{a:?}");
        assert!(a.winner_missed >= a.mated_probes - a.mated_same_result);
        let lost = a.mates_lost.expect("threshold measurable");
        assert_eq!(lost, a.mated_probes - a.mated_same_result);
        assert!(a.same_decision_cascade.unwrap() < a.probes);
        assert_eq!(a.same_decision, Some(a.probes));
        assert!(a.fallbacks.unwrap() >= lost);
    }

    #[test]
    fn perfect_matcher_gives_full_rank1_and_zero_fnir() {
        let s = samples(100, 6);
        let cfg = IdentificationConfig {
            holdout_every: 5,
            fpir: 1e-2,
            ..IdentificationConfig::default()
        };
        let r = identify(&s, cfg, None, sim);
        assert_eq!(r.gallery, 80);
        assert_eq!(r.mated_probes, 80 * 5);
        assert_eq!(r.nonmated_probes, 20 * 6);
        assert_eq!(r.rank1, 1.0);
        // 120 non-mated probes < 3 / 1e-2 = 300: FNIR at this FPIR cannot be measured.
        assert!(r.fnir.is_none() && r.threshold.is_none());
        assert!(!r.search.cascade);
        assert_eq!(r.search.same_result, r.search.probes);
    }

    #[test]
    fn open_set_threshold_respects_fpir_and_counts_misses() {
        let s = samples(500, 4);
        let cfg = IdentificationConfig {
            holdout_every: 2,
            fpir: 1e-2,
            ..IdentificationConfig::default()
        };
        let r = identify(&s, cfg, None, sim);
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
            ..IdentificationConfig::default()
        };
        let r = identify(&s, cfg, None, |_, _| 0.5);
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
