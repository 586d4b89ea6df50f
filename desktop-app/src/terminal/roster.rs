//! The app's own record of enrollments made at this terminal. The authenticator stores only a
//! template ID and a friendly name (the member ID) — no time — so the enrollment time shown
//! is kept here, in a local JSON file, and the screen says so. No biometric data is involved.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{AppError, AppResult};
use super::fsutil::write_private;

/// What this terminal remembers about one enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentRecord {
    pub member_id: String,
    /// RFC 3339, UTC.
    pub enrolled_at: String,
}

/// Records keyed by device then template ID (hex).
#[derive(Debug, Default)]
pub struct Roster {
    path: PathBuf,
    records: BTreeMap<String, BTreeMap<String, EnrollmentRecord>>,
}

impl Roster {
    pub fn open(path: PathBuf) -> AppResult<Roster> {
        let records = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AppError::Invalid(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(AppError::io(format!("reading {}", path.display()), e)),
        };
        Ok(Roster { path, records })
    }

    pub fn get(&self, device: &str, template_id: &[u8]) -> Option<&EnrollmentRecord> {
        self.records.get(device)?.get(&hex::encode(template_id))
    }

    pub fn record(
        &mut self,
        device: &str,
        template_id: &[u8],
        rec: EnrollmentRecord,
    ) -> AppResult<()> {
        self.records
            .entry(device.to_owned())
            .or_default()
            .insert(hex::encode(template_id), rec);
        self.save()
    }

    pub fn rename(&mut self, device: &str, template_id: &[u8], member_id: &str) -> AppResult<()> {
        let key = hex::encode(template_id);
        match self.records.get_mut(device).and_then(|d| d.get_mut(&key)) {
            Some(rec) => {
                rec.member_id = member_id.to_owned();
                self.save()
            }
            None => Ok(()),
        }
    }

    pub fn remove(&mut self, device: &str, template_id: &[u8]) -> AppResult<()> {
        let removed = self
            .records
            .get_mut(device)
            .and_then(|d| d.remove(&hex::encode(template_id)));
        match removed {
            Some(_) => self.save(),
            None => Ok(()),
        }
    }

    /// Forget every record of a device (after a factory reset).
    pub fn clear_device(&mut self, device: &str) -> AppResult<()> {
        if self.records.remove(device).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> AppResult<()> {
        let json = serde_json::to_vec_pretty(&self.records).expect("records serialize");
        write_private(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reopen_and_follow_renames_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enrollments.json");
        let mut roster = Roster::open(path.clone()).unwrap();
        let rec = EnrollmentRecord {
            member_id: "M-1".into(),
            enrolled_at: "2026-01-01T00:00:00Z".into(),
        };
        roster.record("dev", &[1, 2], rec.clone()).unwrap();
        roster.record("dev", &[3], rec.clone()).unwrap();
        roster.rename("dev", &[1, 2], "M-2").unwrap();
        roster.remove("dev", &[3]).unwrap();
        let roster = Roster::open(path).unwrap();
        assert_eq!(roster.get("dev", &[1, 2]).unwrap().member_id, "M-2");
        assert!(roster.get("dev", &[3]).is_none());
        assert!(roster.get("other", &[1, 2]).is_none());
    }
}
