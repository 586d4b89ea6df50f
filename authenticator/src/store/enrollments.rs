//! The enrolled people (bio enrollments): template IDs, member IDs and palm templates, sealed in
//! their own file next to the state.
//!
//! # Why a separate file
//! A shared terminal may hold 10,000 people × ~5 KiB of template: 50 MB. The hot state
//! (`state.sealed`) is rewritten on every PIN/UV retry change, credential and counter
//! reservation; carrying the templates there would turn each of those into a 50 MB write. So
//! the templates live in `enrollments.<revision>.sealed`, written only when someone is
//! enrolled, renamed or removed, and the state holds a small [`EnrollmentsRef`] to it.
//!
//! # Crash safety and binding
//! A change writes the complete new gallery under a *new* name (next revision, durable), then
//! updates the state to point at it (the state's own atomic, durable write: the commit point),
//! then deletes the old file. A crash before the commit leaves the old state pointing at the
//! old, intact file; the orphan is deleted at the next open. The gallery is sealed with the
//! master key (ChaCha20-Poly1305, its own [`Kind`] so it cannot be swapped for another sealed
//! file), and its plaintext carries the state's random `epoch` and the revision: a gallery
//! from another state, an older revision or a time before a reset does not verify, and the
//! state itself is protected against rollback by the anchor. So a gallery that fails to open
//! is tamper, exactly like the state.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::atomic::{self, Durability};
use super::error::{IntegrityError, StoreError};
use super::master_key::MasterKey;
use super::sealed::{self, Kind};
use super::state::{EnrollmentsRef, State, TemplateId};
use super::Store;

const FILE_PREFIX: &str = "enrollments.";
const FILE_SUFFIX: &str = ".sealed";

/// One enrolled person.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// The CTAP templateId: random, never reused (see [`Enrollments::new_template_id`]).
    #[serde(with = "serde_bytes")]
    pub template_id: TemplateId,
    /// The CTAP friendly name: on a shared terminal, the person's member ID.
    pub friendly_name: Option<String>,
    /// The palm template ([`crate::palm::template::Template::to_bytes`]).
    #[serde(with = "serde_bytes")]
    pub template: Vec<u8>,
}

impl std::fmt::Debug for Enrollment {
    // Template bytes are biometric data: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("template_id", &hex::encode(&self.template_id))
            .field("friendly_name", &self.friendly_name)
            .finish_non_exhaustive()
    }
}

/// All enrolled people, in enrollment order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollments {
    people: Vec<Enrollment>,
    /// Unique within the process for every distinct content (see [`Enrollments::revision`]).
    stamp: u64,
}

/// Source of [`Enrollments::revision`] stamps.
static STAMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_stamp() -> u64 {
    STAMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What is sealed in the gallery file.
#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(with = "serde_bytes")]
    epoch: [u8; 16],
    revision: u64,
    people: Vec<Enrollment>,
}

impl Enrollments {
    /// Nobody enrolled.
    pub fn empty() -> Self {
        Enrollments {
            people: Vec::new(),
            stamp: next_stamp(),
        }
    }

