//! Small file helpers: atomic private writes (write-new + fsync + rename, mode 0600).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::{AppError, AppResult};

/// Replace `path` with `bytes` atomically; the file is readable by this OS user only.
pub fn write_private(path: &Path, bytes: &[u8]) -> AppResult<()> {
    let err = |e| AppError::io(format!("writing {}", path.display()), e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
