//! authenticatorBioEnrollment (CTAP 2.1 §6.7), platform side: modality, sensor info, enrolment
//! of a new template sample by sample, enumeration, friendly names and removal.
//!
//! On palmkey the modality is the palm; a template is one enrolled person and its friendly name
//! is their member ID. The wire format is the standard one, so this client also drives
//! fingerprint authenticators.
//!
//! Every subcommand except getFingerprintSensorInfo and cancelCurrentEnrollment is
//! authenticated with a pinUvAuthToken that holds the `be` permission:
//! `pinUvAuthParam = authenticate(token, modality || subCommand || subCommandParams)`.
//! Both the CTAP 2.1 command (0x09) and the CTAP 2.1 preview prototype (0x40) are spoken;
//! [`Client::bio_enrollment`] picks the one getInfo advertises.
//!
//! ```no_run
//! use palmkey::client::{Client, Permission, PinProtocol};
//!
//! let mut client = Client::connect_udp("127.0.0.1:8111".parse().unwrap())?;
//! let token = client.get_pin_uv_auth_token(PinProtocol::Two, "1234", Permission::BE, None)?;
//! let mut bio = client.bio_enrollment()?;
//! let template_id = bio.enroll(&token, Some("member-0042"), |feedback| {
//!     println!("{} ({} more)", feedback.status, feedback.remaining_samples);
//! })?;
//! for t in bio.enumerate(&token)? {
//!     println!("{} {:?}", hex::encode(&t.template_id), t.friendly_name);
//! }
//! bio.remove(&token, &template_id)?;
//! # Ok::<(), palmkey::client::ClientError>(())
//! ```

use std::fmt;
use std::time::Duration;

use ciborium::Value;

use super::cbor::{Fields, FromCbor};
use super::error::{ClientError, Result};
use super::info::AuthenticatorInfo;
use super::pin::PinUvAuthToken;
use super::{Client, CtapTransport};
use crate::ctap::cbor::{bytes, encode, MapBuilder};
use crate::ctap::CtapError;

/// Which command byte carries bio enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BioCommand {
    /// authenticatorBioEnrollment (0x09), getInfo option `bioEnroll`.
    Standard,
    /// The CTAP 2.1 preview prototype (0x40), getInfo option `userVerificationMgmtPreview`.
    Prototype,
}

impl BioCommand {
    pub const fn code(self) -> u8 {
        match self {
            BioCommand::Standard => super::command::BIO_ENROLLMENT,
            BioCommand::Prototype => 0x40,
        }
    }

    /// The command an authenticator advertises (present in options, whatever its value:
    /// `false` only means nothing is enrolled yet), the standard one first.
    pub fn advertised_by(info: &AuthenticatorInfo) -> Option<BioCommand> {
        if info.option("bioEnroll").is_some() {
            Some(BioCommand::Standard)
        } else if info.option("userVerificationMgmtPreview").is_some()
            && info.versions.iter().any(|v| v == "FIDO_2_1_PRE")
        {
            Some(BioCommand::Prototype)
        } else {
            None
        }
    }
}

/// Bio enrollment subcommands (CTAP 2.1 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BioSubcommand {
    EnrollBegin = 0x01,
    EnrollCaptureNextSample = 0x02,
    CancelCurrentEnrollment = 0x03,
    EnumerateEnrollments = 0x04,
    SetFriendlyName = 0x05,
    RemoveEnrollment = 0x06,
    GetFingerprintSensorInfo = 0x07,
}

/// The `modality` value of the only modality CTAP defines (hosts accept no other).
pub const MODALITY_FINGERPRINT: u8 = 0x01;

/// lastEnrollSampleStatus (CTAP 2.1 §6.7.4). The names are the spec's fingerprint wording;
/// palmkey maps its palm quality checks onto them (e.g. a dark or partial palm is
/// `PoorQuality`, a palm moved off-centre is `TooLeft`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleStatus {
    Good,
    TooHigh,
    TooLow,
    TooLeft,
    TooRight,
    TooFast,
    TooSlow,
    PoorQuality,
    TooSkewed,
    TooShort,
    MergeFailure,
    /// The presented biometric is already enrolled.
    Exists,
    DatabaseFull,
    NoUserActivity,
    NoUserPresenceTransition,
    /// A value the spec does not define, kept as sent.
    Other(u8),
}

