//! lastEnrollSampleStatus: what the person in front of the sensor is told after each
//! enrollment sample.
//!
//! CTAP 2.1 only defines fingerprint feedback codes, and hosts (python-fido2, libfido2,
//! Windows) only know those, so palm conditions are mapped onto the nearest code by what the
//! person should *do*:
//!
//! | palm condition (engine)              | code | CTAP name         | person should … |
//! |--------------------------------------|------|-------------------|-----------------|
//! | accepted                             | 0x00 | FP_GOOD           | —               |
//! | too dark / too bright (exposure)     | 0x07 | FP_POOR_QUALITY   | hold the hand at the marked distance |
//! | blurred (moved during the capture)   | 0x05 | FP_TOO_FAST       | hold still      |
//! | occluded / partly in view            | 0x09 | FP_TOO_SHORT      | show the whole, uncovered palm |
//! | palm not found / fingers not found   | 0x08 | FP_TOO_SKEWED     | centre and open the hand |
//! | too few usable features              | 0x07 | FP_POOR_QUALITY   | present again   |
//! | no hand in the image                 | 0x0D | NO_USER_ACTIVITY  | present a hand  |
//! | not the same palm as earlier samples | 0x0A | FP_MERGE_FAILURE  | use the same hand |
//! | palm already enrolled                | 0x0B | FP_EXISTS         | (refused: this person is enrolled) |
//! | suspected presentation attack        | 0x07 | FP_POOR_QUALITY   | (refused, no hint given to an attacker) |

use crate::palm::engine::ExtractError;
use crate::palm::quality::QualityIssue;
use crate::palm::roi::RoiError;

/// CTAP lastEnrollSampleStatus values used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SampleStatus {
    Good = 0x00,
    TooFast = 0x05,
    PoorQuality = 0x07,
    TooSkewed = 0x08,
    TooShort = 0x09,
    MergeFailure = 0x0A,
    Exists = 0x0B,
    NoUserActivity = 0x0D,
}

impl SampleStatus {
    /// The status for a capture the engine could not code (a failure to acquire).
    pub fn of_extract_error(error: &ExtractError) -> Self {
        match error {
            ExtractError::NoImage => SampleStatus::NoUserActivity,
            ExtractError::Quality { issue, .. } => match issue {
                QualityIssue::TooDark { .. } | QualityIssue::TooBright { .. } => {
                    SampleStatus::PoorQuality
                }
                QualityIssue::Blurred { .. } => SampleStatus::TooFast,
                QualityIssue::Occluded { .. } => SampleStatus::TooShort,
                QualityIssue::NoHand => SampleStatus::NoUserActivity,
            },
            ExtractError::Roi { error, .. } => match error {
                RoiError::NoHand => SampleStatus::NoUserActivity,
                RoiError::FingersNotFound => SampleStatus::TooSkewed,
                RoiError::Partial => SampleStatus::TooShort,
            },
            ExtractError::NoFeatures { .. } => SampleStatus::PoorQuality,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palm::engine::Modality;

    #[test]
    fn quality_reasons_map_to_what_the_person_should_do() {
        let q = |issue| ExtractError::Quality {
            modality: Modality::Print,
            issue,
        };
        let cases = [
            (q(QualityIssue::TooDark { median: 0.1 }), 0x07),
            (q(QualityIssue::TooBright { clipped: 40.0 }), 0x07),
            (q(QualityIssue::Blurred { sharpness: 0.1 }), 0x05),
            (q(QualityIssue::Occluded { percent: 60.0 }), 0x09),
            (q(QualityIssue::NoHand), 0x0D),
            (ExtractError::NoImage, 0x0D),
            (
                ExtractError::Roi {
                    modality: Modality::Vein,
                    error: RoiError::Partial,
                },
                0x09,
            ),
            (
                ExtractError::Roi {
                    modality: Modality::Print,
                    error: RoiError::FingersNotFound,
                },
                0x08,
            ),
            (
                ExtractError::NoFeatures {
                    modality: Modality::Print,
                    cells: 3,
                },
                0x07,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(
                SampleStatus::of_extract_error(&error) as u8,
                code,
                "{error}"
            );
        }
    }
}
