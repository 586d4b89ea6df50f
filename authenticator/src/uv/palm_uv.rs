//! [`PalmUv`]: the palm as CTAP 2.1 built-in user verification and bio enrollment.
//!
//! Verification (performBuiltInUv): UV blocked? → capture (KEEPALIVE UPNEEDED) → quality and
//! coding (PROCESSING; a failure to acquire is recaptured, never charged) → PAD → 1:N
//! identification over everyone enrolled → the person, or a charged failure. Only a real
//! mismatch or a presentation attack costs one of the 5 `uv_retries`; the decrement is
//! persisted before the answer leaves the device, so cutting power cannot refund an attempt
//! the attacker has seen fail. Success writes `uv_retries` only when it was below the maximum.
//!
//! Enrollment: `samples_required` good samples of one palm. The first must not identify as
//! anyone enrolled (else FP_EXISTS: a person is enrolled once, so their palm names exactly one
//! template), every later one must match the first (else FP_MERGE_FAILURE). Bad samples are
//! reported with their feedback and not counted. The stored template is the medoid sample
//! (best total score against the others): one ~5 KiB template per person.

use std::time::{Duration, Instant};

use super::feedback::SampleStatus;
use super::index::{IdentifyConfig, Index};
use super::matcher::{Judged, PalmMatcher};
use super::probe::{Deadline, ProbeSource, SensorProbe};
use crate::ctap::user::{
    BioEnroller, BuiltInUv, Interaction, SampleReport, SensorInfo, VerifiedUser,
};
use crate::ctap::{storage_error, CtapError};
use crate::palm::template::Template;
use crate::sensor::{PalmSensor, SensorError};
use crate::store::enrollments::Enrollment;
use crate::store::state::{TemplateId, MAX_UV_RETRIES};
use crate::store::Store;

/// Palm UV settings; `Default` is what `palmkey serve` uses.
#[derive(Debug, Clone, PartialEq)]
pub struct PalmUvConfig {
    /// Good samples an enrollment needs (maxCaptureSamplesRequiredForEnroll).
    pub samples_required: u8,
    /// Longest friendly name (member ID) in bytes (maxTemplateFriendlyName).
    pub max_friendly_name: usize,
    /// Captures one UV attempt may take while they keep failing to acquire.
    pub captures_per_attempt: u8,
    /// An enrollment with no sample for this long is abandoned.
    pub enrollment_idle_timeout: Duration,
    pub identify: IdentifyConfig,
}

impl Default for PalmUvConfig {
    fn default() -> Self {
        PalmUvConfig {
            samples_required: 3,
            max_friendly_name: 64,
            captures_per_attempt: 5,
            enrollment_idle_timeout: Duration::from_secs(60),
            identify: IdentifyConfig::default(),
        }
    }
}

/// An enrollment in progress.
struct Session {
    template_id: TemplateId,
    samples: Vec<Template>,
    last_activity: Instant,
}

/// The palm: built-in UV and bio enrollment over a [`PalmSensor`].
pub struct PalmUv {
    source: Box<dyn ProbeSource>,
    matcher: PalmMatcher,
    index: Index,
    config: PalmUvConfig,
    session: Option<Session>,
}