impl SampleStatus {
    const NAMED: [SampleStatus; 15] = [
        SampleStatus::Good,
        SampleStatus::TooHigh,
        SampleStatus::TooLow,
        SampleStatus::TooLeft,
        SampleStatus::TooRight,
        SampleStatus::TooFast,
        SampleStatus::TooSlow,
        SampleStatus::PoorQuality,
        SampleStatus::TooSkewed,
        SampleStatus::TooShort,
        SampleStatus::MergeFailure,
        SampleStatus::Exists,
        SampleStatus::DatabaseFull,
        SampleStatus::NoUserActivity,
        SampleStatus::NoUserPresenceTransition,
    ];

    pub fn from_code(code: u8) -> SampleStatus {
        Self::NAMED
            .get(usize::from(code))
            .copied()
            .unwrap_or(SampleStatus::Other(code))
    }

    pub fn code(self) -> u8 {
        match self {
            SampleStatus::Other(code) => code,
            named => Self::NAMED
                .iter()
                .position(|s| *s == named)
                .expect("every named status is listed") as u8,
        }
    }

    /// True when the sample was taken into the template.
    pub fn is_good(self) -> bool {
        self == SampleStatus::Good
    }

    /// True when retrying cannot help: the enrollment can never complete.
    pub fn is_terminal(self) -> bool {
        matches!(self, SampleStatus::Exists | SampleStatus::DatabaseFull)
    }

    /// What to tell the person in front of the sensor.
    pub fn hint(self) -> &'static str {
        match self {
            SampleStatus::Good => "good sample",
            SampleStatus::TooHigh => "move the palm down",
            SampleStatus::TooLow => "move the palm up",
            SampleStatus::TooLeft => "move the palm to the right",
            SampleStatus::TooRight => "move the palm to the left",
            SampleStatus::TooFast => "hold the palm still",
            SampleStatus::TooSlow => "present the palm more quickly",
            SampleStatus::PoorQuality => "poor image: open the hand flat over the sensor",
            SampleStatus::TooSkewed => "hold the palm flat and straight",
            SampleStatus::TooShort => "keep the palm on the sensor longer",
            SampleStatus::MergeFailure => "sample did not match the earlier ones",
            SampleStatus::Exists => "this palm is already enrolled",
            SampleStatus::DatabaseFull => "no room for another enrollment",
            SampleStatus::NoUserActivity => "no hand presented",
            SampleStatus::NoUserPresenceTransition => "lift the hand and present it again",
            SampleStatus::Other(_) => "unknown sample status",
        }
    }
}

impl fmt::Display for SampleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.hint(), self.code())
    }
}

/// The outcome of one captured enrollment sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleFeedback {
    pub status: SampleStatus,
    /// Good samples still needed; 0 means the enrollment is complete.
    pub remaining_samples: u64,
}

/// enrollBegin's answer: the new template and the first sample's feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollStart {
    pub template_id: Vec<u8>,
    pub feedback: SampleFeedback,
}

/// getFingerprintSensorInfo's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorInfo {
    /// fingerprintKind: 1 touch sensor, 2 swipe sensor.
    pub fingerprint_kind: u64,
    /// maxCaptureSamplesRequiredForEnroll.
    pub max_capture_samples_required_for_enroll: u64,
    /// maxTemplateFriendlyName (bytes), when the authenticator states it.
    pub max_template_friendly_name: Option<u64>,
}

/// One enrolled template (on palmkey: one person, the friendly name their member ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    pub template_id: Vec<u8>,
    pub friendly_name: Option<String>,
}

