//! The one error type of the command layer. It crosses into the UI as `{code, message}`: the
//! code lets the UI react (show the lock screen, ask for a PIN), the message is for people.

use palmkey::client::{ClientError, CtapStatus};
use palmkey::ctap::CtapError;
use serde::ser::SerializeStruct;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no authenticator is connected")]
    NotConnected,
    #[error("the terminal is locked: enter the administrator PIN")]
    Locked,
    #[error("the authenticator has no PIN yet: set one first")]
    PinNotSet,
    #[error("{message}")]
    Device {
        status: Option<CtapStatus>,
        message: String,
    },
    #[error("member ID {0:?} is already enrolled")]
    AlreadyEnrolled(String),
    #[error("invalid member ID: {0}")]
    InvalidMemberId(String),
    #[error("{0}")]
    Qr(String),
    #[error("an enrollment is already in progress")]
    EnrollmentInProgress,
    #[error("no enrollment is in progress")]
    NoEnrollment,
    #[error("enrollment cancelled")]
    EnrollmentCancelled,
    #[error("this authenticator does not support {0}")]
    Unsupported(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("PIN storage: {0}")]
    Vault(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl AppError {
    /// A short machine-readable code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotConnected => "not-connected",
            AppError::Locked => "locked",
            AppError::PinNotSet => "pin-not-set",
            AppError::Device { .. } => "device",
            AppError::AlreadyEnrolled(_) => "already-enrolled",
            AppError::InvalidMemberId(_) => "invalid-member-id",
            AppError::Qr(_) => "qr",
            AppError::EnrollmentInProgress => "enrollment-in-progress",
            AppError::NoEnrollment => "no-enrollment",
            AppError::EnrollmentCancelled => "enrollment-cancelled",
            AppError::Unsupported(_) => "unsupported",
            AppError::Invalid(_) => "invalid",
            AppError::Vault(_) => "vault",
            AppError::Io { .. } => "io",
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        AppError::Io {
            what: what.into(),
            source,
        }
    }

    /// The CTAP status the authenticator answered, if that is what failed.
    pub fn ctap_status(&self) -> Option<CtapStatus> {
        match self {
            AppError::Device { status, .. } => *status,
            _ => None,
        }
    }

    pub fn is_ctap(&self, code: CtapError) -> bool {
        self.ctap_status() == Some(code.into())
    }
}

/// What an administrator should read for a CTAP status; the raw status is kept alongside.
fn describe(status: CtapStatus) -> String {
    use CtapError::*;
    let text = match status.error() {
        Some(PinInvalid) => "wrong PIN",
        Some(PinBlocked) => "the PIN is blocked: the authenticator must be reset",
        Some(PinAuthBlocked) => {
            "too many wrong PINs in a row: unplug the authenticator and plug it back in"
        }
        Some(PinNotSet) => "no PIN is set on the authenticator",
        Some(PinPolicyViolation) => "the PIN does not meet the authenticator's policy (too short?)",
        Some(PinAuthInvalid) | Some(PinTokenExpired) => "the admin session expired: unlock again",
        Some(NotAllowed) => {
            "not allowed now (a reset only works within 10 s of plugging the authenticator in)"
        }
        Some(UserActionTimeout) => "nobody presented a hand in time",
        Some(KeepaliveCancel) => "cancelled",
        Some(NoCredentials) => "no such credential",
        Some(FingerprintDatabaseFull) => "no room for another person on this authenticator",
        Some(UnauthorizedPermission) => "the authenticator refused the permission asked for",
        Some(InvalidCommand) | Some(InvalidSubcommand) => {
            "the authenticator does not know this command"
        }
        Some(UvBlocked) => "palm verification is blocked: use the PIN",
        _ => "the authenticator refused the request",
    };
    format!("{text} ({status})")
}

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> Self {
        let status = e.ctap_status();
        let message = match (&e, status) {
            (_, Some(status)) => describe(status),
            (ClientError::Transport(t), None) => format!("cannot reach the authenticator: {t}"),
            _ => e.to_string(),
        };
        AppError::Device { status, message }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("AppError", 3)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.serialize_field("ctapStatus", &self.ctap_status().map(|s| s.0))?;
        st.end()
    }
}

pub type AppResult<T> = Result<T, AppError>;
