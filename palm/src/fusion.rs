//! Score-level fusion and the calibrated decision threshold.
//!
//! Each modality's similarity (see [`crate::matcher`]) is mapped to a log-likelihood ratio by
//! logistic regression; the fused score is the logistic model on both similarities,
//! `fused = bias + w_print · s_print + w_vein · s_vein`, i.e. the natural-log odds that the two
//! templates come from the same palm (prior-free: classes are weighted equally in training).
//! When only one modality is comparable, that modality's own logistic model is used, so the
//! fused scale (log odds) and the threshold keep their meaning.
//!
//! Weights are learned by [`fit_logistic`] on training sets only (synthetic seeds 1..=99; seed
//! 424242 is reserved for the final measurement) with `cargo run --release -p palmkey-palm
//! --example train_fusion`, and pasted into [`FusionModel::default`].
//!
//! The operating point ([`FusionModel::threshold`]) targets FMR 1e-6 per comparison, the point
//! needed for 1:N identification (with N enrolled people, FPIR ≈ N · FMR: 1e-3 at N = 1000).
//! An empirical 1e-6 quantile needs millions of impostor pairs; the threshold is set from the
//! impostor fused-score tail (a normal fit to the upper impostor tail, which for a sum of many
//! nearly independent bit comparisons is close to the truth), checked against the empirical
//! maximum impostor score of the training set.

/// A logistic model `bias + Σ w_i x_i`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logistic {
    pub bias: f32,
    pub weights: [f32; 2],
}

impl Logistic {
    pub fn score(&self, x: [f32; 2]) -> f32 {
        self.bias + self.weights[0] * x[0] + self.weights[1] * x[1]
    }
}

/// The fusion model and operating point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionModel {
    /// Both modalities: weights for `[print, vein]`.
    pub fused: Logistic,
    /// Print only (weight 1 unused).
    pub print: Logistic,
    /// Vein only (weight 1 unused).
    pub vein: Logistic,
    /// Decision threshold on the fused log odds (match when `fused >= threshold`).
    pub threshold: f32,
}

impl Default for FusionModel {
    fn default() -> Self {
        // Learned by `NOPAD=1 engine_tune 31 150 10` (training seed 31: 150 palms × 10 captures,
        // 6,537 genuine and 1,080,538 impostor pairs; joint print + vein alignment) after the
        // print bank was rescaled (print.rs). Threshold = `threshold_for_fmr(.., 1e-6)` of the
        // fused impostor scores there: the normal-tail estimate 4.39 (one impostor of 1.08 M
        // scored above it, 5.85: empirical FMR 0.9e-6); TAR there 98.4 %. Retrain after
        // changing codes.
        Self {
            fused: Logistic {
                bias: -57.39,
                weights: [25.16, 56.48],
            },
            print: Logistic {
                bias: -40.01,
                weights: [51.59, 0.0],
            },
            vein: Logistic {
                bias: -48.68,
                weights: [68.90, 0.0],
            },
            threshold: 4.39,
        }
    }
}

impl FusionModel {
    /// The fused log-odds score. `None` when no modality could be compared.
    pub fn fuse(&self, print: Option<f32>, vein: Option<f32>) -> Option<f32> {
        match (print, vein) {
            (Some(p), Some(v)) => Some(self.fused.score([p, v])),
            (Some(p), None) => Some(self.print.score([p, 0.0])),
            (None, Some(v)) => Some(self.vein.score([v, 0.0])),
            (None, None) => None,
        }
    }
}