/// How many samples in a row may fail (bad position, no hand…) before [`BioEnrollment::enroll`]
/// gives up and cancels: bounds the loop when nobody is at the sensor.
pub const MAX_CONSECUTIVE_BAD_SAMPLES: u32 = 10;

/// A bio enrollment session on one client: the command byte and modality to use.
#[derive(Debug)]
pub struct BioEnrollment<'c, T> {
    client: &'c mut Client<T>,
    command: BioCommand,
    modality: u8,
}

impl<T: CtapTransport> Client<T> {
    /// Bio enrollment with the command getInfo advertises and the modality the authenticator
    /// reports (two round trips). `Unsupported` when the authenticator has no bio enrollment.
    pub fn bio_enrollment(&mut self) -> Result<BioEnrollment<'_, T>> {
        let command = BioCommand::advertised_by(&self.get_info()?)
            .ok_or(ClientError::Unsupported("bio enrollment"))?;
        let modality = get_modality(self, command)?;
        Ok(BioEnrollment {
            client: self,
            command,
            modality,
        })
    }

    /// Bio enrollment with a known command and modality, without asking the authenticator.
    pub fn bio_enrollment_with(
        &mut self,
        command: BioCommand,
        modality: u8,
    ) -> BioEnrollment<'_, T> {
        BioEnrollment {
            client: self,
            command,
            modality,
        }
    }
}

/// getModality: `{0x06: true}` → `{0x01: modality}`.
fn get_modality<T: CtapTransport>(client: &mut Client<T>, command: BioCommand) -> Result<u8> {
    let request = encode(MapBuilder::new().insert(0x06, true).build());
    let payload = client.call(command.code(), &request)?;
    Fields::parse(&payload, "getModality response")?.req(0x01)
}

