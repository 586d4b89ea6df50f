//! Encrypted, integrity-protected, atomically written device state (DESIGN.md security model).
//!
//! Contract used by the CTAP core:
//! - [`Store::open`] loads `DIR` (a new empty DIR is a factory-fresh device) or fails with
//!   [`StoreError::Integrity`] when the sealed state does not verify (tamper), or
//!   [`StoreError::KeyUnavailable`] when the master key is missing (not a tamper).
//! - [`Store::update`] applies a change and persists it before returning; on error the
//!   in-memory state is unchanged.
//! - [`Store::next_signature_counter`] hands out a value that is never handed out again, even
//!   across a crash.
//!
//! # On disk
//! `DIR/state.sealed` is the whole [`State`] plus the signature-counter reservation, CBOR
//! (ciborium) sealed with ChaCha20-Poly1305 under the master key (format in `sealed.rs`), and
//! replaced atomically and durably on every write (write new + fsync + rename + fsync DIR).
//! Every write raises a generation number in the authenticated header; the rollback anchor
//! (`anchor.rs`) next to the master key remembers the newest one, so swapping in an older
//! sealed file is detected. Limits: a key made with [`MasterKey::from_bytes`] has no anchor;
//! the anchor's rename is not fsynced (its contents are), so after a power loss it may lag and
//! the previous sealed file would then pass. `DIR/.lock` holds an exclusive `flock` while a process has DIR open.
//!
//! # Signature counter scheme
//! The sealed state holds a *ceiling*: every value handed out so far is below it. The counter
//! is served from memory; only when it reaches the ceiling is a new ceiling (`+ block`,
//! default [`DEFAULT_COUNTER_BLOCK`]) durably written, *before* the first value of the new
//! block is returned. After any crash the device resumes at the persisted ceiling, which lies
//! above every value that was ever returned; at most one block of values is skipped per
//! restart (2^32 / 1024 ≈ 4 million restarts). So at most 1 in `block` draws pays for an
//! fsync, fewer when state updates happen: an update that writes anyway tops the reservation
//! up once half of it is used. The ceiling is covered by the same AEAD, generation and
//! anchor as the rest of the state.
//! The counter is global and survives reset, so no value repeats across resets either.

mod anchor;
mod atomic;
pub mod enrollments;
pub mod error;
pub mod master_key;
mod sealed;
pub mod state;

use std::fs::File;
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use error::{IntegrityError, StoreError};
pub use master_key::{KeySource, MasterKey};
pub use state::State;

use atomic::Durability;
use sealed::Kind;

/// Name of the sealed state inside the state folder.
pub const STATE_FILE: &str = "state.sealed";
const LOCK_FILE: &str = ".lock";
/// Where [`Store::open_for_reset`] keeps a state that failed verification.
pub const TAMPERED_FILE: &str = "state.tampered";
/// Retries (10 ms apart) before a locked folder counts as in use.
const LOCK_ATTEMPTS: u32 = 50;
/// Signature-counter values reserved per durable write.
pub const DEFAULT_COUNTER_BLOCK: u32 = 1024;
/// The first signature counter a fresh device hands out (0 would read as "no counter").
const FIRST_COUNTER: u32 = 1;

/// What is sealed: the state plus the counter ceiling (kept out of [`State`] so that only the
/// store can move it).
#[derive(Serialize)]
struct SealedRef<'a> {
    counter_ceiling: u32,
    state: &'a State,
}

#[derive(Deserialize)]
struct SealedOwned {
    counter_ceiling: u32,
    state: State,
}

/// The open device state. One per state folder (enforced with a file lock).
pub struct Store {
    dir: PathBuf,
    key: MasterKey,
    state: State,
    generation: u64,
    /// Persisted: every counter value handed out is below it.
    counter_ceiling: u32,
    /// The next value to hand out; never above `counter_ceiling`.
    counter_next: u32,
    counter_block: NonZeroU32,
    /// SHA-256 of the plaintext last written, so an update that changes nothing skips the
    /// fsyncs (e.g. restoring retries that are already full).
    persisted_digest: Option<[u8; 32]>,
    /// The enrolled people, kept out of `state` (see [`enrollments`]).
    enrollments: enrollments::Enrollments,
    _lock: File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .field("counter_next", &self.counter_next)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Load the master key per `source` (see [`KeySource`]), then [`Store::open`].
    ///
    /// For `palmkey serve` (owner of cli/serve.rs): `--state DIR` alone maps to
    /// `KeySource::Auto`; an optional `--key-file PATH` maps to `KeySource::File(PATH)`.
    pub fn open_with(dir: &Path, source: &KeySource) -> Result<Store, StoreError> {
        let key = MasterKey::load(source, dir)?;
        tracing::info!(origin = key.origin(), "master key loaded");
        Store::open(dir, key)
    }

