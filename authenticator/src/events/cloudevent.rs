//! The device events and their CloudEvents 1.0 (structured JSON) form.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Prefix of every event `type`, reverse-DNS per the CloudEvents recommendation.
pub const EVENT_TYPE_PREFIX: &str = "dev.palmkey.";

/// How the user was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UvMethod {
    Palm,
    Pin,
    /// User presence only, no verification.
    None,
}

/// Something that happened on the device worth telling an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DeviceEvent {
    /// A person was enrolled (bio enrollment finished).
    EnrollmentCompleted {
        #[serde(serialize_with = "hex_bytes")]
        template_id: Vec<u8>,
        member_id: Option<String>,
    },
    /// An enrolled person was removed.
    EnrollmentRemoved {
        #[serde(serialize_with = "hex_bytes")]
        template_id: Vec<u8>,
        member_id: Option<String>,
    },
    /// makeCredential or getAssertion completed for a relying party.
    AuthenticationSucceeded {
        rp_id: String,
        uv: UvMethod,
        /// The identified person, when a palm verified the user.
        #[serde(serialize_with = "hex_opt")]
        template_id: Option<Vec<u8>>,
        member_id: Option<String>,
    },
    /// User verification failed (no palm match, wrong PIN).
    AuthenticationFailed {
        rp_id: Option<String>,
        uv: UvMethod,
        retries_left: Option<u8>,
    },
    /// A verification method ran out of attempts.
    UvBlocked { uv: UvMethod },
    /// The sealed state failed its integrity check; the device disabled itself.
    Tamper { reason: String },
    /// The device was reset to factory state.
    Reset,
}

impl DeviceEvent {
    /// The CloudEvents `type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            DeviceEvent::EnrollmentCompleted { .. } => "dev.palmkey.enrollment.completed",
            DeviceEvent::EnrollmentRemoved { .. } => "dev.palmkey.enrollment.removed",
            DeviceEvent::AuthenticationSucceeded { .. } => "dev.palmkey.authentication.succeeded",
            DeviceEvent::AuthenticationFailed { .. } => "dev.palmkey.authentication.failed",
            DeviceEvent::UvBlocked { .. } => "dev.palmkey.uv.blocked",
            DeviceEvent::Tamper { .. } => "dev.palmkey.tamper.detected",
            DeviceEvent::Reset => "dev.palmkey.reset",
        }
    }
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

fn hex_opt<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(bytes) => hex_bytes(bytes, s),
        None => s.serialize_none(),
    }
}

/// A CloudEvents 1.0 event in the JSON event format.
#[derive(Debug, Clone, Serialize)]
pub struct CloudEvent {
    pub specversion: &'static str,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub time: String,
    pub datacontenttype: &'static str,
    /// `{}` for events without data, so consumers can always index into it.
    pub data: serde_json::Value,
}

impl CloudEvent {
    /// Stamp `event` with a fresh id and the current time.
    pub fn new(source: &str, event: &DeviceEvent) -> Self {
        let data = match event {
            DeviceEvent::Reset => serde_json::Value::Object(Default::default()),
            other => serde_json::to_value(other).expect("event data always serializes"),
        };
        CloudEvent {
            specversion: "1.0",
            id: uuid::Uuid::new_v4().to_string(),
            source: source.to_owned(),
            event_type: event.event_type(),
            time: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .expect("UTC time formats as RFC 3339"),
            datacontenttype: "application/json",
            data,
        }
    }

    /// One line of JSON, without the newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("CloudEvent always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(event: &DeviceEvent) -> serde_json::Value {
        serde_json::from_str(&CloudEvent::new("/palmkey/test", event).to_json_line()).unwrap()
    }

    #[test]
    fn required_cloudevents_attributes_are_present_and_well_formed() {
        let v = parse(&DeviceEvent::AuthenticationSucceeded {
            rp_id: "example.com".into(),
            uv: UvMethod::Palm,
            template_id: Some(vec![0xab, 0x01]),
            member_id: Some("M-1001".into()),
        });
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], "/palmkey/test");
        assert_eq!(v["type"], "dev.palmkey.authentication.succeeded");
        assert_eq!(v["datacontenttype"], "application/json");
        uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
        assert_rfc3339_utc(v["time"].as_str().unwrap());
        assert_eq!(
            v["data"],
            serde_json::json!({"rp_id":"example.com","uv":"palm","template_id":"ab01","member_id":"M-1001"})
        );
    }

    #[test]
    fn every_kind_has_its_type_and_object_data() {
        let events = [
            DeviceEvent::EnrollmentCompleted {
                template_id: vec![1],
                member_id: Some("a".into()),
            },
            DeviceEvent::EnrollmentRemoved {
                template_id: vec![1],
                member_id: None,
            },
            DeviceEvent::AuthenticationSucceeded {
                rp_id: "x".into(),
                uv: UvMethod::Pin,
                template_id: None,
                member_id: None,
            },
            DeviceEvent::AuthenticationFailed {
                rp_id: None,
                uv: UvMethod::Palm,
                retries_left: Some(4),
            },
            DeviceEvent::UvBlocked { uv: UvMethod::Palm },
            DeviceEvent::Tamper {
                reason: "authentication failed".into(),
            },
            DeviceEvent::Reset,
        ];
        let mut types = std::collections::HashSet::new();
        for event in &events {
            let v = parse(event);
            let ty = v["type"].as_str().unwrap().to_owned();
            assert!(ty.starts_with(EVENT_TYPE_PREFIX), "{ty}");
            assert!(v["data"].is_object(), "{ty}: {}", v["data"]);
            types.insert(ty);
        }
        assert_eq!(types.len(), events.len(), "types are distinct");
        assert_eq!(
            parse(&events[3])["data"],
            serde_json::json!({"rp_id":null,"uv":"palm","retries_left":4})
        );
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, as RFC 3339 allows and CloudEvents requires.
    fn assert_rfc3339_utc(t: &str) {
        let b = t.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        assert!(b.len() >= 20, "{t}");
        assert!(digits(0..4) && digits(5..7) && digits(8..10), "{t}");
        assert!(digits(11..13) && digits(14..16) && digits(17..19), "{t}");
        assert_eq!(
            (b[4], b[7], b[10], b[13], b[16]),
            (b'-', b'-', b'T', b':', b':'),
            "{t}"
        );
        assert!(t.ends_with('Z'), "{t}");
        if b.len() > 20 {
            assert!(b[19] == b'.' && digits(20..b.len() - 1), "{t}");
        }
        let year: i32 = t[0..4].parse().unwrap();
        assert_eq!(year, OffsetDateTime::now_utc().year(), "{t}");
    }

    #[test]
    fn ids_are_unique() {
        let a = CloudEvent::new("/s", &DeviceEvent::Reset);
        let b = CloudEvent::new("/s", &DeviceEvent::Reset);
        assert_ne!(a.id, b.id);
    }
}