impl std::fmt::Debug for PalmUv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PalmUv")
            .field("index", &self.index)
            .field("config", &self.config)
            .field("enrolling", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

impl PalmUv {
    /// Palm UV over `sensor` with the default settings; install it with
    /// `authenticator.set_builtin_uv(Box::new(PalmUv::new(sensor)))`.
    pub fn new(sensor: Box<dyn PalmSensor>) -> Self {
        Self::with_config(sensor, PalmUvConfig::default())
    }

    pub fn with_config(sensor: Box<dyn PalmSensor>, config: PalmUvConfig) -> Self {
        Self::with_source(Box::new(SensorProbe(sensor)), config)
    }

    /// Palm UV over any probe source (e.g. pre-extracted templates in the bench).
    pub fn with_source(source: Box<dyn ProbeSource>, config: PalmUvConfig) -> Self {
        let matcher = PalmMatcher::new();
        PalmUv {
            index: Index::new(),
            source,
            matcher,
            config,
            session: None,
        }
    }

    pub fn config(&self) -> &PalmUvConfig {
        &self.config
    }

    pub fn matcher(&self) -> &PalmMatcher {
        &self.matcher
    }

    /// Decode the enrolled templates now rather than on the first verification (start-up).
    pub fn warm(&mut self, store: &Store) {
        self.index.sync(store.enrollments());
    }

    /// The identification index (bench: build a large gallery without re-decoding).
    pub fn index_mut(&mut self) -> &mut Index {
        &mut self.index
    }

    /// Charge one failed attempt: `UvBlocked` once none are left, else `UvInvalid`.
    fn charge(store: &mut Store) -> CtapError {
        match store.update(|s| {
            s.uv_retries = s.uv_retries.saturating_sub(1);
            s.uv_retries
        }) {
            Ok(0) => CtapError::UvBlocked,
            Ok(left) => {
                tracing::info!(retries_left = left, "palm not recognised");
                CtapError::UvInvalid
            }
            Err(e) => storage_error(e),
        }
    }

    /// One sensor presentation → the CTAP error for a sensor that gave nothing.
    fn sensor_error(error: SensorError, deadline: &Deadline<'_>) -> CtapError {
        match error {
            SensorError::Cancelled if deadline.expired() => CtapError::UserActionTimeout,
            SensorError::Cancelled => CtapError::KeepaliveCancel,
            SensorError::NoHand => CtapError::UserActionTimeout,
            SensorError::Device(why) => {
                tracing::error!(%why, "palm sensor failed");
                CtapError::Other
            }
        }
    }

    /// Take one enrollment sample for the session and report on it.
    fn sample(
        &mut self,
        store: &mut Store,
        timeout: Option<Duration>,
        io: &dyn Interaction,
    ) -> Result<SampleReport, CtapError> {
        let deadline = Deadline::new(io, timeout);
        let judged = match self.source.acquire(&self.matcher, &deadline) {
            Ok(judged) => judged,
            Err(e) => {
                // The session stays: the person may simply try again.
                return Err(Self::sensor_error(e, &deadline));
            }
        };
        let session = self.session.as_mut().ok_or(CtapError::NotAllowed)?;
        session.last_activity = Instant::now();
        let status = match judged {
            Judged::Unusable(e) => {
                tracing::debug!(error = %e, "enrollment sample unusable");
                SampleStatus::of_extract_error(&e)
            }
            Judged::Attack(verdict) => {
                tracing::warn!(?verdict, "presentation attack during enrollment refused");
                SampleStatus::PoorQuality
            }
            Judged::Template(t) => {
                if let Some(first) = session.samples.first() {
                    if self
                        .matcher
                        .engine()
                        .is_match(&self.matcher.engine().compare(&t, first))
                    {
                        session.samples.push(t);
                        SampleStatus::Good
                    } else {
                        SampleStatus::MergeFailure
                    }
                } else {
                    self.index.sync(store.enrollments());
                    if let Some(who) = self
                        .index
                        .identify(&t, &self.matcher, &self.config.identify)
                    {
                        tracing::warn!(template_id = %hex::encode(&who.template_id),
                            "enrollment refused: this palm is already enrolled");
                        SampleStatus::Exists
                    } else {
                        session.samples.push(t);
                        SampleStatus::Good
                    }
                }
            }
        };
        let remaining = self
            .config
            .samples_required
            .saturating_sub(session.samples.len() as u8);
        if remaining > 0 {
            return Ok(SampleReport {
                status: status as u8,
                remaining,
                completed: false,
            });
        }
        let session = self.session.take().expect("checked above");
        let template = medoid(&self.matcher, &session.samples).to_bytes();
        store
            .update_enrollments(|people, _| {
                people.push(Enrollment {
                    template_id: session.template_id.clone(),
                    friendly_name: None,
                    template,
                });
                Ok::<_, CtapError>(())
            })
            .map_err(storage_error)??;
        tracing::info!(template_id = %hex::encode(&session.template_id), "palm enrolled");
        Ok(SampleReport {
            status: status as u8,
            remaining: 0,
            completed: true,
        })
    }
}

/// The sample with the highest total score against the others.
fn medoid<'a>(matcher: &PalmMatcher, samples: &'a [Template]) -> &'a Template {
    let total = |i: usize| -> f32 {
        samples
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, s)| matcher.score(&samples[i], s))
            .sum()
    };
    let best = (0..samples.len())
        .map(|i| (i, total(i)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(i, _)| i);
    &samples[best]
}

