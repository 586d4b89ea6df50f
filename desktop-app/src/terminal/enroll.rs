//! Enrolling one person, sample by sample, so the screen can guide them live: what each
//! sample status means for a palm, progress from the remaining-samples count, and when to stop.

use palmkey::client::{SampleFeedback, SampleStatus, MAX_CONSECUTIVE_BAD_SAMPLES};
use serde::Serialize;

use super::member_id::MemberId;

/// What to tell the person at the sensor: a short instruction and a sentence of detail.
pub fn guidance(status: SampleStatus) -> (&'static str, &'static str) {
    use SampleStatus::*;
    match status {
        Good => (
            "Good sample",
            "Lift your hand and present it again for the next sample.",
        ),
        TooHigh => (
            "Move your hand down",
            "Your palm is above the sensor's window.",
        ),
        TooLow => (
            "Move your hand up",
            "Your palm is below the sensor's window.",
        ),
        TooLeft => (
            "Move your hand to the right",
            "Centre your palm over the sensor.",
        ),
        TooRight => (
            "Move your hand to the left",
            "Centre your palm over the sensor.",
        ),
        TooFast => ("Hold still", "The hand moved during the capture."),
        TooSlow => (
            "Present your palm in one movement",
            "Bring your hand in and keep it there.",
        ),
        PoorQuality => (
            "Too dark or blurred",
            "Open your hand flat, fingers slightly apart, and move closer to the sensor.",
        ),
        TooSkewed => (
            "Hold your palm flat",
            "Keep the palm parallel to the sensor, not tilted.",
        ),
        TooShort => (
            "Move closer and keep still",
            "Keep your palm over the sensor a moment longer.",
        ),
        MergeFailure => (
            "That did not match the earlier samples",
            "Use the same hand for every sample.",
        ),
        Exists => (
            "This palm is already enrolled",
            "This person already has an enrollment on this authenticator.",
        ),
        DatabaseFull => (
            "No room on the authenticator",
            "Remove someone before enrolling more.",
        ),
        NoUserActivity => (
            "Place your palm over the sensor",
            "No hand was presented in time.",
        ),
        NoUserPresenceTransition => (
            "Lift your hand, then present it again",
            "Each sample needs a fresh presentation.",
        ),
        Other(_) => ("Try again", "The sensor reported an unknown status."),
    }
}

/// Where an enrollment stands after a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnrollState {
    /// More samples are needed: call `enroll_next`.
    Capturing,
    /// The template is complete and named with the member ID.
    Done,
    /// The enrollment cannot complete and was cancelled on the authenticator.
    Failed,
}

/// One step of an enrollment, for the screen.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollProgress {
    pub member_id: String,
    pub state: EnrollState,
    pub status: u8,
    pub good_sample: bool,
    pub title: &'static str,
    pub guidance: &'static str,
    pub captured: u64,
    pub remaining: u64,
    pub total: u64,
}

/// An enrollment between enrollBegin and its last sample.
#[derive(Debug)]
pub struct PendingEnrollment {
    pub member_id: MemberId,
    pub template_id: Vec<u8>,
    captured: u64,
    total: u64,
    bad_in_a_row: u32,
    /// The administrator pressed cancel while a capture was running.
    pub cancel_requested: bool,
}

impl PendingEnrollment {
    pub fn new(member_id: MemberId, template_id: Vec<u8>) -> Self {
        PendingEnrollment {
            member_id,
            template_id,
            captured: 0,
            total: 0,
            bad_in_a_row: 0,
            cancel_requested: false,
        }
    }

    /// Take one sample's feedback into account and say where the enrollment stands.
    pub fn observe(&mut self, feedback: SampleFeedback) -> EnrollProgress {
        if feedback.status.is_good() {
            self.captured += 1;
            self.bad_in_a_row = 0;
        } else {
            self.bad_in_a_row += 1;
        }
        // The remaining count can only be trusted to shrink; the total is what was captured
        // plus what is still needed (the first answer fixes it for a fixed-count sensor).
        self.total = self.total.max(self.captured + feedback.remaining_samples);
        let state =
            if feedback.status.is_terminal() || self.bad_in_a_row >= MAX_CONSECUTIVE_BAD_SAMPLES {
                EnrollState::Failed
            } else if feedback.remaining_samples == 0 && feedback.status.is_good() {
                EnrollState::Done
            } else {
                EnrollState::Capturing
            };
        let (title, guidance) = match state {
            EnrollState::Failed if !feedback.status.is_terminal() => (
                "Enrollment stopped",
                "Too many unusable samples in a row. Check the sensor and start again.",
            ),
            EnrollState::Done => (
                "Enrollment complete",
                "The palm is enrolled under this member ID.",
            ),
            _ => guidance(feedback.status),
        };
        EnrollProgress {
            member_id: self.member_id.to_string(),
            state,
            status: feedback.status.code(),
            good_sample: feedback.status.is_good(),
            title,
            guidance,
            captured: self.captured,
            remaining: feedback.remaining_samples,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(status: SampleStatus, remaining: u64) -> SampleFeedback {
        SampleFeedback {
            status,
            remaining_samples: remaining,
        }
    }

    fn pending() -> PendingEnrollment {
        PendingEnrollment::new(MemberId::parse("M-1").unwrap(), vec![1])
    }

    #[test]
    fn progress_counts_good_samples_and_finishes_at_zero_remaining() {
        let mut p = pending();
        let first = p.observe(fb(SampleStatus::Good, 3));
        assert_eq!((first.captured, first.remaining, first.total), (1, 3, 4));
        assert_eq!(first.state, EnrollState::Capturing);
        let bad = p.observe(fb(SampleStatus::TooFast, 3));
        assert_eq!(bad.title, "Hold still");
        assert!(!bad.good_sample);
        assert_eq!((bad.captured, bad.total), (1, 4));
        p.observe(fb(SampleStatus::Good, 2));
        p.observe(fb(SampleStatus::Good, 1));
        let last = p.observe(fb(SampleStatus::Good, 0));
        assert_eq!(last.state, EnrollState::Done);
        assert_eq!((last.captured, last.total), (4, 4));
    }

    #[test]
    fn an_existing_palm_or_too_many_bad_samples_fail() {
        let mut p = pending();
        assert_eq!(
            p.observe(fb(SampleStatus::Exists, 4)).state,
            EnrollState::Failed
        );
        let mut p = pending();
        let mut last = None;
        for _ in 0..MAX_CONSECUTIVE_BAD_SAMPLES {
            last = Some(p.observe(fb(SampleStatus::NoUserActivity, 4)));
        }
        let last = last.unwrap();
        assert_eq!(last.state, EnrollState::Failed);
        assert_eq!(last.title, "Enrollment stopped");
    }

    #[test]
    fn every_status_has_palm_guidance() {
        for code in 0..=0x0E {
            let (title, detail) = guidance(SampleStatus::from_code(code));
            assert!(!title.is_empty() && !detail.is_empty());
        }
        assert_eq!(guidance(SampleStatus::PoorQuality).0, "Too dark or blurred");
    }
}
