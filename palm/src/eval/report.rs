//! The verification report: the DESIGN.md JSON object and the human-readable summary with
//! 80 % confidence bounds and DET points.

use serde_json::{json, Map, Value};

use super::confidence::{poisson_rate_interval, subject_bootstrap, Interval, SubjectTally};
use super::metrics::{ErrorCurve, GenuineScore, OperatingPoint, CONTRACT_FARS};

/// Confidence level of the bounds in the human output.
pub const CONFIDENCE: f64 = 0.8;
/// Bootstrap replicates for subject-level bounds.
pub const BOOTSTRAP_REPLICATES: usize = 1000;

/// Acquisition outcome counts (ISO/IEC 19795-1 definitions, see [`crate::eval`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Acquisition {
    /// Identities in the dataset.
    pub identities: usize,
    /// Identities whose enrolment presentation (first sample) gave no template.
    pub failed_enrolments: usize,
    /// Presentations after the first one per identity (verification attempts).
    pub attempts: usize,
    /// Of those, presentations that gave no template.
    pub failed_attempts: usize,
}

impl Acquisition {
    pub fn fte(&self) -> f64 {
        ratio(self.failed_enrolments, self.identities)
    }

    pub fn fta(&self) -> f64 {
        ratio(self.failed_attempts, self.attempts)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// TAR at one target FAR, with bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FarPoint {
    pub label: &'static str,
    pub target: f64,
    /// `None` when the FAR cannot be measured with this many impostor comparisons.
    pub point: Option<MeasuredPoint>,
}

/// An operating point with its confidence bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasuredPoint {
    pub op: OperatingPoint,
    /// Exact Poisson bounds on the FAR (impostor comparisons treated as independent trials).
    pub far_ci: Interval,
    /// Subject-bootstrap bounds on the TAR.
    pub tar_ci: Interval,
}

/// Everything `palmkey palm eval` prints about verification.
#[derive(Debug, Clone)]
pub struct VerificationReport {
    pub modality: String,
    pub samples: usize,
    pub acquisition: Acquisition,
    pub genuine: u64,
    pub impostor: u64,
    pub eer: Option<f64>,
    pub eer_ci: Option<Interval>,
    pub far_points: Vec<FarPoint>,
    /// `(FMR, FNMR)` thinned DET curve.
    pub det: Vec<(f64, f64)>,
    pub genuine_mean: f64,
    pub impostor_mean: f64,
    pub seconds: f64,
}

impl VerificationReport {
    /// Computes all rates and bounds from the scores of one all-pairs run.
    pub fn new(
        modality: &str,
        samples: usize,
        acquisition: Acquisition,
        genuine: &[GenuineScore],
        curve: &ErrorCurve,
        impostor_mean: f64,
    ) -> Self {
        let tallies_at =
            |bin: usize| per_subject(genuine, |s| curve.grid().bin_of(f64::from(s)) >= bin);
        let far_points = CONTRACT_FARS
            .iter()
            .map(|&(label, target)| FarPoint {
                label,
                target,
                point: curve.at_far(target).map(|op| MeasuredPoint {
                    op,
                    far_ci: poisson_rate_interval(
                        op.false_accepts,
                        curve.impostor_count(),
                        CONFIDENCE,
                    ),
                    tar_ci: subject_bootstrap(
                        &tallies_at(op.bin),
                        CONFIDENCE,
                        BOOTSTRAP_REPLICATES,
                    ),
                }),
            })
            .collect();
        let eer = curve.eer();
        // EER bounds: subject bootstrap of the FNMR at the threshold nearest the EER.
        let eer_ci = eer
            .and_then(|e| curve.at_far(e.max(1e-12)).or_else(|| curve.at_far(1.0)))
            .map(|op| {
                let misses: Vec<SubjectTally> = tallies_at(op.bin)
                    .into_iter()
                    .map(|t| SubjectTally {
                        hits: t.trials - t.hits,
                        trials: t.trials,
                    })
                    .collect();
                subject_bootstrap(&misses, CONFIDENCE, BOOTSTRAP_REPLICATES)
            });
        // Pairs the engine could not compare score −∞ (a non-match); they are counted in the
        // rates but left out of the mean, which would otherwise be −∞.
        let finite: Vec<f64> = genuine
            .iter()
            .map(|g| f64::from(g.score))
            .filter(|s| s.is_finite())
            .collect();
        let genuine_mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
        Self {
            modality: modality.to_string(),
            samples,
            acquisition,
            genuine: curve.genuine_count(),
            impostor: curve.impostor_count(),
            eer,
            eer_ci,
            far_points,
            det: curve.det(),
            genuine_mean,
            impostor_mean,
            seconds: 0.0,
        }
    }

