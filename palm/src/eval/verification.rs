//! The all-pairs verification protocol: every unordered pair of enrolled samples compared once,
//! same subject = genuine, different = impostor. Generic over the comparison so it can be
//! tested on synthetic score distributions and run on any modality of the engine.
//!
//! Genuine scores are few (subjects × C(samples, 2)) and kept exactly, with their subject, for
//! subject-level confidence bounds. Impostor scores (≈ 200 M for 2,000 × 10) only go into a
//! fine histogram, one per worker thread, merged at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use super::histogram::ScoreHistogram;
use super::metrics::GenuineScore;

/// One enrolled sample: its subject and its template.
#[derive(Debug, Clone)]
pub struct Enrolled<T> {
    pub subject: u32,
    pub template: T,
}

/// The score range and resolution of a comparator's similarity scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreScale {
    pub lo: f64,
    pub hi: f64,
    pub bins: usize,
}

/// All scores of one all-pairs run.
#[derive(Debug, Clone)]
pub struct PairScores {
    pub genuine: Vec<GenuineScore>,
    pub impostor: ScoreHistogram,
}

struct WorkerTally {
    genuine: Vec<GenuineScore>,
    impostor: ScoreHistogram,
}

/// Compares every unordered pair of `samples` once with `compare` (a similarity score) in
/// parallel. `samples` must be grouped by subject (sorted by `subject`); this is checked.
pub fn all_pairs<T, F>(samples: &[Enrolled<T>], scale: ScoreScale, compare: F) -> PairScores
where
    T: Sync,
    F: Fn(&T, &T) -> f32 + Sync,
{
    assert!(
        samples.windows(2).all(|w| w[0].subject <= w[1].subject),
        "samples must be sorted by subject"
    );
    let n = samples.len();
    // End (exclusive) of each sample's subject group: pairs (i, j) with j < group_end[i] are
    // genuine, the rest impostor — no per-pair branch on subject ids.
    let mut group_end = vec![n; n];
    for i in (0..n.saturating_sub(1)).rev() {
        group_end[i] = if samples[i + 1].subject == samples[i].subject {
            group_end[i + 1]
        } else {
            i + 1
        };
    }

    let workers = rayon::current_num_threads().max(1);
    let tallies: Vec<Mutex<WorkerTally>> = (0..workers)
        .map(|_| {
            Mutex::new(WorkerTally {
                genuine: Vec::new(),
                impostor: ScoreHistogram::new(scale.lo, scale.hi, scale.bins),
            })
        })
        .collect();

    let total_pairs = (n as u64) * (n as u64).saturating_sub(1) / 2;
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let row = |i: usize, tally: &mut WorkerTally| {
        let a = &samples[i];
        for b in &samples[i + 1..group_end[i]] {
            tally.genuine.push(GenuineScore {
                subject: a.subject,
                score: compare(&a.template, &b.template),
            });
        }
        for b in &samples[group_end[i]..] {
            tally
                .impostor
                .add(f64::from(compare(&a.template, &b.template)));
        }
        let before = done.fetch_add((n - i - 1) as u64, Ordering::Relaxed);
        let step = (total_pairs / 10).max(1);
        let after = before + (n - i - 1) as u64;
        if after / step != before / step {
            tracing::info!(
                "compared {after}/{total_pairs} pairs ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    };
    // Pair row k with row n-1-k so every task does the same amount of work.
    (0..n.div_ceil(2)).into_par_iter().for_each(|k| {
        let slot = rayon::current_thread_index().unwrap_or(0) % workers;
        let mut tally = tallies[slot].lock().unwrap_or_else(|e| e.into_inner());
        row(k, &mut tally);
        if n - 1 - k != k {
            row(n - 1 - k, &mut tally);
        }
    });

    let mut merged = PairScores {
        genuine: Vec::new(),
        impostor: ScoreHistogram::new(scale.lo, scale.hi, scale.bins),
    };
    for t in tallies {
        let t = t.into_inner().unwrap_or_else(|e| e.into_inner());
        merged.genuine.extend(t.genuine);
        merged.impostor.merge(&t.impostor);
    }
    // Deterministic order regardless of scheduling.
    merged
        .genuine
        .sort_by(|a, b| a.subject.cmp(&b.subject).then(a.score.total_cmp(&b.score)));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unordered_pair_is_compared_once_and_classified() {
        // 7 subjects with 1..=4 samples each; template = (subject, sample).
        let mut samples = Vec::new();
        for s in 0..7u32 {
            for k in 0..(s % 4 + 1) {
                samples.push(Enrolled {
                    subject: s,
                    template: (s, k),
                });
            }
        }
        let n = samples.len();
        let scale = ScoreScale {
            lo: 0.0,
            hi: 1.0,
            bins: 100,
        };
        let calls = AtomicU64::new(0);
        let scores = all_pairs(&samples, scale, |a, b| {
            calls.fetch_add(1, Ordering::Relaxed);
            assert!(a != b, "a sample is never compared with itself");
            if a.0 == b.0 {
                0.95
            } else {
                0.05
            }
        });
        assert_eq!(calls.load(Ordering::Relaxed) as usize, n * (n - 1) / 2);
        let genuine: usize = (0..7u32)
            .map(|s| {
                let k = (s % 4 + 1) as usize;
                k * (k - 1) / 2
            })
            .sum();
        assert_eq!(scores.genuine.len(), genuine);
        assert!(scores.genuine.iter().all(|g| g.score == 0.95));
        assert_eq!(scores.impostor.total() as usize, n * (n - 1) / 2 - genuine);
        assert_eq!(scores.impostor.counts()[5], scores.impostor.total());
    }

    #[test]
    #[should_panic(expected = "sorted by subject")]
    fn unsorted_samples_are_refused() {
        let s = vec![
            Enrolled {
                subject: 2,
                template: (),
            },
            Enrolled {
                subject: 1,
                template: (),
            },
        ];
        all_pairs(
            &s,
            ScoreScale {
                lo: 0.0,
                hi: 1.0,
                bins: 4,
            },
            |_, _| 0.0,
        );
    }
}
