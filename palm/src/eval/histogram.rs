//! Fine-grained score histograms, so that 200 M impostor scores never have to be stored.
//!
//! Bins are linear over a fixed score range. A threshold placed on a bin's lower edge splits the
//! histogram exactly (every score in a bin at or above the edge is ≥ the edge), so error rates
//! computed at bin edges are exact; only thresholds *inside* a bin are unavailable. With 2^20
//! bins over the score range the grid is finer than any score the engine produces, so the
//! estimates are exact in practice.

/// Number of bins used by default: resolution 1e-6 of the score range.
pub const DEFAULT_BINS: usize = 1 << 20;

/// Counts of similarity scores in `bins` equal-width bins over `[lo, hi)`. Scores below `lo`
/// go to the first bin, scores at or above `hi` to the last one (clamped, never lost).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreHistogram {
    lo: f64,
    hi: f64,
    counts: Vec<u64>,
    total: u64,
}

impl ScoreHistogram {
    /// An empty histogram. Panics when the range is empty or not finite, or `bins` is zero:
    /// those are programming errors, not data errors.
    pub fn new(lo: f64, hi: f64, bins: usize) -> Self {
        assert!(
            lo.is_finite() && hi.is_finite() && lo < hi,
            "bad score range"
        );
        assert!(bins > 0, "a histogram needs bins");
        Self {
            lo,
            hi,
            counts: vec![0; bins],
            total: 0,
        }
    }

    /// Score range `(lo, hi)`.
    pub fn range(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    /// Total number of scores added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The bin a score falls in. NaN counts as the lowest score (a comparison that produced no
    /// number is no match).
    pub fn bin_of(&self, score: f64) -> usize {
        let n = self.counts.len();
        let x = (score - self.lo) / (self.hi - self.lo) * n as f64;
        if x.is_nan() || x < 0.0 {
            0
        } else if x >= n as f64 {
            n - 1
        } else {
            x as usize
        }
    }

    /// The lower edge of bin `i`, i.e. the threshold that accepts bins `i..`.
    pub fn edge(&self, i: usize) -> f64 {
        self.lo + (self.hi - self.lo) * i as f64 / self.counts.len() as f64
    }

    /// Adds one score.
    #[inline]
    pub fn add(&mut self, score: f64) {
        let b = self.bin_of(score);
        self.counts[b] += 1;
        self.total += 1;
    }

    /// Adds all counts of `other` (same range and bin count).
    pub fn merge(&mut self, other: &ScoreHistogram) {
        assert_eq!(
            self.counts.len(),
            other.counts.len(),
            "histogram shapes differ"
        );
        assert!(
            self.lo == other.lo && self.hi == other.hi,
            "histogram ranges differ"
        );
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Counts per bin.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// `at_or_above[i]` = number of scores in bins `i..`, with one extra entry (0) at the end.
    pub fn tail_counts(&self) -> Vec<u64> {
        let mut tail = vec![0u64; self.counts.len() + 1];
        for i in (0..self.counts.len()).rev() {
            tail[i] = tail[i + 1] + self.counts[i];
        }
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_land_in_the_right_bins_and_clamp() {
        let mut h = ScoreHistogram::new(0.0, 1.0, 10);
        for s in [0.0, 0.05, 0.1, 0.95, 1.0, 7.0, -3.0, f64::NAN] {
            h.add(s);
        }
        assert_eq!(h.total(), 8);
        assert_eq!(h.counts()[0], 4); // 0.0, 0.05, -3.0, NaN
        assert_eq!(h.counts()[1], 1);
        assert_eq!(h.counts()[9], 3); // 0.95, 1.0, 7.0
        let tail = h.tail_counts();
        assert_eq!(tail[0], 8);
        assert_eq!(tail[9], 3);
        assert_eq!(tail[10], 0);
        assert!((h.edge(3) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = ScoreHistogram::new(0.0, 1.0, 4);
        let mut b = ScoreHistogram::new(0.0, 1.0, 4);
        a.add(0.1);
        b.add(0.1);
        b.add(0.9);
        a.merge(&b);
        assert_eq!(a.counts(), &[2, 0, 0, 1]);
        assert_eq!(a.total(), 3);
    }
}
