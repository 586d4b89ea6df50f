//! 1:N identification over a gallery of pre-selection codes: the one search the authenticator's
//! index, `palmkey palm eval --identification` and `palmkey palm bench` all run.
//!
//! Galleries up to [`SearchConfig::exhaustive_up_to`] people are compared exhaustively. Larger
//! ones go through the [`Cascade`] (three quick stages, then the full matcher on the K best). The
//! cascade misses a mate the full matcher would accept for a few probes in a thousand
//! (docs/palm-report.md), so when the pre-selected best is below the decision threshold the rest
//! of the gallery is compared too ([`SearchConfig::exhaustive_fallback`]): a genuine person is
//! then found late rather than rejected. The gallery holds only the pre-selection codes; the full
//! matcher reaches the templates through the caller's `score(index)`, so a caller may keep them
//! anywhere (decoded in memory, or derived on demand as the benchmark does).

use rayon::prelude::*;

use super::cascade::Cascade;
use super::histograms::BroadRef;
use super::quick::{QuickProbe, QuickRef};

/// How 1:N identification searches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchConfig {
    /// The pre-selection: its stages and the K candidates it hands to the full matcher.
    pub cascade: Cascade,
    /// Galleries up to this size are searched exhaustively.
    pub exhaustive_up_to: usize,
    /// Compare the rest when the pre-selected best is below the threshold.
    pub exhaustive_fallback: bool,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            cascade: Cascade::default(),
            exhaustive_up_to: 128,
            exhaustive_fallback: true,
        }
    }
}

/// One gallery entry's full-matcher score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position in the gallery.
    pub index: usize,
    pub score: f32,
}

/// What one search compared and found. Thresholding the final decision is the caller's.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The best over every entry the full matcher compared.
    pub best: Option<Hit>,
    /// Entries the cascade handed to the full matcher, best first (`None`: searched
    /// exhaustively because the gallery is small).
    pub candidates: Option<Vec<u32>>,
    /// The best among `candidates` alone (`None` on the exhaustive path).
    pub preselected: Option<Hit>,
    /// The rest of the gallery was compared because `preselected` was below the threshold.
    pub fell_back: bool,
}

/// The pre-selection codes of everyone enrolled, in gallery order (1,472 bytes per person),
/// and a contiguous copy of their histograms (192 bytes), which the first stage reads.
#[derive(Default)]
pub struct Gallery {
    quick: Vec<QuickRef>,
    histograms: Vec<BroadRef>,
}

impl std::fmt::Debug for Gallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery")
            .field("people", &self.quick.len())
            .finish()
    }
}

impl Gallery {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.quick.len()
    }

    pub fn is_empty(&self) -> bool {
        self.quick.is_empty()
    }

    pub fn clear(&mut self) {
        self.quick.clear();
        self.histograms.clear();
    }

    pub fn reserve(&mut self, additional: usize) {
        self.quick.reserve(additional);
        self.histograms.reserve(additional);
    }

    /// Appends one person (their index is the previous [`Gallery::len`]).
    pub fn push(&mut self, code: QuickRef) {
        self.histograms.push(*code.histogram());
        self.quick.push(code);
    }

    /// Searches for `probe`. `quick_probe` builds the probe's pre-selection side (only called
    /// when the cascade runs); `score(i)` is the full matcher against entry `i` (higher = more
    /// alike). Stages run on the current rayon pool (a one-thread pool makes it one core).
    pub fn search(
        &self,
        quick_probe: impl FnOnce() -> QuickProbe,
        score: impl Fn(usize) -> f32 + Sync,
        threshold: f32,
        config: &SearchConfig,
    ) -> Outcome {
        let n = self.len();
        if n <= config.exhaustive_up_to.max(config.cascade.k) {
            return Outcome {
                best: best_of((0..n).collect(), &score),
                candidates: None,
                preselected: None,
                fell_back: false,
            };
        }
        let candidates = config
            .cascade
            .preselect(&quick_probe(), &self.quick, &self.histograms);
        let preselected = best_of(candidates.iter().map(|&i| i as usize).collect(), &score);
        let fell_back =
            config.exhaustive_fallback && preselected.is_none_or(|h| h.score < threshold);
        let best = if fell_back {
            let mut taken = vec![false; n];
            candidates.iter().for_each(|&i| taken[i as usize] = true);
            let rest = best_of((0..n).filter(|&i| !taken[i]).collect(), &score);
            [preselected, rest].into_iter().flatten().reduce(better)
        } else {
            preselected
        };
        Outcome {
            best,
            candidates: Some(candidates),
            preselected,
            fell_back,
        }
    }

    /// The full matcher against everyone: the reference the cascade is measured against.
    pub fn search_exhaustive(&self, score: impl Fn(usize) -> f32 + Sync) -> Option<Hit> {
        best_of((0..self.len()).collect(), &score)
    }
}