    /// The DESIGN.md contract object, nothing more.
    pub fn to_json(&self) -> Value {
        let mut tar = Map::new();
        for p in &self.far_points {
            tar.insert(
                p.label.to_string(),
                p.point.map_or(Value::Null, |m| json!(m.op.tar)),
            );
        }
        json!({
            "modality": self.modality,
            "identities": self.acquisition.identities,
            "samples": self.samples,
            "fte": self.acquisition.fte(),
            "fta": self.acquisition.fta(),
            "genuine": self.genuine,
            "impostor": self.impostor,
            "eer": self.eer,
            "tar_at_far": tar,
            "seconds": self.seconds,
        })
    }

    /// Human-readable summary with 80 % bounds and DET points.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let a = &self.acquisition;
        let mut s = String::new();
        let _ = writeln!(s, "modality          {}", self.modality);
        let _ = writeln!(
            s,
            "identities        {}   samples {}",
            a.identities, self.samples
        );
        let _ = writeln!(
            s,
            "FTE               {:.4} % ({} of {} identities: enrolment sample gave no template)",
            100.0 * a.fte(),
            a.failed_enrolments,
            a.identities
        );
        let _ = writeln!(
            s,
            "FTA               {:.4} % ({} of {} later presentations gave no template)",
            100.0 * a.fta(),
            a.failed_attempts,
            a.attempts
        );
        let _ = writeln!(
            s,
            "comparisons       genuine {}   impostor {}",
            self.genuine, self.impostor
        );
        let _ = writeln!(
            s,
            "mean score        genuine {:.4}   impostor {:.4}",
            self.genuine_mean, self.impostor_mean
        );
        match (self.eer, self.eer_ci) {
            (Some(e), Some(ci)) => {
                let _ = writeln!(
                    s,
                    "EER               {:.4} %   (80 % CI of FNMR there: {:.4} … {:.4} %)",
                    100.0 * e,
                    100.0 * ci.lo,
                    100.0 * ci.hi
                );
            }
            (Some(e), None) => {
                let _ = writeln!(s, "EER               {:.4} %", 100.0 * e);
            }
            _ => {
                let _ = writeln!(
                    s,
                    "EER               n/a (needs genuine and impostor pairs)"
                );
            }
        }
        let _ = writeln!(
            s,
            "\n  target FAR  threshold   FAR measured (80 % CI)                 TAR (80 % CI, subject bootstrap)"
        );
        for p in &self.far_points {
            match p.point {
                None => {
                    let _ = writeln!(
                        s,
                        "  {:<10}  not measurable: needs ≥ {:.0} impostor pairs",
                        p.label,
                        3.0 / p.target
                    );
                }
                Some(m) => {
                    let _ = writeln!(
                        s,
                        "  {:<10}  {:<10.6}  {:.3e} ({:>4} FA) [{:.2e}, {:.2e}]  {:>8.4} % [{:.4}, {:.4}]",
                        p.label,
                        m.op.threshold,
                        m.op.far,
                        m.op.false_accepts,
                        m.far_ci.lo,
                        m.far_ci.hi,
                        100.0 * m.op.tar,
                        100.0 * m.tar_ci.lo,
                        100.0 * m.tar_ci.hi
                    );
                }
            }
        }
        let _ = writeln!(s, "\n  DET points (FMR → FNMR)");
        for (fmr, fnmr) in det_table(&self.det) {
            let _ = writeln!(s, "    FMR {fmr:.2e}   FNMR {:.4} %", 100.0 * fnmr);
        }
        let _ = writeln!(s, "\nseconds           {:.1}", self.seconds);
        s
    }
}