impl<T: CtapTransport> BioEnrollment<'_, T> {
    pub fn command(&self) -> BioCommand {
        self.command
    }

    /// The modality sent in (and authenticated with) every request.
    pub fn modality(&self) -> u8 {
        self.modality
    }

    /// The client underneath, e.g. to get a fresh token between calls.
    pub fn client(&mut self) -> &mut Client<T> {
        self.client
    }

    /// getModality, asked again.
    pub fn get_modality(&mut self) -> Result<u8> {
        get_modality(self.client, self.command)
    }

    /// getFingerprintSensorInfo (no authentication).
    pub fn sensor_info(&mut self) -> Result<SensorInfo> {
        let payload = self.call(BioSubcommand::GetFingerprintSensorInfo, None, None)?;
        let f = Fields::parse(&payload, "getFingerprintSensorInfo response")?;
        Ok(SensorInfo {
            fingerprint_kind: f.req(0x02)?,
            max_capture_samples_required_for_enroll: f.req(0x03)?,
            max_template_friendly_name: f.opt(0x08)?,
        })
    }

    /// enrollBegin: start a new template and capture its first sample. `timeout` is the
    /// capture's timeoutMilliseconds (the authenticator's default when `None`).
    pub fn enroll_begin(
        &mut self,
        token: &PinUvAuthToken,
        timeout: Option<Duration>,
    ) -> Result<EnrollStart> {
        let params = MapBuilder::new().insert_opt(0x03, timeout.map(millis));
        let params = (!params.is_empty()).then(|| params.build());
        let payload = self.call(BioSubcommand::EnrollBegin, params, Some(token))?;
        let f = Fields::parse(&payload, "enrollBegin response")?;
        Ok(EnrollStart {
            template_id: f.req(0x04)?,
            feedback: feedback(&f)?,
        })
    }

    /// enrollCaptureNextSample: capture one more sample into `template_id`.
    pub fn enroll_capture_next(
        &mut self,
        token: &PinUvAuthToken,
        template_id: &[u8],
        timeout: Option<Duration>,
    ) -> Result<SampleFeedback> {
        let params = MapBuilder::new()
            .insert(0x01, bytes(template_id))
            .insert_opt(0x03, timeout.map(millis))
            .build();
        let payload = self.call(
            BioSubcommand::EnrollCaptureNextSample,
            Some(params),
            Some(token),
        )?;
        feedback(&Fields::parse(
            &payload,
            "enrollCaptureNextSample response",
        )?)
    }

    /// cancelCurrentEnrollment (no authentication): the half-made template is discarded.
    pub fn cancel(&mut self) -> Result<()> {
        self.call(BioSubcommand::CancelCurrentEnrollment, None, None)
            .map(drop)
    }

    /// enumerateEnrollments; empty when nothing is enrolled (the authenticator then answers
    /// INVALID_OPTION, per the spec).
    pub fn enumerate(&mut self, token: &PinUvAuthToken) -> Result<Vec<TemplateInfo>> {
        let payload = match self.call(BioSubcommand::EnumerateEnrollments, None, Some(token)) {
            Err(e) if e.is(CtapError::InvalidOption) => return Ok(Vec::new()),
            other => other?,
        };
        let f = Fields::parse(&payload, "enumerateEnrollments response")?;
        let infos: Vec<Value> = f.req(0x07)?;
        infos
            .into_iter()
            .map(|v| {
                let t = Fields::new(v, "templateInfo")?;
                Ok(TemplateInfo {
                    template_id: t.req(0x01)?,
                    friendly_name: t.opt(0x02)?,
                })
            })
            .collect()
    }

    /// setFriendlyName: on palmkey, the person's member ID.
    pub fn set_friendly_name(
        &mut self,
        token: &PinUvAuthToken,
        template_id: &[u8],
        name: &str,
    ) -> Result<()> {
        let params = MapBuilder::new()
            .insert(0x01, bytes(template_id))
            .insert(0x02, name)
            .build();
        self.call(BioSubcommand::SetFriendlyName, Some(params), Some(token))
            .map(drop)
    }

    /// removeEnrollment.
    pub fn remove(&mut self, token: &PinUvAuthToken, template_id: &[u8]) -> Result<()> {
        let params = MapBuilder::new().insert(0x01, bytes(template_id)).build();
        self.call(BioSubcommand::RemoveEnrollment, Some(params), Some(token))
            .map(drop)
    }

    /// A whole enrollment: enrollBegin, then enrollCaptureNextSample until no samples remain,
    /// reporting every sample to `on_sample`, then setFriendlyName when a name is given.
    ///
    /// Samples with a bad status are retried (the person adjusts their hand) up to
    /// [`MAX_CONSECUTIVE_BAD_SAMPLES`] in a row. On any failure (a terminal status such as
    /// `Exists`, too many bad samples, a CTAP error or timeout) the enrollment is cancelled
    /// on the authenticator, so nothing half-made stays behind, and the error is returned.
    pub fn enroll(
        &mut self,
        token: &PinUvAuthToken,
        friendly_name: Option<&str>,
        mut on_sample: impl FnMut(SampleFeedback),
    ) -> Result<Vec<u8>> {
        let start = self.enroll_begin(token, None)?;
        let template_id = start.template_id;
        let result = self.finish_enrollment(token, &template_id, start.feedback, &mut on_sample);
        if let Err(error) = result {
            // Best effort: the original error is what the caller needs to see.
            if let Err(cancel_error) = self.cancel() {
                tracing::debug!(%cancel_error, "cancelling the failed enrollment");
            }
            return Err(error);
        }
        if let Some(name) = friendly_name {
            self.set_friendly_name(token, &template_id, name)?;
        }
        Ok(template_id)
    }

    fn finish_enrollment(
        &mut self,
        token: &PinUvAuthToken,
        template_id: &[u8],
        first: SampleFeedback,
        on_sample: &mut impl FnMut(SampleFeedback),
    ) -> Result<()> {
        let mut feedback = first;
        let mut bad_in_a_row = 0u32;
        loop {
            on_sample(feedback);
            if feedback.status.is_terminal() {
                return Err(ClientError::Enrollment(feedback.status));
            }
            if feedback.status.is_good() {
                bad_in_a_row = 0;
            } else {
                bad_in_a_row += 1;
                if bad_in_a_row >= MAX_CONSECUTIVE_BAD_SAMPLES {
                    return Err(ClientError::Enrollment(feedback.status));
                }
            }
            if feedback.remaining_samples == 0 {
                return Ok(());
            }
            feedback = self.enroll_capture_next(token, template_id, None)?;
        }
    }

    /// One request: `{1: modality, 2: subCommand, 3?: params, 4?: protocol, 5?: param}`.
    fn call(
        &mut self,
        sub: BioSubcommand,
        params: Option<Value>,
        token: Option<&PinUvAuthToken>,
    ) -> Result<Vec<u8>> {
        let request = request_cbor(self.modality, sub, params, token);
        self.client.call(self.command.code(), &request)
    }
}