    /// Open the state in `dir`, creating a factory-fresh device when it holds no sealed state.
    pub fn open(dir: &Path, key: MasterKey) -> Result<Store, StoreError> {
        let lock = prepare_dir(dir)?;
        let anchored = match key.anchor() {
            Some(home) => home.read(&key)?,
            None => None,
        };
        let path = dir.join(STATE_FILE);
        let existing = atomic::read_optional(&path).map_err(|e| StoreError::io(&path, e))?;
        let Some(bytes) = existing else {
            if anchored.is_some_and(|a| a.generation > 0) {
                tracing::warn!(
                    "no sealed state in the folder although state was written before: \
                     starting as a factory-fresh device"
                );
            }
            return Store::create_fresh(dir, key, lock, anchored);
        };
        let (generation, plaintext) = sealed::open(&key, Kind::State, &bytes)?;
        anchor::check(anchored, generation)?;
        let sealed: SealedOwned =
            ciborium::from_reader(plaintext.as_slice()).map_err(|_| IntegrityError::Malformed)?;
        if sealed.state.version != state::STATE_VERSION {
            return Err(IntegrityError::WrongStateVersion(sealed.state.version).into());
        }
        let enrollments = enrollments::load(dir, &key, &sealed.state.enrollments)?;
        let store = Store {
            dir: dir.to_path_buf(),
            key,
            state: sealed.state,
            generation,
            counter_ceiling: sealed.counter_ceiling,
            counter_next: sealed.counter_ceiling,
            counter_block: NonZeroU32::new(DEFAULT_COUNTER_BLOCK).expect("non-zero"),
            persisted_digest: Some(Sha256::digest(plaintext.as_slice()).into()),
            enrollments,
            _lock: lock,
        };
        if anchored.is_some_and(|a| a.generation < generation) {
            store.raise_anchor();
        }
        Ok(store)
    }

    /// authenticatorReset on a device whose state failed to open with
    /// [`StoreError::Integrity`]: the only way out of the tampered mode, and only on the
    /// user's explicit request. The unverifiable file is kept aside as `state.tampered` (for
    /// inspection, never read back) and a factory-fresh state is written. Signature counters
    /// resume from the rollback anchor when it is intact; otherwise they may restart, which is
    /// harmless because the reset also retires every old credential.
    pub fn open_for_reset(dir: &Path, key: MasterKey) -> Result<Store, StoreError> {
        let lock = prepare_dir(dir)?;
        let anchored = match key.anchor().map(|home| home.read(&key)) {
            Some(Ok(anchored)) => anchored,
            Some(Err(err)) => {
                tracing::warn!(%err, "rollback anchor unusable: counters restart after reset");
                None
            }
            None => None,
        };
        let path = dir.join(STATE_FILE);
        if path.exists() {
            let aside = dir.join(TAMPERED_FILE);
            std::fs::rename(&path, &aside)
                .and_then(|()| atomic::sync_dir(dir))
                .map_err(|e| StoreError::io(&aside, e))?;
            tracing::warn!(path = %aside.display(), "unverifiable state moved aside by reset");
        }
        Store::create_fresh(dir, key, lock, anchored)
    }

    /// [`Store::open_for_reset`] with the key loaded per `source`: the `reopen` a disabled
    /// (tampered) authenticator needs. Unlike [`Store::open_with`] it also recovers when the
    /// rollback anchor itself fails verification.
    pub fn open_for_reset_with(dir: &Path, source: &KeySource) -> Result<Store, StoreError> {
        Store::open_for_reset(dir, MasterKey::load(source, dir)?)
    }

    /// Write a factory-fresh state, continuing generation and counter from the anchor.
    fn create_fresh(
        dir: &Path,
        key: MasterKey,
        lock: File,
        anchored: Option<anchor::Anchored>,
    ) -> Result<Store, StoreError> {
        let ceiling = anchored.map_or(FIRST_COUNTER, |a| a.counter_ceiling.max(FIRST_COUNTER));
        let mut store = Store {
            dir: dir.to_path_buf(),
            state: State::fresh(&mut rand::rngs::OsRng),
            generation: anchored.map_or(0, |a| a.generation),
            counter_ceiling: ceiling,
            counter_next: ceiling,
            counter_block: NonZeroU32::new(DEFAULT_COUNTER_BLOCK).expect("non-zero"),
            persisted_digest: None,
            enrollments: enrollments::Enrollments::empty(),
            key,
            _lock: lock,
        };
        store.persist(None, ceiling)?;
        store.forget_enrollments()?;
        tracing::info!(dir = %dir.display(), "factory-fresh state created");
        Ok(store)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Apply `f` to a copy of the state, persist it, then make it current. On error nothing
    /// changes in memory (the caller may retry or report). An update that leaves the state
    /// as it is writes nothing.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut State) -> R) -> Result<R, StoreError> {
        let mut next = self.state.clone();
        let result = f(&mut next);
        if self.digest_of(&next, self.counter_ceiling)? == self.persisted_digest {
            return Ok(result);
        }
        // This write happens anyway: top up the counter reservation with it, so that fewer
        // getAssertions have to pay for a reservation write of their own.
        let ceiling = if self.counter_ceiling - self.counter_next < self.counter_block.get() / 2 {
            self.counter_next
                .saturating_add(self.counter_block.get())
                .max(self.counter_ceiling)
        } else {
            self.counter_ceiling
        };
        self.persist(Some(&next), ceiling)?;
        self.state = next;
        Ok(result)
    }