    pub fn people(&self) -> &[Enrollment] {
        &self.people
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// Changes with every load, write and reset, and is never repeated within the process
    /// (unlike the file revision, which restarts after a reset): an index built over these
    /// can tell it is stale.
    pub fn revision(&self) -> u64 {
        self.stamp
    }

    pub fn get(&self, template_id: &[u8]) -> Option<&Enrollment> {
        self.people.iter().find(|p| p.template_id == template_id)
    }

    pub fn contains(&self, template_id: &[u8]) -> bool {
        self.get(template_id).is_some()
    }

    /// A fresh random template ID (16 bytes). 128 random bits never collide in practice; the
    /// check against the current people makes a reuse impossible rather than improbable among
    /// the living, and removed IDs are never reused by the same argument.
    pub fn new_template_id(&self, rng: &mut impl rand_core::CryptoRngCore) -> TemplateId {
        loop {
            let mut id = vec![0u8; 16];
            rng.fill_bytes(&mut id);
            if !self.contains(&id) {
                return id;
            }
        }
    }

    pub fn push(&mut self, enrollment: Enrollment) {
        self.people.push(enrollment);
    }

    /// Remove a person; their record, if they were enrolled.
    pub fn remove(&mut self, template_id: &[u8]) -> Option<Enrollment> {
        let at = self
            .people
            .iter()
            .position(|p| p.template_id == template_id)?;
        Some(self.people.remove(at))
    }

    pub fn get_mut(&mut self, template_id: &[u8]) -> Option<&mut Enrollment> {
        self.people
            .iter_mut()
            .find(|p| p.template_id == template_id)
    }
}

fn file_name(revision: u64) -> String {
    format!("{FILE_PREFIX}{revision}{FILE_SUFFIX}")
}

fn revision_of(name: &str) -> Option<u64> {
    name.strip_prefix(FILE_PREFIX)?
        .strip_suffix(FILE_SUFFIX)?
        .parse()
        .ok()
}

/// Load the gallery the state refers to and delete orphans (crash leftovers).
pub(crate) fn load(
    dir: &Path,
    key: &MasterKey,
    reference: &EnrollmentsRef,
) -> Result<Enrollments, StoreError> {
    remove_files(dir, Some(reference.revision))?;
    if reference.revision == 0 {
        return Ok(Enrollments::empty());
    }
    let path = dir.join(file_name(reference.revision));
    let bytes = atomic::read_optional(&path)
        .map_err(|e| StoreError::io(&path, e))?
        .ok_or(IntegrityError::EnrollmentsMismatch)?;
    let (generation, plaintext) = sealed::open(key, Kind::Enrollments, &bytes)?;
    let sealed: Sealed =
        ciborium::from_reader(plaintext.as_slice()).map_err(|_| IntegrityError::Malformed)?;
    if generation != reference.revision
        || sealed.revision != reference.revision
        || sealed.epoch != reference.epoch
        || sealed.people.len() != reference.count as usize
    {
        return Err(IntegrityError::EnrollmentsMismatch.into());
    }
    Ok(Enrollments {
        people: sealed.people,
        stamp: next_stamp(),
    })
}

/// Delete every gallery file in `dir` except revision `keep`.
pub(crate) fn remove_files(dir: &Path, keep: Option<u64>) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(revision) = name.to_str().and_then(revision_of) else {
            continue;
        };
        if Some(revision) != keep {
            let path: PathBuf = entry.path();
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            removed = true;
        }
    }
    if removed {
        atomic::sync_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    Ok(())
}

impl Store {
    /// The enrolled people (loaded and verified at open).
    pub fn enrollments(&self) -> &Enrollments {
        &self.enrollments
    }

