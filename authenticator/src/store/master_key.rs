//! The 256-bit master key that seals all state, and where it lives.
//!
//! Policy ([`KeySource`]), chosen explicitly by the caller:
//! - `Keyring`: the OS keyring (Linux keyutils through `keyring-core`). keyutils keys live in
//!   kernel memory: they do **not** survive a reboot, after which the sealed state cannot be
//!   opened ([`StoreError::KeyUnavailable`], never a tamper). Use a key file for a device that
//!   must outlive reboots.
//! - `File(path)`: an explicit key file (64 hex digits), created atomically with mode 0600.
//! - `Auto` (what `palmkey serve --state DIR` uses without `--key-file`): an existing default
//!   key file for DIR wins; else the keyring when usable; else a default key file, created and
//!   loudly logged with `tracing::warn!`. The default key file lives outside DIR (under
//!   `$PALMKEY_KEY_DIR`, `$XDG_DATA_HOME/palmkey/keys` or `~/.local/share/palmkey/keys`), so a
//!   copy of the state folder alone does not carry its key.
//!
//! A new key is only ever generated for a state folder without a sealed state; when the state
//! exists but its key is gone, loading fails with `KeyUnavailable` instead of silently starting
//! over.
//!
//! Next to the key lives the rollback anchor (see `anchor.rs`): the newest state
//! generation, kept where the key is because that is the storage the attacker of the state
//! folder is assumed not to control.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::Key;
use keyring_core::{CredentialStore, Entry};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::anchor::AnchorHome;
use super::error::StoreError;
use super::STATE_FILE;

const KEYRING_SERVICE: &str = "palmkey";

/// Where the master key comes from (see the module docs for the policy).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeySource {
    /// Keyring when usable, else a default key file outside the state folder (warned).
    #[default]
    Auto,
    /// The OS keyring only; a clear error when it cannot be used.
    Keyring,
    /// This key file only (created with mode 0600 for a fresh state folder).
    File(PathBuf),
}

/// The 256-bit state-sealing key, wiped from memory on drop.
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    anchor: Option<AnchorHome>,
    origin: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A key held only in memory (tests, or a caller managing its own key storage). It has no
    /// rollback anchor: a rolled-back state folder is then not detected.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey {
            key: Zeroizing::new(bytes),
            anchor: None,
            origin: "in-memory".into(),
        }
    }

    /// A fresh random in-memory key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        MasterKey::from_bytes(*bytes)
    }

    /// Keep this key's rollback anchor in `path` (a file only the key's owner can write).
    pub fn with_anchor_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.anchor = Some(AnchorHome::File(path.into()));
        self
    }

    /// Load (or, for a state folder without sealed state, create) the key for `state_dir`.
    pub fn load(source: &KeySource, state_dir: &Path) -> Result<MasterKey, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(|e| StoreError::io(state_dir, e))?;
        let dir = state_dir
            .canonicalize()
            .map_err(|e| StoreError::io(state_dir, e))?;
        let fresh = !dir.join(STATE_FILE).exists();
        let id = device_id(&dir);
        match source {
            KeySource::File(path) => load_file(path, fresh),
            KeySource::Keyring => {
                let store = keyring_store()
                    .map_err(|e| StoreError::KeyUnavailable(format!("OS keyring unusable: {e}")))?;
                load_keyring(&store, &id, fresh)
            }
            KeySource::Auto => {
                let file = default_key_file(&id)?;
                if file.exists() {
                    tracing::warn!(path = %file.display(), "master key from a key file, not the OS keyring");
                    return load_file(&file, fresh);
                }
                match keyring_store() {
                    Ok(store) => match load_keyring(&store, &id, fresh) {
                        Ok(key) => return Ok(key),
                        Err(StoreError::KeyUnavailable(why)) if fresh => {
                            tracing::warn!(%why, "OS keyring cannot hold the master key");
                        }
                        Err(err) => return Err(err),
                    },
                    Err(why) => tracing::warn!(%why, "OS keyring unusable"),
                }
                if !fresh {
                    return Err(StoreError::KeyUnavailable(format!(
                        "{} holds sealed state but its master key is neither in the OS keyring \
                         (keyutils keys vanish at reboot) nor in {}; pass the key file that \
                         holds it",
                        dir.display(),
                        file.display()
                    )));
                }
                tracing::warn!(
                    path = %file.display(),
                    "NO USABLE OS KEYRING: the master key is stored in a plain key file (0600); \
                     anyone who can read it can decrypt the device state"
                );
                load_file(&file, true)
            }
        }
    }

    pub(crate) fn aead_key(&self) -> &Key {
        Key::from_slice(self.key.as_slice())
    }

    pub(crate) fn anchor(&self) -> Option<&AnchorHome> {
        self.anchor.as_ref()
    }

    /// Where the key came from, for log lines (never the key itself).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// A stable per-folder name: the key of one device never opens another device's state.