/// The CBOR parameters of one bio enrollment request, authenticated with `token` when given.
fn request_cbor(
    modality: u8,
    sub: BioSubcommand,
    params: Option<Value>,
    token: Option<&PinUvAuthToken>,
) -> Vec<u8> {
    let auth = token.map(|t| {
        let mut message = vec![modality, sub as u8];
        if let Some(p) = &params {
            message.extend_from_slice(&encode(p.clone()));
        }
        t.authenticate(&message)
    });
    encode(
        MapBuilder::new()
            .insert(0x01, modality)
            .insert(0x02, sub as u8)
            .insert_opt(0x03, params)
            .insert_opt(0x04, auth.as_ref().map(|a| a.protocol))
            .insert_opt(0x05, auth.map(|a| bytes(a.param)))
            .build(),
    )
}

fn feedback(f: &Fields) -> Result<SampleFeedback> {
    Ok(SampleFeedback {
        status: SampleStatus::from_code(f.req(0x05)?),
        remaining_samples: f.req(0x06)?,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl FromCbor for SampleStatus {
    fn from_cbor(v: Value) -> Option<Self> {
        u8::from_cbor(v).map(SampleStatus::from_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::pin::protocol::PinProtocol;

    #[test]
    fn sample_status_codes_round_trip() {
        for code in 0..=0x20u8 {
            assert_eq!(SampleStatus::from_code(code).code(), code);
        }
        assert_eq!(SampleStatus::from_code(0x00), SampleStatus::Good);
        assert_eq!(SampleStatus::from_code(0x07), SampleStatus::PoorQuality);
        assert_eq!(SampleStatus::from_code(0x0B), SampleStatus::Exists);
        assert_eq!(SampleStatus::from_code(0x0D), SampleStatus::NoUserActivity);
        assert_eq!(SampleStatus::from_code(0x0F), SampleStatus::Other(0x0F));
        assert!(SampleStatus::Exists.is_terminal());
        assert!(!SampleStatus::TooLeft.is_terminal());
    }

    #[test]
    fn request_layout_and_authentication() {
        let token = PinUvAuthToken::for_tests(PinProtocol::Two, vec![9; 32]);
        let params = MapBuilder::new().insert(0x01, bytes([1, 2])).build();
        let cbor = request_cbor(
            1,
            BioSubcommand::RemoveEnrollment,
            Some(params.clone()),
            Some(&token),
        );
        let f = Fields::parse(&cbor, "request").unwrap();
        assert_eq!(f.req::<_, u8>(0x01).unwrap(), 1);
        assert_eq!(f.req::<_, u8>(0x02).unwrap(), 0x06);
        assert_eq!(f.req::<_, Value>(0x03).unwrap(), params);
        assert_eq!(f.req::<_, u8>(0x04).unwrap(), 2);
        let mut message = vec![1, 0x06];
        message.extend_from_slice(&encode(params));
        let expected = PinProtocol::Two.authenticate(&[9; 32], &message);
        assert_eq!(f.req::<_, Vec<u8>>(0x05).unwrap(), expected);

        let plain = request_cbor(1, BioSubcommand::GetFingerprintSensorInfo, None, None);
        let f = Fields::parse(&plain, "request").unwrap();
        assert_eq!(f.entries().len(), 2);
    }
}