    /// Change the enrolled people and the state together (e.g. remove a person and the
    /// credentials they own), crash-safely (see the module docs). `f` works on copies; when it
    /// fails, or the write fails, nothing changes.
    pub fn update_enrollments<R, E>(
        &mut self,
        f: impl FnOnce(&mut Enrollments, &mut State) -> Result<R, E>,
    ) -> Result<Result<R, E>, StoreError> {
        let mut people = self.enrollments.clone();
        let mut state = self.state.clone();
        let result = match f(&mut people, &mut state) {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        let old = self.state.enrollments.clone();
        let revision = old.revision + 1;
        let epoch = if old.revision == 0 {
            let mut epoch = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut epoch);
            epoch
        } else {
            old.epoch
        };
        let sealed = Sealed {
            epoch,
            revision,
            people: std::mem::take(&mut people.people),
        };
        let mut plaintext = Zeroizing::new(Vec::new());
        ciborium::into_writer(&sealed, &mut *plaintext)
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        let bytes = sealed::seal(
            &self.key,
            Kind::Enrollments,
            revision,
            &plaintext,
            &mut rand::rngs::OsRng,
        );
        let name = file_name(revision);
        atomic::replace(&self.dir, &name, &bytes, Durability::Durable)
            .map_err(|e| StoreError::io(self.dir.join(&name), e))?;
        state.enrollments = EnrollmentsRef {
            epoch,
            revision,
            count: sealed.people.len() as u32,
        };
        // The commit point: the state now names the new gallery.
        if let Err(e) = self.update(|s| *s = state) {
            let _ = std::fs::remove_file(self.dir.join(&name));
            return Err(e);
        }
        self.enrollments = Enrollments {
            people: sealed.people,
            stamp: next_stamp(),
        };
        if old.revision != 0 {
            let path = self.dir.join(file_name(old.revision));
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(%err, path = %path.display(), "old enrollment gallery not removed (deleted at next open)");
            }
        }
        Ok(Ok(result))
    }

    /// After a reset: nobody is enrolled, old gallery files go.
    pub(crate) fn forget_enrollments(&mut self) -> Result<(), StoreError> {
        self.enrollments = Enrollments::empty();
        remove_files(&self.dir, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MasterKey;

    fn person(id: u8, name: &str) -> Enrollment {
        Enrollment {
            template_id: vec![id; 16],
            friendly_name: Some(name.to_owned()),
            template: vec![id; 5000],
        }
    }

    fn add(store: &mut Store, p: Enrollment) {
        store
            .update_enrollments(|e, _| {
                e.push(p);
                Ok::<_, ()>(())
            })
            .unwrap()
            .unwrap();
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(FILE_PREFIX))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn enrollments_survive_reopen_and_only_the_current_file_remains() {
        let dir = tempfile::tempdir().unwrap();
        let key = [3u8; 32];
        let mut store = Store::open(dir.path(), MasterKey::from_bytes(key)).unwrap();
        assert!(store.enrollments().is_empty());
        add(&mut store, person(1, "M-1"));
        add(&mut store, person(2, "M-2"));
        assert_eq!(store.state().enrollments.count, 2);
        assert_eq!(files(dir.path()), vec!["enrollments.2.sealed"]);
        let generation = store.generation();
        drop(store);
        let store = Store::open(dir.path(), MasterKey::from_bytes(key)).unwrap();
        assert_eq!(store.generation(), generation);
        assert_eq!(store.enrollments().len(), 2);
        assert_eq!(
            store.enrollments().get(&[2; 16]).unwrap().friendly_name,
            Some("M-2".into())
        );
    }

    #[test]
    fn a_failed_change_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), MasterKey::from_bytes([3; 32])).unwrap();
        add(&mut store, person(1, "M-1"));
        let before = store.enrollments().clone();
        let out = store
            .update_enrollments(|e, s| {
                e.remove(&[1; 16]);
                s.uv_retries = 0;
                Err::<(), _>("refused")
            })
            .unwrap();
        assert_eq!(out, Err("refused"));
        assert_eq!(store.enrollments(), &before);
        assert_eq!(store.state().uv_retries, 5);
    }

    #[test]
    fn orphans_from_a_crash_are_removed_and_tamper_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let key = [3u8; 32];
        let mut store = Store::open(dir.path(), MasterKey::from_bytes(key)).unwrap();
        add(&mut store, person(1, "M-1"));
        drop(store);
        // A crash after writing revision 2 but before the state named it.
        std::fs::write(dir.path().join("enrollments.2.sealed"), b"half written").unwrap();
        let store = Store::open(dir.path(), MasterKey::from_bytes(key)).unwrap();
        assert_eq!(store.enrollments().len(), 1);
        assert_eq!(files(dir.path()), vec!["enrollments.1.sealed"]);
        drop(store);
        // A modified gallery is tamper.
        let path = dir.path().join("enrollments.1.sealed");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Store::open(dir.path(), MasterKey::from_bytes(key)),
            Err(StoreError::Integrity(_))
        ));
        // A missing gallery the state refers to is tamper too.
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            Store::open(dir.path(), MasterKey::from_bytes(key)),
            Err(StoreError::Integrity(IntegrityError::EnrollmentsMismatch))
        ));
    }

    #[test]
    fn a_gallery_from_before_a_reset_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let key = [3u8; 32];
        let mut store = Store::open(dir.path(), MasterKey::from_bytes(key)).unwrap();
        add(&mut store, person(1, "M-1"));
        let old = std::fs::read(dir.path().join("enrollments.1.sealed")).unwrap();
        store.reset().unwrap();
        assert!(store.enrollments().is_empty());
        assert!(files(dir.path()).is_empty());
        add(&mut store, person(2, "M-2"));
        drop(store);
        // Swap the pre-reset revision 1 in for the current revision 1.
        std::fs::write(dir.path().join("enrollments.1.sealed"), old).unwrap();
        assert!(matches!(
            Store::open(dir.path(), MasterKey::from_bytes(key)),
            Err(StoreError::Integrity(IntegrityError::EnrollmentsMismatch))
        ));
    }

    #[test]
    fn counter_and_retry_writes_leave_the_gallery_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), MasterKey::from_bytes([3; 32])).unwrap();
        add(&mut store, person(1, "M-1"));
        let path = dir.path().join("enrollments.1.sealed");
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        let state_size = std::fs::metadata(dir.path().join(crate::store::STATE_FILE))
            .unwrap()
            .len();
        store.update(|s| s.uv_retries = 3).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        assert!(state_size < 1000, "state stays small: {state_size} bytes");
    }
}