/// Per-subject tallies of genuine scores satisfying `accept`.
pub fn per_subject(genuine: &[GenuineScore], accept: impl Fn(f32) -> bool) -> Vec<SubjectTally> {
    let mut out: Vec<(u32, SubjectTally)> = Vec::new();
    for g in genuine {
        if out.last().is_none_or(|(s, _)| *s != g.subject) {
            out.push((g.subject, SubjectTally::default()));
        }
        let t = &mut out.last_mut().expect("just pushed").1;
        t.trials += 1;
        t.hits += u64::from(accept(g.score));
    }
    out.into_iter().map(|(_, t)| t).collect()
}

/// DET points at half-decade FMR steps (the first point at or below each step).
pub fn det_table(det: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut step = 0.5f64;
    for &(fmr, fnmr) in det {
        if fmr <= step {
            out.push((fmr, fnmr));
            while step >= fmr {
                step /= 10f64.sqrt();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::histogram::ScoreHistogram;

    fn report(n_imp: usize) -> VerificationReport {
        let genuine: Vec<GenuineScore> = (0..200)
            .map(|i| GenuineScore {
                subject: i / 10,
                score: 0.6 + 0.4 * (i % 10) as f32 / 10.0,
            })
            .collect();
        let mut h = ScoreHistogram::new(0.0, 1.0, 1 << 16);
        for i in 0..n_imp {
            h.add(0.65 * (i as f64 + 0.5) / n_imp as f64);
        }
        let curve = ErrorCurve::new(&genuine, &h);
        let acq = Acquisition {
            identities: 20,
            failed_enrolments: 1,
            attempts: 180,
            failed_attempts: 3,
        };
        VerificationReport::new("fused", 200, acq, &genuine, &curve, 0.3)
    }

    #[test]
    fn json_has_exactly_the_contract_keys_and_null_rule() {
        let r = report(50_000);
        let v = r.to_json();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "eer",
                "fta",
                "fte",
                "genuine",
                "identities",
                "impostor",
                "modality",
                "samples",
                "seconds",
                "tar_at_far"
            ]
        );
        let tar = v["tar_at_far"].as_object().unwrap();
        assert_eq!(tar.len(), 5);
        // 50,000 impostors: 1e-2 … 1e-4 measurable, 1e-5 (needs 300,000) and 1e-6 are null.
        assert!(tar["1e-2"].is_f64() && tar["1e-4"].is_f64());
        assert!(tar["1e-5"].is_null() && tar["1e-6"].is_null());
        assert_eq!(v["fte"], json!(0.05));
        assert!((v["fta"].as_f64().unwrap() - 3.0 / 180.0).abs() < 1e-12);
        assert_eq!(v["genuine"], json!(200));
    }

    #[test]
    fn bounds_bracket_the_estimates() {
        let r = report(50_000);
        for p in r.far_points.iter().filter_map(|p| p.point) {
            assert!(p.far_ci.lo <= p.op.far && p.op.far <= p.far_ci.hi, "{p:?}");
            assert!(p.tar_ci.lo <= p.op.tar && p.op.tar <= p.tar_ci.hi, "{p:?}");
        }
        let text = r.to_text();
        assert!(
            text.contains("not measurable") && text.contains("DET points"),
            "{text}"
        );
    }

    #[test]
    fn det_table_picks_half_decades() {
        let det: Vec<(f64, f64)> = (0..600)
            .map(|i| (10f64.powf(-(i as f64) / 100.0), i as f64 / 600.0))
            .collect();
        let t = det_table(&det);
        assert!(t.len() >= 11 && t.len() <= 13, "{}", t.len());
        assert!(t.windows(2).all(|w| w[1].0 < w[0].0));
    }
}