/// The better of two hits: the higher score, then the lower index (so the result does not
/// depend on the order of comparison).
fn better(a: Hit, b: Hit) -> Hit {
    if b.score > a.score || (b.score == a.score && b.index < a.index) {
        b
    } else {
        a
    }
}

/// The full matcher over `people` on the current rayon pool.
fn best_of(people: Vec<usize>, score: &(impl Fn(usize) -> f32 + Sync)) -> Option<Hit> {
    people
        .into_par_iter()
        .map(|index| Hit {
            index,
            score: score(index),
        })
        .reduce_with(better)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::quick::tests::random_template;
    use crate::template::Template;

    const WEIGHTS: [f32; 2] = [0.3, 0.7];

    fn gallery(n: u64) -> (Vec<Template>, Gallery) {
        let templates: Vec<Template> = (0..n).map(random_template).collect();
        let mut g = Gallery::new();
        templates.iter().for_each(|t| g.push(QuickRef::new(t)));
        (templates, g)
    }

    /// A stand-in full matcher: 1 for the probe's own entry, otherwise a fixed low score.
    fn score_of(mate: usize, rest: f32) -> impl Fn(usize) -> f32 + Sync {
        move |i| {
            if i == mate {
                1.0
            } else {
                rest - i as f32 * 1e-6
            }
        }
    }

    #[test]
    fn cascade_hands_the_mate_to_the_full_matcher() {
        let (templates, g) = gallery(400);
        let config = SearchConfig::default();
        let probe = &templates[123];
        let out = g.search(
            || QuickProbe::new(probe, WEIGHTS),
            score_of(123, 0.0),
            0.5,
            &config,
        );
        let candidates = out.candidates.expect("400 > 128: the cascade runs");
        assert_eq!(candidates.len(), config.cascade.k);
        assert_eq!(candidates[0], 123);
        assert_eq!(
            out.best,
            Some(Hit {
                index: 123,
                score: 1.0
            })
        );
        assert_eq!(out.preselected, out.best);
        assert!(!out.fell_back);
        assert_eq!(out.best, g.search_exhaustive(score_of(123, 0.0)));
    }

    #[test]
    fn fallback_finds_a_mate_the_cascade_missed() {
        let (templates, g) = gallery(300);
        // The probe looks like entry 5 to the quick stages, but the full matcher says entry
        // 250 is the one: only the exhaustive fallback can find it.
        let probe = &templates[5];
        let score = |i: usize| match i {
            250 => 2.0,
            _ => 0.0,
        };
        let config = SearchConfig::default();
        let out = g.search(|| QuickProbe::new(probe, WEIGHTS), score, 1.0, &config);
        assert!(out.fell_back);
        assert_eq!(
            out.best,
            Some(Hit {
                index: 250,
                score: 2.0
            })
        );
        assert_eq!(out.preselected.map(|h| h.score), Some(0.0));
        let without = SearchConfig {
            exhaustive_fallback: false,
            ..config
        };
        let out = g.search(|| QuickProbe::new(probe, WEIGHTS), score, 1.0, &without);
        assert!(!out.fell_back);
        assert_eq!(out.best.map(|h| h.score), Some(0.0));
    }

    #[test]
    fn small_galleries_are_searched_exhaustively() {
        let (_, g) = gallery(20);
        let out = g.search(
            || unreachable!("no cascade for 20 people"),
            score_of(7, 0.1),
            0.5,
            &SearchConfig::default(),
        );
        assert_eq!(out.candidates, None);
        assert_eq!(
            out.best,
            Some(Hit {
                index: 7,
                score: 1.0
            })
        );
        // Ties: the lowest index wins whatever the order of comparison.
        assert_eq!(
            Gallery::new().search_exhaustive(|_| 1.0),
            None,
            "empty gallery"
        );
        assert_eq!(g.search_exhaustive(|_| 1.0).map(|h| h.index), Some(0));
    }
}