    /// Factory reset: a fresh state with new device keys (old non-discoverable credential IDs
    /// die with the old wrap key). The signature counter continues, so values never repeat.
    pub fn reset(&mut self) -> Result<(), StoreError> {
        let fresh = State::fresh(&mut rand::rngs::OsRng);
        self.persist(Some(&fresh), self.counter_ceiling)?;
        self.state = fresh;
        self.forget_enrollments()?;
        tracing::info!(dir = %self.dir.display(), "state reset to factory defaults");
        Ok(())
    }

    /// A signature counter value that is never handed out again, even after a crash (see the
    /// module docs for the block-reservation scheme).
    pub fn next_signature_counter(&mut self) -> Result<u32, StoreError> {
        if self.counter_next == u32::MAX {
            return Err(StoreError::CounterExhausted);
        }
        if self.counter_next >= self.counter_ceiling {
            let ceiling = self
                .counter_next
                .saturating_add(self.counter_block.get())
                .max(self.counter_next + 1);
            self.persist(None, ceiling)?;
        }
        let value = self.counter_next;
        self.counter_next += 1;
        Ok(value)
    }

    /// How many counter values one durable write reserves (smaller: fewer values skipped
    /// after a crash; larger: fewer fsyncs).
    pub fn set_counter_block(&mut self, block: NonZeroU32) {
        self.counter_block = block;
    }

    /// The generation of the sealed state on disk (+1 per write).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seal and durably write `state` (or the current one) with `ceiling`, then raise the
    /// generation, ceiling and anchor. On error the store's fields are unchanged.
    fn persist(&mut self, state: Option<&State>, ceiling: u32) -> Result<(), StoreError> {
        let generation = self.generation + 1;
        let (plaintext, digest) = plaintext_of(state.unwrap_or(&self.state), ceiling)?;
        if self.persisted_digest == Some(digest) {
            return Ok(());
        }
        let bytes = sealed::seal(
            &self.key,
            Kind::State,
            generation,
            &plaintext,
            &mut rand::rngs::OsRng,
        );
        atomic::replace(&self.dir, STATE_FILE, &bytes, Durability::Durable)
            .map_err(|e| StoreError::io(self.dir.join(STATE_FILE), e))?;
        self.generation = generation;
        self.counter_ceiling = ceiling;
        self.persisted_digest = Some(digest);
        self.raise_anchor();
        Ok(())
    }

    /// The digest `persist` would record for `state` with `ceiling`.
    fn digest_of(&self, state: &State, ceiling: u32) -> Result<Option<[u8; 32]>, StoreError> {
        let (_, digest) = plaintext_of(state, ceiling)?;
        Ok(Some(digest))
    }

    /// Best effort: a lagging anchor weakens rollback detection but never loses data, so a
    /// failure here is logged rather than failing a write that already reached the disk.
    fn raise_anchor(&self) {
        if let Some(home) = self.key.anchor() {
            let anchored = anchor::Anchored {
                generation: self.generation,
                counter_ceiling: self.counter_ceiling,
            };
            if let Err(err) = home.write(&self.key, anchored) {
                tracing::warn!(%err, "could not raise the rollback anchor");
            }
        }
    }
}

/// The sealed plaintext (CBOR of state + ceiling) and its SHA-256.
fn plaintext_of(state: &State, ceiling: u32) -> Result<(Zeroizing<Vec<u8>>, [u8; 32]), StoreError> {
    let sealed = SealedRef {
        counter_ceiling: ceiling,
        state,
    };
    let mut plaintext = Zeroizing::new(Vec::with_capacity(4096));
    ciborium::into_writer(&sealed, &mut *plaintext)
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    let digest = Sha256::digest(plaintext.as_slice()).into();
    Ok((plaintext, digest))
}

/// Create the folder (0700) and lock it.
fn prepare_dir(dir: &Path) -> Result<File, StoreError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::io(dir, e))?;
    lock_dir(dir)
}

/// Take an exclusive lock on the folder so two processes never interleave writes or hand out
/// the same counter values. The kernel drops it when the process dies.
fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    // A lock released by a close may linger for a moment in a child forked at that instant
    // (between fork and exec it shares the open file description), so retry briefly before
    // calling the folder busy.
    for attempt in 0.. {
        // SAFETY: flock on a file descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock {
            return Err(StoreError::io(&path, err));
        }
        if attempt == LOCK_ATTEMPTS {
            return Err(StoreError::InUse(dir.to_path_buf()));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(file)
}

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;
