//! Confidence bounds for error rates (ISO/IEC 19795-1 §8 style).
//!
//! * Rates measured from comparisons of the same subjects are correlated, so a bound that treats
//!   every genuine comparison as independent is too narrow. Genuine-side rates (TAR / FNMR) are
//!   therefore bounded with a **subject-level bootstrap**: resample subjects with replacement,
//!   keep each chosen subject's whole set of genuine comparisons, recompute the rate.
//! * Impostor-side rates near 1e-6 are counts of a handful of events among hundreds of millions
//!   of pairs; they get **exact Poisson bounds** on the count (the binomial with p ≪ 1), which for
//!   zero observed errors is the "rule of 3" family: upper = −ln(α)/N (α = 0.05 gives 3/N).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A two-sided interval `[lo, hi]` on a proportion.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// Regularized lower incomplete gamma function P(a, x) (series for x < a+1, continued fraction
/// otherwise). Accurate to ~1e-12 for the moderate arguments used here.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    assert!(a > 0.0, "gamma_p needs a > 0");
    if x <= 0.0 {
        return 0.0;
    }
    let ln_pre = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // Series: P = e^{-x} x^a / Γ(a+1) Σ x^n / ((a+1)...(a+n)).
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..100_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (sum.ln() + ln_pre).exp().min(1.0)
    } else {
        // Lentz continued fraction for Q = 1 - P.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..100_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (1.0 - (ln_pre.exp() * h)).max(0.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps precision for small arguments.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The x with P(a, x) = p, by bisection (monotone in x).
fn gamma_p_inv(a: f64, p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, a + 10.0 * a.sqrt() + 50.0);
    while gamma_p(a, hi) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if gamma_p(a, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Exact two-sided Poisson interval for a rate of `k` events in `n` trials at the given
/// confidence (e.g. 0.8): the Garwood bounds `χ²(α/2, 2k)/2n … χ²(1−α/2, 2k+2)/2n`.
/// For k = 0 the upper bound is −ln(α/2)/n (2.30/n at 80 %; the "rule of 3" is the 95 %
/// one-sided version, 3/n).
pub fn poisson_rate_interval(k: u64, n: u64, confidence: f64) -> Interval {
    assert!(n > 0, "rate over zero trials");
    let alpha = 1.0 - confidence;
    let lo = if k == 0 {
        0.0
    } else {
        gamma_p_inv(k as f64, alpha / 2.0)
    };
    let hi = gamma_p_inv(k as f64 + 1.0, 1.0 - alpha / 2.0);
    Interval {
        lo: (lo / n as f64).min(1.0),
        hi: (hi / n as f64).min(1.0),
    }
}

/// Per-subject tallies of one proportion: `hits` of `trials` (e.g. genuine comparisons of this
/// subject accepted at a threshold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubjectTally {
    pub hits: u64,
    pub trials: u64,
}

/// Subject-level bootstrap percentile interval of the pooled proportion Σhits / Σtrials.
/// Deterministic (fixed seed) so that reports are reproducible.
pub fn subject_bootstrap(tallies: &[SubjectTally], confidence: f64, replicates: usize) -> Interval {
    let total: u64 = tallies.iter().map(|t| t.trials).sum();
    if tallies.is_empty() || total == 0 {
        return Interval {
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x19795);
    let mut rates: Vec<f64> = (0..replicates)
        .map(|_| {
            let (mut h, mut t) = (0u64, 0u64);
            for _ in 0..tallies.len() {
                let s = &tallies[rng.gen_range(0..tallies.len())];
                h += s.hits;
                t += s.trials;
            }
            if t == 0 {
                0.0
            } else {
                h as f64 / t as f64
            }
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    let at = |q: f64| rates[((q * (replicates - 1) as f64).round() as usize).min(replicates - 1)];
    Interval {
        lo: at(alpha / 2.0),
        hi: at(1.0 - alpha / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials() {
        for (x, f) in [(1.0, 1.0f64), (2.0, 1.0), (5.0, 24.0), (11.0, 3_628_800.0)] {
            assert!((ln_gamma(x) - f.ln()).abs() < 1e-10, "ln Γ({x})");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-10);
    }

    #[test]
    fn gamma_p_known_values() {
        // P(1, x) = 1 - e^{-x}
        for x in [0.1, 1.0, 3.0, 20.0] {
            assert!((gamma_p(1.0, x) - (1.0 - (-x).exp())).abs() < 1e-12);
        }
        // Median of a Poisson-ish gamma: P(a, a) ≈ 0.5 for large a.
        assert!((gamma_p(1e4, 1e4) - 0.5).abs() < 0.01);
    }

    #[test]
    fn zero_events_give_the_rule_of_three_family() {
        let n = 1_000_000;
        let i95 = poisson_rate_interval(0, n, 0.90); // one-sided 95 % upper
        assert!((i95.hi * n as f64 - 3.0).abs() < 0.01, "{i95:?}");
        let i80 = poisson_rate_interval(0, n, 0.80);
        assert_eq!(i80.lo, 0.0);
        assert!((i80.hi * n as f64 - 10f64.ln()).abs() < 1e-6, "{i80:?}");
    }

    #[test]
    fn poisson_interval_brackets_the_estimate_and_shrinks_with_n() {
        let small = poisson_rate_interval(10, 1000, 0.8);
        assert!(small.lo < 0.01 && 0.01 < small.hi);
        // Garwood 80 % bounds for k = 10: χ²(0.1, 20)/2 = 6.22, χ²(0.9, 22)/2 = 15.41.
        assert!((small.lo * 1000.0 - 6.22).abs() < 0.02, "{small:?}");
        assert!((small.hi * 1000.0 - 15.41).abs() < 0.03, "{small:?}");
        let big = poisson_rate_interval(1000, 100_000, 0.8);
        assert!(big.hi - big.lo < small.hi - small.lo);
    }

    #[test]
    fn subject_bootstrap_widens_with_subject_correlation() {
        // Same pooled rate 0.9, 100 subjects × 10 comparisons. Independent errors spread over
        // subjects vs errors concentrated in 10 subjects (correlated): the latter is wider.
        let spread: Vec<_> = (0..100)
            .map(|_| SubjectTally {
                hits: 9,
                trials: 10,
            })
            .collect();
        let lumpy: Vec<_> = (0..100)
            .map(|i| SubjectTally {
                hits: if i < 10 { 0 } else { 10 },
                trials: 10,
            })
            .collect();
        let a = subject_bootstrap(&spread, 0.8, 500);
        let b = subject_bootstrap(&lumpy, 0.8, 500);
        assert!((a.lo - 0.9).abs() < 1e-9 && (a.hi - 0.9).abs() < 1e-9);
        assert!(b.lo < 0.9 && b.hi > 0.9 && b.hi - b.lo > 0.03, "{b:?}");
    }
}
