//! Where the terminal PIN is remembered between screens: the OS keyring (Linux kernel keyring
//! through keyutils) when it works, else a file readable only by this OS user. Which one is in
//! use is shown on screen ([`PinVault::describe`]) — a file is weaker and says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use zeroize::Zeroizing;

use super::error::{AppError, AppResult};
use super::fsutil::write_private;

const SERVICE: &str = "palmkey-desktop";

/// The backend holding remembered PINs.
pub enum PinVault {
    /// An OS keyring (keyring-core credential store).
    Keyring {
        store: Arc<CredentialStore>,
        label: String,
    },
    /// A JSON file with 0600 permissions: used only when no keyring is usable.
    File { path: PathBuf },
}

impl std::fmt::Debug for PinVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PinVault {
    /// The Linux kernel keyring when usable, else a file in `dir` (logged loudly).
    pub fn open(dir: &Path) -> PinVault {
        match keyutils_store() {
            Ok(store) => PinVault::Keyring {
                store,
                label: "OS keyring (Linux kernel keyring, keyutils session keyring)".into(),
            },
            Err(why) => {
                let path = dir.join("pin-vault.json");
                tracing::warn!(%why, path = %path.display(), "no usable OS keyring: remembering PINs in a 0600 file");
                PinVault::File { path }
            }
        }
    }

    /// A given keyring-core store (tests use keyring-core's mock store).
    pub fn with_store(store: Arc<CredentialStore>, label: &str) -> PinVault {
        PinVault::Keyring {
            store,
            label: label.into(),
        }
    }

    /// Which storage is in use, for the screen.
    pub fn describe(&self) -> String {
        match self {
            PinVault::Keyring { label, .. } => label.clone(),
            PinVault::File { path } => format!(
                "file {} (no OS keyring available: readable by this OS user only)",
                path.display()
            ),
        }
    }

    pub fn is_keyring(&self) -> bool {
        matches!(self, PinVault::Keyring { .. })
    }

    pub fn load(&self, device: &str) -> AppResult<Option<Zeroizing<String>>> {
        match self {
            PinVault::Keyring { store, .. } => match entry(store, device)?.get_password() {
                Ok(pin) => Ok(Some(Zeroizing::new(pin))),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(e) => Err(vault_error(e)),
            },
            PinVault::File { path } => Ok(read_file(path)?.0.remove(device).map(Zeroizing::new)),
        }
    }

    pub fn save(&self, device: &str, pin: &str) -> AppResult<()> {
        match self {
            PinVault::Keyring { store, .. } => {
                entry(store, device)?.set_password(pin).map_err(vault_error)
            }
            PinVault::File { path } => {
                let mut all = read_file(path)?;
                all.0.insert(device.to_owned(), pin.to_owned());
                write_file(path, &all)
            }
        }
    }

    pub fn forget(&self, device: &str) -> AppResult<()> {
        match self {
            PinVault::Keyring { store, .. } => match entry(store, device)?.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(vault_error(e)),
            },
            PinVault::File { path } => {
                let mut all = read_file(path)?;
                if all.0.remove(device).is_some() {
                    write_file(path, &all)?;
                }
                Ok(())
            }
        }
    }
}

fn keyutils_store() -> Result<Arc<CredentialStore>, keyring_core::Error> {
    let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new()?;
    // A read of a name nobody uses tells a usable keyring from an unusable one.
    match Entry::new_in_store(&store, SERVICE, "probe")?.get_password() {
        Ok(_) | Err(keyring_core::Error::NoEntry) => Ok(store),
        Err(e) => Err(e),
    }
}

fn entry(store: &Arc<CredentialStore>, device: &str) -> AppResult<Entry> {
    Entry::new_in_store(store, SERVICE, &format!("pin-{device}")).map_err(vault_error)
}

fn vault_error(e: keyring_core::Error) -> AppError {
    AppError::Vault(e.to_string())
}

/// The file's contents: device key → PIN; the PINs are wiped when it is dropped.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct PinMap(std::collections::BTreeMap<String, String>);

impl Drop for PinMap {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.values_mut().for_each(Zeroize::zeroize);
    }
}

fn read_file(path: &Path) -> AppResult<PinMap> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            serde_json::from_slice(&bytes)
                .map_err(|e| AppError::Vault(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PinMap::default()),
        Err(e) => Err(AppError::io(format!("reading {}", path.display()), e)),
    }
}

fn write_file(path: &Path, all: &PinMap) -> AppResult<()> {
    let json = Zeroizing::new(serde_json::to_vec(all).expect("a string map serializes"));
    write_private(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(vault: &PinVault) {
        assert!(vault.load("dev1").unwrap().is_none());
        vault.save("dev1", "135790").unwrap();
        vault.save("dev2", "246810").unwrap();
        assert_eq!(
            vault.load("dev1").unwrap().as_deref().map(|s| s.as_str()),
            Some("135790")
        );
        vault.forget("dev1").unwrap();
        vault.forget("dev1").unwrap();
        assert!(vault.load("dev1").unwrap().is_none());
        assert_eq!(
            vault.load("dev2").unwrap().as_deref().map(|s| s.as_str()),
            Some("246810")
        );
    }

    #[test]
    fn keyring_store_round_trips() {
        let vault = PinVault::with_store(keyring_core::mock::Store::new().unwrap(), "mock");
        assert!(vault.is_keyring());
        round_trip(&vault);
    }

    #[test]
    fn file_fallback_round_trips_with_private_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let vault = PinVault::File {
            path: dir.path().join("pin-vault.json"),
        };
        assert!(vault.describe().contains("no OS keyring"));
        round_trip(&vault);
        let mode = std::fs::metadata(dir.path().join("pin-vault.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
