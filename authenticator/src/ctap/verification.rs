//! The user-verification steps makeCredential and getAssertion share (CTAP 2.1 §6.1.2 steps
//! 1–2, 5, 7–8, 11; §6.2.2 steps 1–2, 4–6): the zero-length pinUvAuthParam probe, the
//! `up`/`uv` options, alwaysUv, and checking a pinUvAuthParam or running built-in UV.
//!
//! The result says *how* the user was verified. Under built-in UV it names the person, which
//! is what ties credentials to an owner (see [`Verification::may_use`]).

use super::cbor::{self, Map};
use super::credential::Credential;
use super::pin::{Permission, PinProtocol};
use super::status::{CtapError, CtapResult};
use super::user::VerifiedUser;
use super::{storage_error, Authenticator, Device, Interaction};
use crate::events::{DeviceEvent, UvMethod};
use crate::store::enrollments::Enrollments;

/// The `options` parameter (unknown keys are ignored, known ones must be booleans).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub rk: Option<bool>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
}

impl Options {
    pub fn parse(map: Option<Map<'_>>) -> CtapResult<Self> {
        let Some(map) = map else {
            return Ok(Options::default());
        };
        Ok(Options {
            rk: map.optional("rk", cbor::as_bool)?,
            up: map.optional("up", cbor::as_bool)?,
            uv: map.optional("uv", cbor::as_bool)?,
        })
    }
}

/// pinUvAuthParam and pinUvAuthProtocol as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct PinUvAuth<'a> {
    pub param: Option<&'a [u8]>,
    pub protocol: Option<u8>,
}

/// How the user was verified for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// No user verification (the UV flag stays clear).
    None,
    /// A pinUvAuthToken: obtained with the PIN (`None`), or with built-in UV through
    /// getPinUvAuthTokenUsingUvWithPermissions, in which case it names the person the palm
    /// identified and acts for them exactly like [`Verification::BuiltIn`].
    Token(Option<VerifiedUser>),
    /// Built-in UV identified this enrolled person (the palm).
    BuiltIn(VerifiedUser),
}

impl Verification {
    pub fn user_verified(&self) -> bool {
        !matches!(self, Verification::None)
    }

    /// The person built-in UV identified (directly, or when the token was issued).
    pub fn person(&self) -> Option<&VerifiedUser> {
        match self {
            Verification::BuiltIn(user) | Verification::Token(Some(user)) => Some(user),
            _ => None,
        }
    }

    /// The owner a new credential gets.
    pub fn owner(&self) -> Option<Vec<u8>> {
        self.person().map(|user| user.template_id.clone())
    }

    /// The shared-terminal rules: under built-in UV a person sees only their own credentials;
    /// otherwise (PIN, or presence only, where credProtect decides) every credential is
    /// visible, except that a credential whose owner is no longer enrolled is usable by
    /// nobody (see `bio_enrollment`: removing a person retires their credentials).
    pub fn may_use(&self, credential: &Credential, enrolled: &Enrollments) -> bool {
        if let Some(owner) = &credential.owner {
            if !enrolled.contains(owner) {
                return false;
            }
        }
        match self.person() {
            Some(user) => credential.owner.as_ref() == Some(&user.template_id),
            None => true,
        }
    }
}

impl Authenticator {
    /// True when the device is protected by some form of user verification (a PIN is set, or
    /// someone is enrolled for built-in UV).
    pub(crate) fn uv_protected(&self) -> bool {
        let Device::Ready(store) = &self.device else {
            return false;
        };
        store.state().pin.pin_hash.is_some() || self.builtin_uv_enrolled()
    }

    pub(crate) fn builtin_uv_enrolled(&self) -> bool {
        match (&self.builtin_uv, &self.device) {
            (Some(uv), Device::Ready(store)) => uv.is_enrolled(store.state()),
            _ => false,
        }
    }

    pub(crate) fn pin_is_set(&self) -> bool {
        matches!(&self.device, Device::Ready(store) if store.state().pin.pin_hash.is_some())
    }

    pub(crate) fn always_uv(&self) -> bool {
        matches!(&self.device, Device::Ready(store) if store.state().config.always_uv)
    }
}

/// Steps 1–2: the zero-length pinUvAuthParam probe (a platform asking the user to pick this
/// authenticator, answered with PinNotSet/PinInvalid after a touch) and the protocol checks.
pub fn check_pin_uv_auth(
    auth: &mut Authenticator,
    pin_uv_auth: PinUvAuth<'_>,
    io: &dyn Interaction,
) -> CtapResult<()> {
    let Some(param) = pin_uv_auth.param else {
        return Ok(());
    };
    if param.is_empty() {
        auth.user_presence(io)
            .map_err(|_| CtapError::OperationDenied)?;
        return Err(if auth.pin_is_set() {
            CtapError::PinInvalid
        } else {
            CtapError::PinNotSet
        });
    }
    let protocol = pin_uv_auth.protocol.ok_or(CtapError::MissingParameter)?;
    PinProtocol::try_from(protocol)?;
    Ok(())
}

/// Whether the request asks for built-in UV: the `uv` option, unless a pinUvAuthParam takes
/// precedence. Asking for it without an enrolled built-in method is `InvalidOption`.
pub fn wants_builtin_uv(
    auth: &Authenticator,
    options: &Options,
    pin_uv_auth: PinUvAuth<'_>,
) -> CtapResult<bool> {
    let uv = pin_uv_auth.param.is_none() && options.uv == Some(true);
    if uv && !auth.builtin_uv_enrolled() {
        return Err(CtapError::InvalidOption);
    }
    Ok(uv)
}

