//! Verification error rates from genuine scores (kept exactly) and an impostor histogram:
//! EER, TAR at fixed FAR, and the DET curve. Scores are similarities: accept when
//! `score >= threshold`.

use super::histogram::ScoreHistogram;

/// The FARs the DESIGN.md JSON contract reports a TAR for.
pub const CONTRACT_FARS: [(&str, f64); 5] = [
    ("1e-2", 1e-2),
    ("1e-3", 1e-3),
    ("1e-4", 1e-4),
    ("1e-5", 1e-5),
    ("1e-6", 1e-6),
];

/// Fewer than `RULE_OF_THREE / far` impostor comparisons cannot support a FAR estimate: with
/// zero observed false accepts the 95 % upper bound would still exceed `far`.
pub const RULE_OF_THREE: f64 = 3.0;

/// One genuine comparison score, with the subject it belongs to (for subject-level bounds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenuineScore {
    pub subject: u32,
    pub score: f32,
}

/// A threshold chosen for a target FAR and the rates measured there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingPoint {
    pub target_far: f64,
    /// Accept when `score >= threshold`.
    pub threshold: f64,
    /// Bin index of the threshold (accept bins `bin..`).
    pub bin: usize,
    pub false_accepts: u64,
    pub far: f64,
    pub true_accepts: u64,
    pub tar: f64,
}

/// Cumulative genuine/impostor counts over the histogram's threshold grid.
#[derive(Debug, Clone)]
pub struct ErrorCurve {
    grid: ScoreHistogram,
    genuine_tail: Vec<u64>,
    impostor_tail: Vec<u64>,
}

impl ErrorCurve {
    /// Builds the curve; genuine scores are binned on the impostor histogram's grid so that
    /// both rates are exact at every grid threshold.
    pub fn new(genuine: &[GenuineScore], impostor: &ScoreHistogram) -> Self {
        let (lo, hi) = impostor.range();
        let mut g = ScoreHistogram::new(lo, hi, impostor.bins());
        for s in genuine {
            g.add(f64::from(s.score));
        }
        Self {
            genuine_tail: g.tail_counts(),
            impostor_tail: impostor.tail_counts(),
            grid: g,
        }
    }

    pub fn genuine_count(&self) -> u64 {
        self.genuine_tail[0]
    }

    pub fn impostor_count(&self) -> u64 {
        self.impostor_tail[0]
    }

    /// The histogram grid (for binning scores consistently with the thresholds).
    pub fn grid(&self) -> &ScoreHistogram {
        &self.grid
    }

    fn fmr(&self, i: usize) -> f64 {
        self.impostor_tail[i] as f64 / self.impostor_count().max(1) as f64
    }

    fn fnmr(&self, i: usize) -> f64 {
        1.0 - self.genuine_tail[i] as f64 / self.genuine_count().max(1) as f64
    }

    fn threshold(&self, i: usize) -> f64 {
        if i >= self.grid.bins() {
            f64::INFINITY
        } else {
            self.grid.edge(i)
        }
    }

    /// Equal error rate, linearly interpolated between the two grid thresholds where FMR and
    /// FNMR cross. `None` without both genuine and impostor scores.
    pub fn eer(&self) -> Option<f64> {
        if self.genuine_count() == 0 || self.impostor_count() == 0 {
            return None;
        }
        // FMR falls and FNMR rises with the threshold index: find the first index where
        // FMR <= FNMR (exists: at the end FMR = 0).
        let n = self.grid.bins();
        let i = (0..=n).find(|&i| self.fmr(i) <= self.fnmr(i)).unwrap_or(n);
        if i == 0 {
            return Some(self.fmr(0));
        }
        let (f0, n0, f1, n1) = (self.fmr(i - 1), self.fnmr(i - 1), self.fmr(i), self.fnmr(i));
        let (d0, d1) = (f0 - n0, f1 - n1);
        let a = if d0 == d1 { 0.0 } else { d0 / (d0 - d1) };
        Some(f0 + a * (f1 - f0))
    }

    /// The lowest grid threshold whose FAR is at most `target_far`, or `None` when the
    /// impostor comparisons are too few to measure that FAR (`n < 3 / target_far`).
    pub fn at_far(&self, target_far: f64) -> Option<OperatingPoint> {
        let n_imp = self.impostor_count();
        if n_imp == 0 || self.genuine_count() == 0 || (n_imp as f64) * target_far < RULE_OF_THREE {
            return None;
        }
        let allowed = (target_far * n_imp as f64).floor() as u64;
        // impostor_tail is non-increasing: first index with tail <= allowed.
        let i = self.impostor_tail.partition_point(|&c| c > allowed);
        Some(OperatingPoint {
            target_far,
            threshold: self.threshold(i),
            bin: i,
            false_accepts: self.impostor_tail[i],
            far: self.fmr(i),
            true_accepts: self.genuine_tail[i],
            tar: self.genuine_tail[i] as f64 / self.genuine_count() as f64,
        })
    }