impl BuiltInUv for PalmUv {
    fn verify(
        &mut self,
        store: &mut Store,
        io: &dyn Interaction,
    ) -> Result<VerifiedUser, CtapError> {
        if store.state().uv_retries == 0 {
            return Err(CtapError::UvBlocked);
        }
        self.index.sync(store.enrollments());
        if self.index.is_empty() {
            return Err(CtapError::NotAllowed);
        }
        let deadline = Deadline::new(io, None);
        for _ in 0..self.config.captures_per_attempt.max(1) {
            let judged = self
                .source
                .acquire(&self.matcher, &deadline)
                .map_err(|e| Self::sensor_error(e, &deadline))?;
            let probe = match judged {
                Judged::Unusable(e) => {
                    tracing::debug!(error = %e, "capture unusable: recapturing");
                    continue;
                }
                Judged::Attack(verdict) => {
                    tracing::warn!(?verdict, "presentation attack refused");
                    return Err(Self::charge(store));
                }
                Judged::Template(t) => t,
            };
            let Some(who) = self
                .index
                .identify(&probe, &self.matcher, &self.config.identify)
            else {
                return Err(Self::charge(store));
            };
            if store.state().uv_retries != MAX_UV_RETRIES {
                store
                    .update(|s| s.uv_retries = MAX_UV_RETRIES)
                    .map_err(storage_error)?;
            }
            return Ok(VerifiedUser {
                template_id: who.template_id,
            });
        }
        // Only failures to acquire: nobody was compared, nothing is charged.
        Err(CtapError::UserActionTimeout)
    }

    fn enroller(&mut self) -> Option<&mut dyn BioEnroller> {
        Some(self)
    }
}

impl BioEnroller for PalmUv {
    fn sensor_info(&self) -> SensorInfo {
        SensorInfo {
            // A palm is placed over the sensor and held, like a touch sensor, not swiped.
            kind: 1,
            samples_required: self.config.samples_required,
            max_friendly_name: self.config.max_friendly_name,
        }
    }

    fn begin(
        &mut self,
        store: &mut Store,
        timeout: Option<Duration>,
        io: &dyn Interaction,
    ) -> Result<(TemplateId, SampleReport), CtapError> {
        let template_id = store.enrollments().new_template_id(&mut rand::rngs::OsRng);
        self.session = Some(Session {
            template_id: template_id.clone(),
            samples: Vec::new(),
            last_activity: Instant::now(),
        });
        match self.sample(store, timeout, io) {
            Ok(report) => Ok((template_id, report)),
            Err(e) => {
                // The host never learnt this template ID: nothing to continue.
                self.session = None;
                Err(e)
            }
        }
    }

    fn capture_next(
        &mut self,
        store: &mut Store,
        template_id: &[u8],
        timeout: Option<Duration>,
        io: &dyn Interaction,
    ) -> Result<SampleReport, CtapError> {
        let session = self.session.as_ref().ok_or(CtapError::InvalidParameter)?;
        if session.template_id != template_id {
            return Err(CtapError::InvalidParameter);
        }
        if session.last_activity.elapsed() >= self.config.enrollment_idle_timeout {
            self.session = None;
            return Err(CtapError::UserActionTimeout);
        }
        self.sample(store, timeout, io)
    }

    fn cancel(&mut self) -> bool {
        self.session.take().is_some()
    }
}