/// Fits a class-balanced logistic regression by Newton's method (IRLS) with a small ridge term.
/// `samples`: `(features, genuine)`. Use `dims = 1` for a single feature (the second is ignored).
pub fn fit_logistic(samples: &[([f32; 2], bool)], dims: usize) -> Logistic {
    let n_gen = samples.iter().filter(|s| s.1).count().max(1) as f64;
    let n_imp = samples.iter().filter(|s| !s.1).count().max(1) as f64;
    let k = dims + 1;
    let mut beta = vec![0f64; k];
    for _ in 0..50 {
        let mut grad = vec![0f64; k];
        let mut hess = vec![vec![0f64; k]; k];
        for (x, genuine) in samples {
            let w = if *genuine { 0.5 / n_gen } else { 0.5 / n_imp };
            let feats: Vec<f64> = std::iter::once(1.0)
                .chain(x.iter().take(dims).map(|&v| f64::from(v)))
                .collect();
            let z: f64 = feats.iter().zip(&beta).map(|(f, b)| f * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = if *genuine { 1.0 } else { 0.0 };
            for i in 0..k {
                grad[i] += w * (y - p) * feats[i];
                for j in 0..k {
                    hess[i][j] += w * p * (1.0 - p) * feats[i] * feats[j];
                }
            }
        }
        for (i, row) in hess.iter_mut().enumerate() {
            row[i] += 1e-6;
        }
        let step = solve(hess, grad);
        let size: f64 = step.iter().map(|s| s.abs()).sum();
        beta.iter_mut().zip(&step).for_each(|(b, s)| *b += s);
        if size < 1e-9 {
            break;
        }
    }
    Logistic {
        bias: beta[0] as f32,
        weights: [beta[1] as f32, beta.get(2).copied().unwrap_or(0.0) as f32],
    }
}

/// Gaussian elimination with partial pivoting (k ≤ 3).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let k = b.len();
    for c in 0..k {
        let p = (c..k)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        b.swap(c, p);
        let d = a[c][c];
        if d.abs() < 1e-300 {
            continue;
        }
        for r in 0..k {
            if r != c {
                let f = a[r][c] / d;
                let pivot = a[c].clone();
                for (x, p) in a[r].iter_mut().zip(&pivot).skip(c) {
                    *x -= f * p;
                }
                b[r] -= f * b[c];
            }
        }
    }
    (0..k)
        .map(|i| {
            if a[i][i].abs() < 1e-300 {
                0.0
            } else {
                b[i] / a[i][i]
            }
        })
        .collect()
}

/// Threshold for a target false-match rate from impostor scores: the larger of the normal-tail
/// estimate (fit to the impostors' upper 10 %, by their mean and spread above the 90th
/// percentile) and the largest observed impostor score plus a margin, since an empirical
/// quantile beyond `1/n` does not exist.
pub fn threshold_for_fmr(impostor: &[f32], fmr: f64) -> f32 {
    if impostor.is_empty() {
        return f32::INFINITY;
    }
    let mut s: Vec<f32> = impostor.to_vec();
    s.sort_by(f32::total_cmp);
    let n = s.len();
    let mean = s.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let sd = (s
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n as f64)
        .sqrt();
    // Quantile of the normal fitted on mean/sd, with the tail spread checked against the
    // empirical 1e-3..1e-2 region: take the heavier of the two tails.
    let z = inverse_normal_tail(fmr);
    let q99 = f64::from(s[((n as f64 * 0.99) as usize).min(n - 1)]);
    let tail_sd = ((q99 - mean) / inverse_normal_tail(0.01)).max(sd);
    let normal = mean + z * tail_sd;
    let empirical = if (n as f64) * fmr >= 1.0 {
        f64::from(s[((n as f64 * (1.0 - fmr)) as usize).min(n - 1)])
    } else {
        f64::from(s[n - 1])
    };
    normal.max(empirical) as f32
}

/// z with P(Z > z) = p, by bisection on erfc (p in (0, 0.5)).
fn inverse_normal_tail(p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if 0.5 * erfc(mid / std::f64::consts::SQRT_2) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_fit_separates_and_weights_the_better_feature() {
        // Feature 0 separates well, feature 1 barely.
        let mut samples = Vec::new();
        for i in 0..400 {
            let t = (i as f32 * 0.618).fract();
            samples.push(([0.8 + 0.1 * t, 0.55 + 0.1 * t], true));
            samples.push(([0.5 + 0.1 * t, 0.5 + 0.1 * (1.0 - t)], false));
        }
        let m = fit_logistic(&samples, 2);
        assert!(m.weights[0] > 0.0 && m.weights[0] > m.weights[1].abs());
        let correct = samples
            .iter()
            .filter(|(x, g)| (m.score(*x) > 0.0) == *g)
            .count();
        assert_eq!(correct, samples.len());
    }

    #[test]
    fn normal_tail_quantiles() {
        assert!(
            (inverse_normal_tail(0.5 * erfc(3.0 / std::f64::consts::SQRT_2)) - 3.0).abs() < 1e-4
        );
        assert!((inverse_normal_tail(1e-6) - 4.753).abs() < 1e-2);
        let imp: Vec<f32> = (0..10_000)
            .map(|i| ((i as f32 * 0.7548).fract() - 0.5) * 2.0)
            .collect();
        let t = threshold_for_fmr(&imp, 1e-6);
        assert!(t >= 1.0 - 1e-3);
    }
}
