//! Audit log of administrator actions: CloudEvents 1.0 JSON, one per line, appended to a local
//! file. Events name the action and its subject (member ID, template ID, RP ID) — never a PIN,
//! a token or anything biometric.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use palmkey::events::CloudEvent;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::{AppError, AppResult};

/// The CloudEvents `type` prefix of this app's events.
pub const TYPE_PREFIX: &str = "dev.palmkey.desktop.";

/// An administrator action worth recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    DeviceConnected {
        device: String,
    },
    PinSet,
    PinChanged,
    Unlocked,
    Locked {
        reason: &'static str,
    },
    EnrollmentCompleted {
        member_id: String,
        template_id: Vec<u8>,
    },
    EnrollmentCancelled {
        member_id: String,
    },
    EnrollmentRenamed {
        template_id: Vec<u8>,
        from: Option<String>,
        to: String,
    },
    EnrollmentRemoved {
        template_id: Vec<u8>,
        member_id: Option<String>,
    },
    CredentialDeleted {
        rp_id: String,
        credential_id: Vec<u8>,
    },
    DeviceReset,
    SimulatedHand {
        description: String,
    },
}

impl AdminAction {
    /// The CloudEvents `type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            AdminAction::DeviceConnected { .. } => "dev.palmkey.desktop.device.connected",
            AdminAction::PinSet => "dev.palmkey.desktop.pin.set",
            AdminAction::PinChanged => "dev.palmkey.desktop.pin.changed",
            AdminAction::Unlocked => "dev.palmkey.desktop.session.unlocked",
            AdminAction::Locked { .. } => "dev.palmkey.desktop.session.locked",
            AdminAction::EnrollmentCompleted { .. } => "dev.palmkey.desktop.enrollment.completed",
            AdminAction::EnrollmentCancelled { .. } => "dev.palmkey.desktop.enrollment.cancelled",
            AdminAction::EnrollmentRenamed { .. } => "dev.palmkey.desktop.enrollment.renamed",
            AdminAction::EnrollmentRemoved { .. } => "dev.palmkey.desktop.enrollment.removed",
            AdminAction::CredentialDeleted { .. } => "dev.palmkey.desktop.credential.deleted",
            AdminAction::DeviceReset => "dev.palmkey.desktop.device.reset",
            AdminAction::SimulatedHand { .. } => "dev.palmkey.desktop.simulator.hand",
        }
    }

    fn data(&self) -> Value {
        match self {
            AdminAction::DeviceConnected { device } => json!({ "device": device }),
            AdminAction::PinSet | AdminAction::PinChanged | AdminAction::Unlocked => json!({}),
            AdminAction::DeviceReset => json!({}),
            AdminAction::Locked { reason } => json!({ "reason": reason }),
            AdminAction::EnrollmentCompleted {
                member_id,
                template_id,
            } => {
                json!({ "memberId": member_id, "templateId": hex::encode(template_id) })
            }
            AdminAction::EnrollmentCancelled { member_id } => json!({ "memberId": member_id }),
            AdminAction::EnrollmentRenamed {
                template_id,
                from,
                to,
            } => json!({
                "templateId": hex::encode(template_id), "from": from, "to": to
            }),
            AdminAction::EnrollmentRemoved {
                template_id,
                member_id,
            } => json!({
                "templateId": hex::encode(template_id), "memberId": member_id
            }),
            AdminAction::CredentialDeleted {
                rp_id,
                credential_id,
            } => json!({
                "rpId": rp_id, "credentialId": hex::encode(credential_id)
            }),
            AdminAction::SimulatedHand { description } => json!({ "hand": description }),
        }
    }
}

/// The append-only audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    source: String,
    lock: Mutex<()>,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> AuditLog {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let host = if host.is_empty() {
            "localhost".into()
        } else {
            host
        };
        AuditLog {
            path,
            source: format!("/palmkey-desktop/{host}"),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Append one event; the written event is returned.
    pub fn record(&self, action: &AdminAction) -> AppResult<CloudEvent> {
        let event = CloudEvent {
            specversion: "1.0",
            id: uuid::Uuid::new_v4().to_string(),
            source: self.source.clone(),
            event_type: action.event_type(),
            time: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .expect("UTC time formats as RFC 3339"),
            datacontenttype: "application/json",
            data: action.data(),
        };
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let err = |e| AppError::io(format!("audit log {}", self.path.display()), e);
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        writeln!(file, "{}", event.to_json_line()).map_err(err)?;
        file.sync_data().map_err(err)?;
        Ok(event)
    }

    /// The last `limit` events, newest first (lines that are not JSON are skipped).
    pub fn recent(&self, limit: usize) -> AppResult<Vec<Value>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AppError::io(format!("reading {}", self.path.display()), e)),
        };
        Ok(text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str(l).ok())
            .take(limit)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cloudevents_lines_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("audit.jsonl"));
        log.record(&AdminAction::PinSet).unwrap();
        log.record(&AdminAction::EnrollmentCompleted {
            member_id: "M-7".into(),
            template_id: vec![0xab],
        })
        .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        let recent = log.recent(10).unwrap();
        assert_eq!(
            recent[0]["type"],
            "dev.palmkey.desktop.enrollment.completed"
        );
        assert_eq!(recent[0]["data"]["memberId"], "M-7");
        assert_eq!(recent[0]["data"]["templateId"], "ab");
        assert_eq!(recent[1]["type"], "dev.palmkey.desktop.pin.set");
        for e in &recent {
            assert_eq!(e["specversion"], "1.0");
            assert!(e["id"].as_str().unwrap().len() >= 32);
            assert!(e["source"]
                .as_str()
                .unwrap()
                .starts_with("/palmkey-desktop/"));
            assert!(OffsetDateTime::parse(e["time"].as_str().unwrap(), &Rfc3339).is_ok());
        }
        assert!(AdminAction::DeviceReset
            .event_type()
            .starts_with(TYPE_PREFIX));
    }
}
