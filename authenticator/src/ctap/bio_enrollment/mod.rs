//! authenticatorBioEnrollment (0x09, and the 2.1-PRE code 0x40), CTAP 2.1 §6.7, for the palm.
//!
//! # Modality and sensor kind
//! CTAP 2.1 defines one bio-enrollment modality, fingerprint (1), and hosts only accept that:
//! python-fido2's `FPBioEnrollment` raises unless getModality answers 1, libfido2's
//! `fido_bio_*` API only speaks the fingerprint subcommands, and Windows' bio-enrollment UI is
//! fingerprint-only. A palm is enrolled the same way (samples → template → templateId +
//! friendly name), so this command answers modality 1 and fingerprintKind 1 (touch: the palm is
//! placed and held, not swiped), and says what the sensor really is where CTAP has a field for
//! it: getInfo `uvModality` = 0x100 (USER_VERIFY_HANDPRINT_INTERNAL in the FIDO registry).
//!
//! # Authorisation
//! Every subcommand but getModality, getFingerprintSensorInfo and cancelCurrentEnrollment
//! needs a pinUvAuthToken with the `be` permission, MACed over
//! `modality || subCommand || subCommandParams`. On a shared terminal the PIN is the
//! administrator's: a palm cannot get a `be` token (getInfo `uvBioEnroll` is false).
//!
//! # Shared-terminal rules
//! - The friendly name is the person's member ID: at most `maxTemplateFriendlyName` bytes,
//!   unique on the device (a second person with the same member ID is `NotAllowed`).
//! - A palm that identifies as someone already enrolled is refused sample by sample with
//!   lastEnrollSampleStatus FP_EXISTS (0x0B), the CTAP code for "already enrolled": it never
//!   counts towards remainingSamples, so that enrollment cannot complete with that palm.
//! - removeEnrollment deletes the person's discoverable credentials in the same atomic write,
//!   and their non-discoverable credentials (the owner is sealed inside the credential ID)
//!   stop working because their owner is no longer enrolled (template IDs are never reused).
//!   A shared terminal must not keep credentials nobody can reach any more: with the person
//!   gone, only a PIN could still use them, and the PIN belongs to the administrator, not to
//!   the person the credential was made for.

use std::time::Duration;

use ciborium::Value;

use super::cbor::{
    as_bool, as_bytes, as_map, as_text, as_u8, as_uint, bytes, Map, MapBuilder, Params,
};
use super::pin::Permission;
use super::status::CtapResult;
use super::user::{BioEnroller, SampleReport};
use super::{storage_error, Authenticator, CtapError, Device, Interaction};
use crate::events::DeviceEvent;

/// The CTAP modality value hosts accept (fingerprint), see the module docs.
pub const MODALITY: u8 = 1;
/// Wait for a hand at most this long when the host gives no timeout.
pub const DEFAULT_CAPTURE_TIMEOUT: Duration = Duration::from_secs(30);

mod key {
    pub const MODALITY: u64 = 0x01;
    pub const SUB_COMMAND: u64 = 0x02;
    pub const SUB_COMMAND_PARAMS: u64 = 0x03;
    pub const PROTOCOL: u64 = 0x04;
    pub const PIN_UV_AUTH_PARAM: u64 = 0x05;
    pub const GET_MODALITY: u64 = 0x06;
    // inside subCommandParams
    pub const TEMPLATE_ID: u64 = 0x01;
    pub const FRIENDLY_NAME: u64 = 0x02;
    pub const TIMEOUT_MS: u64 = 0x03;
}

mod out {
    pub const MODALITY: u8 = 0x01;
    pub const FINGERPRINT_KIND: u8 = 0x02;
    pub const MAX_SAMPLES: u8 = 0x03;
    pub const TEMPLATE_ID: u8 = 0x04;
    pub const LAST_STATUS: u8 = 0x05;
    pub const REMAINING: u8 = 0x06;
    pub const TEMPLATE_INFOS: u8 = 0x07;
    pub const MAX_FRIENDLY_NAME: u8 = 0x08;
}

subcommand_enum! {
    /// bioEnrollment subcommands.
    pub enum SubCommand {
        EnrollBegin = 0x01,
        EnrollCaptureNextSample = 0x02,
        CancelCurrentEnrollment = 0x03,
        EnumerateEnrollments = 0x04,
        SetFriendlyName = 0x05,
        RemoveEnrollment = 0x06,
        GetFingerprintSensorInfo = 0x07,
    }
}

fn builtin_enroller_missing(auth: &mut Authenticator) -> bool {
    auth.builtin_uv
        .as_mut()
        .and_then(|uv| uv.enroller())
        .is_none()
}

