//! Rollback anchor: the newest state generation (and its counter ceiling), sealed, kept next
//! to the master key.
//!
//! Every state write carries a generation number (+1 per write, in the authenticated header).
//! After the state is durably written, the anchor is raised to that generation. On open, a
//! state older than the anchor is a rollback (an older sealed file swapped in) and fails with
//! [`IntegrityError::RolledBack`]. The anchor may lag the state (crash between the two writes,
//! or power loss before the anchor reached the disk) but never lead it, so a lagging anchor
//! only narrows the check and never produces a false tamper. For the same reason it is written
//! without fsync (an fsync would double the cost of every state write): after power loss it
//! may be old, empty or torn. An empty or torn anchor (too short, bad magic) is therefore
//! read as "no anchor" with a warning, while an authentic-looking anchor that fails its tag
//! is tamper. This gives nothing away: whoever can write the anchor can delete it, and can
//! read the master key beside it.
//!
//! The anchor also carries the signature-counter ceiling of that generation, so a device whose
//! state file was deleted, or reset after a tamper, keeps counting upwards.
//!
//! Limit: the anchor protects against whoever can write the state folder but not the key's
//! home. Someone who controls both holds the master key anyway.

use std::path::PathBuf;

use keyring_core::Entry;

use super::atomic::{self, Durability};
use super::error::{IntegrityError, StoreError};
use super::master_key::MasterKey;
use super::sealed::{self, Kind};

/// What the anchor remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchored {
    pub(crate) generation: u64,
    pub(crate) counter_ceiling: u32,
}

/// Where a key's anchor is stored.
pub(crate) enum AnchorHome {
    File(PathBuf),
    Keyring(Entry),
}

impl std::fmt::Debug for AnchorHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnchorHome::File(path) => write!(f, "AnchorHome::File({})", path.display()),
            AnchorHome::Keyring(_) => f.write_str("AnchorHome::Keyring"),
        }
    }
}

impl AnchorHome {
    /// The anchored generation, `None` when no anchor was ever written.
    pub(crate) fn read(&self, key: &MasterKey) -> Result<Option<Anchored>, StoreError> {
        let bytes = match self {
            AnchorHome::File(path) => {
                atomic::read_optional(path).map_err(|e| StoreError::io(path, e))?
            }
            AnchorHome::Keyring(entry) => match entry.get_secret() {
                Ok(bytes) => Some(bytes),
                Err(keyring_core::Error::NoEntry) => None,
                Err(err) => {
                    return Err(StoreError::KeyUnavailable(format!(
                        "OS keyring (rollback anchor): {err}"
                    )))
                }
            },
        };
        match bytes {
            None => Ok(None),
            Some(bytes) => {
                let (generation, plain) = match sealed::open(key, Kind::Anchor, &bytes) {
                    Ok(opened) => opened,
                    Err(why @ (IntegrityError::Truncated | IntegrityError::BadMagic)) => {
                        tracing::warn!(%why, "rollback anchor torn (power loss?): ignored");
                        return Ok(None);
                    }
                    Err(why) => return Err(why.into()),
                };
                let ceiling: [u8; 4] = plain
                    .as_slice()
                    .try_into()
                    .map_err(|_| IntegrityError::Malformed)?;
                Ok(Some(Anchored {
                    generation,
                    counter_ceiling: u32::from_be_bytes(ceiling),
                }))
            }
        }
    }

    /// Raise the anchor to `anchored`.
    pub(crate) fn write(&self, key: &MasterKey, anchored: Anchored) -> Result<(), StoreError> {
        let bytes = sealed::seal(
            key,
            Kind::Anchor,
            anchored.generation,
            &anchored.counter_ceiling.to_be_bytes(),
            &mut rand::rngs::OsRng,
        );
        match self {
            AnchorHome::File(path) => {
                let dir = path.parent().unwrap_or(std::path::Path::new("."));
                let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    StoreError::io(
                        path,
                        std::io::Error::other("anchor path has no UTF-8 file name"),
                    )
                })?;
                atomic::replace(dir, name, &bytes, Durability::ProcessCrash)
                    .map_err(|e| StoreError::io(path, e))
            }
            AnchorHome::Keyring(entry) => entry.set_secret(&bytes).map_err(|e| {
                StoreError::KeyUnavailable(format!("OS keyring (rollback anchor): {e}"))
            }),
        }
    }

    /// Remove the anchor (a new key starts without one).
    pub(crate) fn forget(&self) -> Result<(), StoreError> {
        match self {
            AnchorHome::File(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(path, e)),
                _ => Ok(()),
            },
            AnchorHome::Keyring(entry) => match entry.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(StoreError::KeyUnavailable(format!(
                    "OS keyring (rollback anchor): {e}"
                ))),
            },
        }
    }
}

/// Check a state of `generation` against the anchor.
pub(crate) fn check(anchor: Option<Anchored>, generation: u64) -> Result<(), IntegrityError> {
    match anchor {
        Some(anchor) if generation < anchor.generation => Err(IntegrityError::RolledBack {
            found: generation,
            anchor: anchor.generation,
        }),
        _ => Ok(()),
    }
}
