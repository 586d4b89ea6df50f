//! Errors of the host-side client: a CTAP status from the authenticator, a transport failure,
//! or a response that does not follow the spec.

use std::fmt;

use super::transport::TransportError;
use crate::ctap::CtapError;

/// A CTAP2 status byte as the authenticator sent it. Kept as the raw byte so codes that
/// `CtapError` does not name (vendor, extension range) survive intact.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtapStatus(pub u8);

impl CtapStatus {
    /// The named status, when the byte is one the spec defines.
    pub fn error(self) -> Option<CtapError> {
        use CtapError::*;
        const KNOWN: &[CtapError] = &[
            Success,
            InvalidCommand,
            InvalidParameter,
            InvalidLength,
            InvalidSeq,
            Timeout,
            ChannelBusy,
            LockRequired,
            InvalidChannel,
            CborUnexpectedType,
            InvalidCbor,
            MissingParameter,
            LimitExceeded,
            UnsupportedExtension,
            FingerprintDatabaseFull,
            LargeBlobStorageFull,
            CredentialExcluded,
            Processing,
            InvalidCredential,
            UserActionPending,
            OperationPending,
            NoOperations,
            UnsupportedAlgorithm,
            OperationDenied,
            KeyStoreFull,
            NotBusy,
            NoOperationPending,
            UnsupportedOption,
            InvalidOption,
            KeepaliveCancel,
            NoCredentials,
            UserActionTimeout,
            NotAllowed,
            PinInvalid,
            PinBlocked,
            PinAuthInvalid,
            PinAuthBlocked,
            PinNotSet,
            PinRequired,
            PinPolicyViolation,
            PinTokenExpired,
            RequestTooLarge,
            ActionTimeout,
            UpRequired,
            UvBlocked,
            IntegrityFailure,
            InvalidSubcommand,
            UvInvalid,
            UnauthorizedPermission,
            Other,
        ];
        KNOWN.iter().copied().find(|e| *e as u8 == self.0)
    }
}

impl PartialEq<CtapError> for CtapStatus {
    fn eq(&self, other: &CtapError) -> bool {
        self.0 == *other as u8
    }
}

impl From<CtapError> for CtapStatus {
    fn from(e: CtapError) -> Self {
        CtapStatus(e as u8)
    }
}

impl fmt::Debug for CtapStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CtapStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error() {
            Some(e) => write!(f, "{e:?} (0x{:02X})", self.0),
            None => write!(f, "0x{:02X}", self.0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The authenticator answered with a non-success CTAP2 status.
    #[error("authenticator returned CTAP status {0}")]
    Ctap(CtapStatus),
    /// The message could not be exchanged (CTAPHID error, timeout, socket or HID failure).
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The authenticator's response does not follow CTAP 2.1.
    #[error("malformed authenticator response: {0}")]
    Malformed(String),
    /// The request cannot be expressed (e.g. a PIN that is too long to pad).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The authenticator does not offer what the operation needs.
    #[error("not supported by the authenticator: {0}")]
    Unsupported(&'static str),
    /// A signature or attestation from the authenticator does not verify.
    #[error("verification failed: {0}")]
    Verification(&'static str),
    /// A bio enrollment could not complete (the palm is already enrolled, or no usable
    /// sample came after repeated attempts); the enrollment was cancelled.
    #[error("enrollment failed: {0}")]
    Enrollment(super::bio_enrollment::SampleStatus),
}

impl ClientError {
    /// The CTAP status code, when the authenticator answered with one.
    pub fn ctap_status(&self) -> Option<CtapStatus> {
        match self {
            ClientError::Ctap(s) => Some(*s),
            _ => None,
        }
    }

    /// True when the authenticator answered with exactly this status.
    pub fn is(&self, code: CtapError) -> bool {
        self.ctap_status() == Some(code.into())
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        ClientError::Malformed(what.into())
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_known_codes_and_keeps_unknown() {
        assert_eq!(CtapStatus(0x33).error(), Some(CtapError::PinAuthInvalid));
        assert_eq!(CtapStatus(0x33), CtapError::PinAuthInvalid);
        assert_eq!(CtapStatus(0xF3).error(), None);
        assert_eq!(CtapStatus(0xF3).to_string(), "0xF3");
        assert!(CtapStatus(0x31).to_string().contains("PinInvalid"));
    }
}