fn device_id(canonical_dir: &Path) -> String {
    let digest = Sha256::digest(canonical_dir.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..8])
}

fn default_key_file(id: &str) -> Result<PathBuf, StoreError> {
    let base = if let Some(dir) = std::env::var_os("PALMKEY_KEY_DIR") {
        PathBuf::from(dir)
    } else if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(data).join("palmkey").join("keys")
    } else if let Some(home) = std::env::var_os("HOME") {
        PathBuf::from(home).join(".local/share/palmkey/keys")
    } else {
        return Err(StoreError::KeyUnavailable(
            "no keyring, and no HOME/XDG_DATA_HOME/PALMKEY_KEY_DIR for a key file".into(),
        ));
    };
    Ok(base.join(format!("{id}.key")))
}

fn anchor_file_for(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".anchor");
    PathBuf::from(name)
}

fn load_file(path: &Path, fresh: bool) -> Result<MasterKey, StoreError> {
    let anchor = AnchorHome::File(anchor_file_for(path));
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let mode = std::fs::metadata(path)
                .map_err(|e| StoreError::io(path, e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777),
                    "master key file is readable by others; chmod 600 it");
            }
            let key = parse_key_file(&bytes).ok_or_else(|| {
                StoreError::KeyUnavailable(format!(
                    "{} is not a palmkey key file (64 hex digits)",
                    path.display()
                ))
            })?;
            Ok(MasterKey {
                key,
                anchor: Some(anchor),
                origin: format!("key file {}", path.display()),
            })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && fresh => {
            let key = MasterKey::generate(&mut rand::rngs::OsRng);
            // An anchor left by a previous key would read as tamper under the new one.
            anchor.forget()?;
            create_key_file(path, &key.key)?;
            tracing::info!(path = %path.display(), "created a new master key file");
            Ok(MasterKey {
                anchor: Some(anchor),
                origin: format!("key file {}", path.display()),
                ..key
            })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(StoreError::KeyUnavailable(
            format!("key file {} not found", path.display()),
        )),
        Err(err) => Err(StoreError::io(path, err)),
    }
}

fn parse_key_file(bytes: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, key.as_mut()).ok()?;
    Some(key)
}

/// Create the key file with O_EXCL and mode 0600 from the first byte on, then make it durable.
fn create_key_file(path: &Path, key: &[u8; 32]) -> Result<(), StoreError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| StoreError::io(parent, e))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(key)));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| super::atomic::sync_dir(parent))
        .map_err(|e| StoreError::io(path, e))
}

fn keyring_store() -> Result<Arc<CredentialStore>, keyring_core::Error> {
    let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new()?;
    // Probe: building an entry and reading a name nobody uses tells usable from unusable.
    let probe = Entry::new_in_store(&store, KEYRING_SERVICE, "probe")?;
    match probe.get_secret() {
        Ok(_) | Err(keyring_core::Error::NoEntry) => Ok(store),
        Err(err) => Err(err),
    }
}