    /// DET curve points `(FMR, FNMR)`, thinned to visible changes, FMR > 0 only.
    pub fn det(&self) -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = Vec::new();
        let n = self.grid.bins();
        for i in 0..=n {
            let (f, m) = (self.fmr(i), self.fnmr(i));
            if f <= 0.0 {
                break;
            }
            let keep = match pts.last() {
                None => true,
                Some(&(pf, pm)) => {
                    (f.log10() - pf.log10()).abs() > 0.01
                        || (m.max(1e-9).log10() - pm.max(1e-9).log10()).abs() > 0.01
                }
            };
            if keep {
                pts.push((f, m));
            }
        }
        pts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(genuine: &[f32], impostor: &[f64], bins: usize) -> ErrorCurve {
        let gen: Vec<_> = genuine
            .iter()
            .enumerate()
            .map(|(i, &s)| GenuineScore {
                subject: i as u32,
                score: s,
            })
            .collect();
        let mut h = ScoreHistogram::new(0.0, 1.0, bins);
        for &s in impostor {
            h.add(s);
        }
        ErrorCurve::new(&gen, &h)
    }

    #[test]
    fn separated_distributions_have_zero_eer_and_full_tar() {
        let gen = vec![0.9f32; 100];
        let imp: Vec<f64> = (0..3000).map(|i| 0.1 + 0.3 * (i as f64 / 3000.0)).collect();
        let c = curve(&gen, &imp, 1 << 12);
        assert!(c.eer().unwrap() < 1e-3);
        let op = c.at_far(1e-3).unwrap();
        assert!(op.false_accepts <= 3 && op.far <= 1e-3, "{op:?}");
        assert_eq!(op.tar, 1.0);
        assert!(op.threshold > 0.39 && op.threshold <= 0.41, "{op:?}");
    }

    #[test]
    fn null_rule_needs_three_over_far_impostors() {
        let gen = vec![0.9f32; 10];
        let imp = vec![0.1f64; 2999];
        let c = curve(&gen, &imp, 1024);
        assert!(c.at_far(1e-3).is_none(), "2999 < 3/1e-3");
        assert!(c.at_far(1e-2).is_some());
        let imp = vec![0.1f64; 3000];
        assert!(curve(&gen, &imp, 1024).at_far(1e-3).is_some());
    }

    #[test]
    fn tar_at_far_on_uniform_overlap_is_exact() {
        // Impostors uniform on [0, 1), genuine uniform on [0.5, 1.5) clamped: at FAR 10 % the
        // threshold is 0.9 and TAR = P(genuine >= 0.9) = 0.6.
        let n = 100_000;
        let imp: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let gen: Vec<f32> = (0..10_000)
            .map(|i| 0.5 + (i as f32 + 0.5) / 10_000.0)
            .collect();
        let c = curve(&gen, &imp, 1 << 16);
        let op = c.at_far(0.1).unwrap();
        assert!((op.far - 0.1).abs() < 1e-4, "{op:?}");
        assert!((op.tar - 0.6).abs() < 1e-3, "{op:?}");
        // EER where 1 - x = x - 0.5 → x = 0.75, EER = 0.25.
        let eer = c.eer().unwrap();
        assert!((eer - 0.25).abs() < 1e-3, "eer {eer}");
        // DET is monotone: FMR falls while FNMR rises.
        let det = c.det();
        assert!(det.len() > 10);
        assert!(det.windows(2).all(|w| w[1].0 <= w[0].0 && w[1].1 >= w[0].1));
    }

    #[test]
    fn ties_on_the_threshold_count_as_accepts_for_both_classes() {
        // Identical discrete scores: a genuine score equal to an impostor score is accepted at
        // every threshold that accepts the impostor — no optimistic split of a tie.
        let gen = vec![0.5f32; 10];
        let mut imp = vec![0.2f64; 990];
        imp.extend(std::iter::repeat_n(0.5, 10));
        let c = curve(&gen, &imp, 1 << 10);
        let op = c.at_far(1e-2).unwrap();
        assert_eq!(op.false_accepts, 10);
        assert_eq!(op.tar, 1.0);
        let op = c.at_far(3e-3).unwrap();
        assert_eq!(op.false_accepts, 0);
        assert_eq!(op.tar, 0.0);
    }
}
