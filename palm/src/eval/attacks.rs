//! Presentation-attack acceptance (ISO/IEC 30107-3 terms): each attack presentation claims the
//! identity it imitates and is **accepted** when it passes presentation-attack detection, yields
//! a template, and matches that identity's enrolment template at the operating threshold. The
//! rate is the IAPAR (impostor attack presentation accept rate) per attack type. The matcher-only
//! rate (PAD switched off) is reported beside it, to show what PAD contributes.

use serde::Serialize;

/// Outcome of one attack presentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttackOutcome {
    /// Presentation-attack detection refused the capture.
    PadRejected,
    /// No template could be extracted (quality).
    NoTemplate,
    /// The claimed identity has no enrolment template (FTE) or is not in the dataset.
    NoReference,
    /// Compared with the claimed identity's enrolment template; `pad_passed` tells whether PAD
    /// let it through.
    Compared { score: f32, pad_passed: bool },
}

/// Acceptance at one operating threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcceptanceAt {
    /// Label of the FAR the threshold was set for (e.g. "1e-6").
    pub far: String,
    pub threshold: f64,
    /// Attacks accepted with PAD on (the product's behaviour).
    pub accepted: usize,
    pub iapar: f64,
    /// Attacks whose score alone would pass (PAD off).
    pub accepted_without_pad: usize,
}

/// Acceptance of one attack type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackReport {
    pub attack: String,
    pub presentations: usize,
    pub pad_rejected: usize,
    pub no_template: usize,
    pub no_reference: usize,
    pub at: Vec<AcceptanceAt>,
}

impl AttackReport {
    /// Tallies `outcomes` at each `(far label, threshold)`.
    pub fn new(attack: &str, outcomes: &[AttackOutcome], thresholds: &[(String, f64)]) -> Self {
        let count = |f: &dyn Fn(&AttackOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let at = thresholds
            .iter()
            .map(|(far, t)| {
                let passes = |o: &AttackOutcome, need_pad: bool| match *o {
                    AttackOutcome::Compared { score, pad_passed } => {
                        f64::from(score) >= *t && (pad_passed || !need_pad)
                    }
                    _ => false,
                };
                let accepted = count(&|o| passes(o, true));
                AcceptanceAt {
                    far: far.clone(),
                    threshold: *t,
                    accepted,
                    iapar: if outcomes.is_empty() {
                        0.0
                    } else {
                        accepted as f64 / outcomes.len() as f64
                    },
                    accepted_without_pad: count(&|o| passes(o, false)),
                }
            })
            .collect();
        Self {
            attack: attack.to_string(),
            presentations: outcomes.len(),
            pad_rejected: count(&|o| {
                matches!(
                    o,
                    AttackOutcome::PadRejected
                        | AttackOutcome::Compared {
                            pad_passed: false,
                            ..
                        }
                )
            }),
            no_template: count(&|o| matches!(o, AttackOutcome::NoTemplate)),
            no_reference: count(&|o| matches!(o, AttackOutcome::NoReference)),
            at,
        }
    }

    /// Human-readable lines.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = format!(
            "  {}: {} presentations, PAD rejected {}, no template {}, no reference {}\n",
            self.attack, self.presentations, self.pad_rejected, self.no_template, self.no_reference
        );
        for a in &self.at {
            let _ = writeln!(
                s,
                "    at FAR {:<5} threshold {:.6}: accepted {} (IAPAR {:.4} %), matcher alone would accept {}",
                a.far,
                a.threshold,
                a.accepted,
                100.0 * a.iapar,
                a.accepted_without_pad
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_needs_pad_pass_and_score() {
        let outcomes = [
            AttackOutcome::PadRejected,
            AttackOutcome::NoTemplate,
            AttackOutcome::Compared {
                score: 0.9,
                pad_passed: true,
            },
            AttackOutcome::Compared {
                score: 0.9,
                pad_passed: false,
            },
            AttackOutcome::Compared {
                score: 0.2,
                pad_passed: true,
            },
        ];
        let r = AttackReport::new(
            "photo",
            &outcomes,
            &[("1e-3".into(), 0.5), ("1e-6".into(), 0.95)],
        );
        assert_eq!(r.presentations, 5);
        assert_eq!(r.pad_rejected, 2);
        assert_eq!(r.no_template, 1);
        assert_eq!(r.at[0].accepted, 1);
        assert_eq!(r.at[0].accepted_without_pad, 2);
        assert!((r.at[0].iapar - 0.2).abs() < 1e-12);
        assert_eq!(r.at[1].accepted, 0);
        assert!(r.to_text().contains("photo"));
    }
}
