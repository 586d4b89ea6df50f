//! Store errors: tamper, missing key and I/O are kept apart because the CTAP core reacts to
//! each differently (disable + tamper event, clear start-up error, retry/report).

use std::path::PathBuf;

/// Why a sealed file was rejected. Every variant means "do not trust this state".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    #[error("file is shorter than its header and tag")]
    Truncated,
    #[error("bad magic bytes (not a palmkey sealed file)")]
    BadMagic,
    #[error("unsupported format version {0}")]
    WrongVersion(u16),
    #[error("unsupported state version {0}")]
    WrongStateVersion(u32),
    #[error("sealed file of the wrong kind (files swapped)")]
    WrongKind,
    #[error("authentication failed (modified, or sealed under another key)")]
    Authentication,
    #[error("sealed contents do not decode")]
    Malformed,
    #[error("the enrollment gallery is missing or does not belong to this state")]
    EnrollmentsMismatch,
    #[error("state generation {found} is older than the rollback anchor {anchor} (rolled back)")]
    RolledBack { found: u64, anchor: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The sealed state failed verification: treat the device as tampered with.
    #[error("state integrity check failed: {0}")]
    Integrity(#[from] IntegrityError),
    /// The master key could not be found or loaded (not a tamper: e.g. the keyring was
    /// cleared by a reboot, or the key file is missing).
    #[error("master key unavailable: {0}")]
    KeyUnavailable(String),
    #[error("state I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state could not be serialized (a bug, never tamper).
    #[error("state serialization failed: {0}")]
    Encode(String),
    /// Another process has this state folder open.
    #[error("state folder {0} is in use by another process")]
    InUse(PathBuf),
    /// All 2^32 signature counter values have been handed out.
    #[error("signature counter exhausted")]
    CounterExhausted,
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