fn load_keyring(
    store: &Arc<CredentialStore>,
    id: &str,
    fresh: bool,
) -> Result<MasterKey, StoreError> {
    let unavailable =
        |e: keyring_core::Error| StoreError::KeyUnavailable(format!("OS keyring: {e}"));
    let entry = Entry::new_in_store(store, KEYRING_SERVICE, &format!("master-{id}"))
        .map_err(unavailable)?;
    let anchor_entry = Entry::new_in_store(store, KEYRING_SERVICE, &format!("anchor-{id}"))
        .map_err(unavailable)?;
    let origin = format!("OS keyring ({KEYRING_SERVICE}/master-{id})");
    match entry.get_secret() {
        Ok(secret) => {
            let secret = Zeroizing::new(secret);
            let key: [u8; 32] = secret.as_slice().try_into().map_err(|_| {
                StoreError::KeyUnavailable(format!("{origin} does not hold a 32-byte key"))
            })?;
            Ok(MasterKey {
                key: Zeroizing::new(key),
                anchor: Some(AnchorHome::Keyring(anchor_entry)),
                origin,
            })
        }
        Err(keyring_core::Error::NoEntry) if fresh => {
            let key = MasterKey::generate(&mut rand::rngs::OsRng);
            let anchor = AnchorHome::Keyring(anchor_entry);
            anchor.forget()?;
            entry.set_secret(key.key.as_slice()).map_err(unavailable)?;
            tracing::warn!(
                %origin,
                "created a new master key in the kernel keyring: it is lost at reboot, and the \
                 state with it; use a key file (--key-file) for a device that must outlive reboots"
            );
            Ok(MasterKey {
                anchor: Some(anchor),
                origin,
                ..key
            })
        }
        Err(keyring_core::Error::NoEntry) => Err(StoreError::KeyUnavailable(format!(
            "{origin} is empty but the state folder holds sealed state (keyutils keys vanish \
             at reboot)"
        ))),
        Err(err) => Err(unavailable(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reloaded_identically() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let file = tmp.path().join("keys/dev.key");
        let a = MasterKey::load(&KeySource::File(file.clone()), &state).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load(&KeySource::File(file.clone()), &state).unwrap();
        assert_eq!(a.key.as_slice(), b.key.as_slice());
        assert!(matches!(b.anchor(), Some(AnchorHome::File(p)) if p.ends_with("dev.key.anchor")));
    }

    #[test]
    fn missing_key_for_existing_state_is_key_unavailable_not_a_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join(STATE_FILE), b"sealed").unwrap();
        let file = tmp.path().join("gone.key");
        let err = MasterKey::load(&KeySource::File(file.clone()), &state).unwrap_err();
        assert!(matches!(err, StoreError::KeyUnavailable(_)), "{err}");
        assert!(!file.exists());
    }

    #[test]
    fn malformed_key_file_is_key_unavailable() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("bad.key");
        std::fs::write(&file, "not hex").unwrap();
        let err = MasterKey::load(&KeySource::File(file), tmp.path()).unwrap_err();
        assert!(matches!(err, StoreError::KeyUnavailable(_)), "{err}");
    }

    /// Remove whatever `Auto` stored for `dir` (keyring entries or default key file).
    fn forget_auto_key(dir: &Path) {
        let id = device_id(&dir.canonicalize().unwrap());
        if let Ok(store) = keyring_store() {
            for user in [format!("master-{id}"), format!("anchor-{id}")] {
                let entry = Entry::new_in_store(&store, KEYRING_SERVICE, &user).unwrap();
                let _ = entry.delete_credential();
            }
        }
        let file = default_key_file(&id).unwrap();
        let _ = std::fs::remove_file(anchor_file_for(&file));
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn auto_reuses_its_key_and_reports_a_lost_key_as_unavailable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let a = MasterKey::load(&KeySource::Auto, &dir).unwrap();
        assert!(a.anchor().is_some(), "{}", a.origin());
        std::fs::write(dir.join(STATE_FILE), b"sealed").unwrap();
        let b = MasterKey::load(&KeySource::Auto, &dir).unwrap();
        assert_eq!(a.key.as_slice(), b.key.as_slice());
        assert_eq!(a.origin(), b.origin());
        // As after a reboot that cleared the keyring: a clear error, never a new key.
        forget_auto_key(&dir);
        let err = MasterKey::load(&KeySource::Auto, &dir).unwrap_err();
        assert!(matches!(err, StoreError::KeyUnavailable(_)), "{err}");
    }

    #[test]
    fn keyring_round_trip_when_the_keyring_is_usable() {
        let Ok(store) = keyring_store() else {
            eprintln!("skipped: no usable OS keyring here");
            return;
        };
        let id = format!("test-{}", uuid::Uuid::new_v4());
        let a = load_keyring(&store, &id, true).unwrap();
        let b = load_keyring(&store, &id, false).unwrap();
        assert_eq!(a.key.as_slice(), b.key.as_slice());
        Entry::new_in_store(&store, KEYRING_SERVICE, &format!("master-{id}"))
            .unwrap()
            .delete_credential()
            .unwrap();
        let err = load_keyring(&store, &id, false).unwrap_err();
        assert!(matches!(err, StoreError::KeyUnavailable(_)), "{err}");
    }
}
