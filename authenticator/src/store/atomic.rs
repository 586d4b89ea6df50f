//! Crash-safe file replacement: write a new file, fsync it, rename it over the old one, fsync
//! the directory. After a crash at any point the name refers to either the complete old or the
//! complete new contents, never a mix.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How hard a write must be pushed to the disk before it counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// fsync file and directory: the write survives power loss once this returns.
    Durable,
    /// fsync the file but not the directory: after power loss the name holds the complete old
    /// or the complete new contents (never an empty or torn file), but the rename itself may
    /// be lost. For the rollback anchor, whose lag merely narrows a check while a torn anchor
    /// must be impossible so that a short one can be called tamper.
    WholeFile,
}

/// Atomically replace `dir/name` with `bytes` (mode 0600).
pub(crate) fn replace(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    durability: Durability,
) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    // Both levels: the contents are on disk before the name can point at them.
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &target)?;
    if durability == Durability::Durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsync a directory so a rename or create inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Read `dir/name`, `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replace_writes_whole_file_with_private_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        replace(dir.path(), "f", b"first", Durability::Durable).unwrap();
        replace(dir.path(), "f", b"second!", Durability::Durable).unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"second!");
        let mode = std::fs::metadata(dir.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }

    #[test]
    fn a_stale_temp_file_from_a_crash_does_not_affect_the_target() {
        let dir = tempfile::tempdir().unwrap();
        replace(dir.path(), "f", b"good", Durability::Durable).unwrap();
        // A crash between write and rename leaves a partial temp file behind.
        std::fs::write(dir.path().join(".f.tmp"), b"partial garb").unwrap();
        assert_eq!(
            read_optional(&dir.path().join("f")).unwrap().unwrap(),
            b"good"
        );
        replace(dir.path(), "f", b"next", Durability::WholeFile).unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"next");
        assert_eq!(read_optional(&dir.path().join("missing")).unwrap(), None);
    }
}