/// authenticatorBioEnrollment as dispatched (0x09 and 0x40).
pub fn handle(auth: &mut Authenticator, params: &[u8], io: &dyn Interaction) -> CtapResult {
    let params = Params::parse(params)?;
    // A device without a palm sensor has no modality to report: like every other
    // subcommand there, getModality is an unknown command (getInfo has no bioEnroll).
    if builtin_enroller_missing(auth) {
        return Err(CtapError::InvalidCommand);
    }
    if params.optional(key::GET_MODALITY, as_bool)? == Some(true) {
        return Ok(MapBuilder::new().insert(out::MODALITY, MODALITY).encode());
    }
    let Authenticator {
        device,
        pin_uv,
        builtin_uv,
        events,
        ..
    } = auth;
    let Device::Ready(store) = device else {
        return Err(CtapError::IntegrityFailure);
    };
    let enroller = builtin_uv
        .as_mut()
        .and_then(|uv| uv.enroller())
        .ok_or(CtapError::InvalidCommand)?;
    if params.required(key::MODALITY, as_u8)? != MODALITY {
        return Err(CtapError::InvalidParameter);
    }
    let sub = SubCommand::try_from(params.required(key::SUB_COMMAND, as_u8)?)?;
    let sub_params = params.optional(key::SUB_COMMAND_PARAMS, as_map)?;
    match sub {
        SubCommand::GetFingerprintSensorInfo => return Ok(sensor_info(enroller)),
        SubCommand::CancelCurrentEnrollment => {
            return if enroller.cancel() {
                Ok(Vec::new())
            } else {
                Err(CtapError::InvalidOption)
            };
        }
        _ => {}
    }
    // Authorise: pinUvAuthParam over modality || subCommand || subCommandParams, `be`.
    let auth_param = params
        .optional(key::PIN_UV_AUTH_PARAM, as_bytes)?
        .ok_or(CtapError::PinRequired)?;
    let protocol = params.required(key::PROTOCOL, as_u8)?;
    let mut message = vec![MODALITY, sub as u8];
    if let Some(sub_params) = params.map().get(key::SUB_COMMAND_PARAMS) {
        ciborium::into_writer(sub_params, &mut message).expect("writing to a Vec cannot fail");
    }
    pin_uv.authorize(protocol, &message, auth_param, Permission::BE)?;

    let template_id = || -> CtapResult<&[u8]> {
        sub_params
            .ok_or(CtapError::MissingParameter)?
            .required(key::TEMPLATE_ID, as_bytes)
    };
    match sub {
        SubCommand::EnrollBegin => {
            let timeout = capture_timeout(sub_params)?;
            let (template_id, report) = enroller.begin(store, timeout, io)?;
            if report.completed {
                events.emit(DeviceEvent::EnrollmentCompleted {
                    template_id: template_id.clone(),
                    member_id: None,
                });
            }
            Ok(sample_response(Some(template_id), &report))
        }
        SubCommand::EnrollCaptureNextSample => {
            let id = template_id()?.to_vec();
            let timeout = capture_timeout(sub_params)?;
            let report = enroller.capture_next(store, &id, timeout, io)?;
            if report.completed {
                events.emit(DeviceEvent::EnrollmentCompleted {
                    template_id: id,
                    member_id: None,
                });
            }
            Ok(sample_response(None, &report))
        }
        SubCommand::EnumerateEnrollments => {
            let people = store.enrollments().people();
            if people.is_empty() {
                return Err(CtapError::InvalidOption);
            }
            let infos = people
                .iter()
                .map(|p| {
                    MapBuilder::new()
                        .insert(0x01, bytes(p.template_id.clone()))
                        .insert_opt(0x02, p.friendly_name.clone())
                        .build()
                })
                .collect();
            Ok(MapBuilder::new()
                .insert(out::TEMPLATE_INFOS, Value::Array(infos))
                .encode())
        }
        SubCommand::SetFriendlyName => {
            let id = template_id()?.to_vec();
            let name = sub_params
                .ok_or(CtapError::MissingParameter)?
                .required(key::FRIENDLY_NAME, as_text)?
                .to_owned();
            if name.len() > enroller.sensor_info().max_friendly_name {
                return Err(CtapError::InvalidParameter);
            }
            store
                .update_enrollments(|people, _| {
                    if people
                        .people()
                        .iter()
                        .any(|p| p.template_id != id && p.friendly_name.as_deref() == Some(&name))
                    {
                        return Err(CtapError::NotAllowed);
                    }
                    let person = people.get_mut(&id).ok_or(CtapError::InvalidOption)?;
                    person.friendly_name = Some(name);
                    Ok(())
                })
                .map_err(storage_error)??;
            Ok(Vec::new())
        }
        SubCommand::RemoveEnrollment => {
            let id = template_id()?.to_vec();
            let (removed, credentials) = store
                .update_enrollments(|people, state| {
                    let removed = people.remove(&id).ok_or(CtapError::InvalidOption)?;
                    let before = state.credentials.len();
                    state
                        .credentials
                        .retain(|c| c.owner.as_deref() != Some(id.as_slice()));
                    Ok::<_, CtapError>((removed, before - state.credentials.len()))
                })
                .map_err(storage_error)??;
            tracing::info!(template_id = %hex::encode(&id), credentials, "enrollment removed with its discoverable credentials");
            events.emit(DeviceEvent::EnrollmentRemoved {
                template_id: id,
                member_id: removed.friendly_name,
            });
            Ok(Vec::new())
        }
        SubCommand::GetFingerprintSensorInfo | SubCommand::CancelCurrentEnrollment => {
            unreachable!("handled before authorisation")
        }
    }
}

fn sensor_info(enroller: &dyn BioEnroller) -> Vec<u8> {
    let info = enroller.sensor_info();
    MapBuilder::new()
        .insert(out::FINGERPRINT_KIND, info.kind)
        .insert(out::MAX_SAMPLES, info.samples_required)
        .insert(out::MAX_FRIENDLY_NAME, info.max_friendly_name as u64)
        .encode()
}

fn capture_timeout(sub_params: Option<Map<'_>>) -> CtapResult<Option<Duration>> {
    let ms = match sub_params {
        Some(p) => p.optional(key::TIMEOUT_MS, as_uint)?,
        None => None,
    };
    Ok(Some(
        ms.map_or(DEFAULT_CAPTURE_TIMEOUT, Duration::from_millis),
    ))
}

fn sample_response(template_id: Option<Vec<u8>>, report: &SampleReport) -> Vec<u8> {
    MapBuilder::new()
        .insert_opt(out::TEMPLATE_ID, template_id.map(bytes))
        .insert(out::LAST_STATUS, report.status)
        .insert(out::REMAINING, report.remaining)
        .encode()
}

#[cfg(test)]
mod tests;