/// alwaysUv (and, for makeCredential of a discoverable credential, makeCredUvNotRqd): a
/// request without any user verification is refused with PUAT_REQUIRED (0x36) on a
/// protected device, or PinNotSet when there is nothing to verify with yet.
pub fn require_uv_if_needed(
    auth: &Authenticator,
    has_uv: bool,
    required_anyway: bool,
) -> CtapResult<()> {
    if has_uv {
        return Ok(());
    }
    let protected = auth.uv_protected();
    if auth.always_uv() {
        return Err(if protected {
            CtapError::PinRequired
        } else {
            CtapError::PinNotSet
        });
    }
    if protected && required_anyway {
        return Err(CtapError::PinRequired);
    }
    Ok(())
}

/// Step 11 (makeCredential) / 6 (getAssertion): check the pinUvAuthParam against the token
/// (permission, RP binding, user-verified flag) or run built-in UV.
pub fn verify(
    auth: &mut Authenticator,
    pin_uv_auth: PinUvAuth<'_>,
    builtin: bool,
    client_data_hash: &[u8],
    permission: Permission,
    rp_id: &str,
    io: &dyn Interaction,
) -> CtapResult<Verification> {
    if let (Some(param), Some(protocol)) = (pin_uv_auth.param, pin_uv_auth.protocol) {
        if !auth.uv_protected() {
            return Err(CtapError::PinNotSet);
        }
        auth.pin_uv
            .verify(protocol, client_data_hash, param, permission, Some(rp_id))
            .map_err(|e| match e {
                CtapError::InvalidParameter => e,
                _ => CtapError::PinAuthInvalid,
            })?;
        if !auth.pin_uv.token_user_verified() {
            return Err(CtapError::PinAuthInvalid);
        }
        let person = auth.pin_uv.token_verified_user();
        return Ok(Verification::Token(person));
    }
    if builtin {
        let (Some(uv), Device::Ready(store)) = (&mut auth.builtin_uv, &mut auth.device) else {
            return Err(CtapError::InvalidOption);
        };
        return match uv.verify(store, io) {
            Ok(user) => Ok(Verification::BuiltIn(user)),
            Err(error) => {
                report_builtin_failure(
                    &auth.events,
                    Some(rp_id),
                    Some(store.state().uv_retries),
                    error,
                );
                Err(error)
            }
        };
    }
    Ok(Verification::None)
}

/// Steps 13–14: user presence. Built-in UV already involved the user; a token issued with
/// presence less than 30 s ago counts; otherwise ask. Then the token's flags and permissions
/// (except lbw) are consumed, as CTAP 2.1 requires after a successful presence check.
pub fn collect_presence(
    auth: &mut Authenticator,
    verification: &Verification,
    pin_uv_auth: PinUvAuth<'_>,
    io: &dyn Interaction,
) -> CtapResult<()> {
    let already = matches!(verification, Verification::BuiltIn(_))
        || (pin_uv_auth.param.is_some() && auth.pin_uv.token_user_present());
    if !already {
        auth.user_presence(io).map_err(|e| match e {
            CtapError::KeepaliveCancel => e,
            _ => CtapError::OperationDenied,
        })?;
    }
    auth.pin_uv.consume_token_flags();
    Ok(())
}

/// Tell the operator who authenticated where (never biometric data, only the template ID).
pub(crate) fn report_success(auth: &Authenticator, rp_id: &str, verification: &Verification) {
    let uv = match verification {
        Verification::None => UvMethod::None,
        Verification::Token(None) => UvMethod::Pin,
        Verification::Token(Some(_)) | Verification::BuiltIn(_) => UvMethod::Palm,
    };
    let template_id = verification.owner();
    let member_id = match (&template_id, &auth.device) {
        (Some(id), Device::Ready(store)) => store
            .enrollments()
            .get(id)
            .and_then(|p| p.friendly_name.clone()),
        _ => None,
    };
    auth.events.emit(DeviceEvent::AuthenticationSucceeded {
        rp_id: rp_id.to_owned(),
        uv,
        template_id,
        member_id,
    });
}

/// A failed built-in UV: a mismatch counts as a failed authentication, running out of
/// attempts is UV blocked (the attempt that used up the last retry is both). Cancel and
/// timeouts are not failures.
pub(crate) fn report_builtin_failure(
    events: &crate::events::EventSink,
    rp_id: Option<&str>,
    retries_left: Option<u8>,
    error: CtapError,
) {
    let failed = || DeviceEvent::AuthenticationFailed {
        rp_id: rp_id.map(str::to_owned),
        uv: UvMethod::Palm,
        retries_left,
    };
    match error {
        CtapError::UvInvalid => events.emit(failed()),
        CtapError::UvBlocked => {
            if retries_left == Some(0) {
                events.emit(failed());
            }
            events.emit(DeviceEvent::UvBlocked { uv: UvMethod::Palm });
        }
        _ => {}
    }
}

/// The signature counter for one signed response.
pub(crate) fn next_counter(auth: &mut Authenticator) -> CtapResult<u32> {
    auth.store_mut()?
        .next_signature_counter()
        .map_err(storage_error)
}
