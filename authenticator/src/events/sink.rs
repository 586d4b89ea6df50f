//! [`EventSink`]: where the CTAP core sends events (file, webhook, memory, or nowhere).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::cloudevent::{CloudEvent, DeviceEvent};
use super::webhook::Webhook;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("cannot open events file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad webhook URL {0}")]
    BadWebhookUrl(String),
}

/// Where events go.
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// CloudEvents `source` (a URI reference naming this device).
    pub source: String,
    /// Append one JSON event per line here (`--events FILE`).
    pub file: Option<PathBuf>,
    /// POST each event here (`--webhook URL`).
    pub webhook: Option<String>,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            source: "/palmkey".into(),
            file: None,
            webhook: None,
        }
    }
}

/// Cheap to clone; the default is a disabled sink that drops everything.
#[derive(Clone, Default)]
pub struct EventSink {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    source: String,
    file: Option<Mutex<File>>,
    webhook: Option<Webhook>,
    memory: Option<Arc<Mutex<Vec<CloudEvent>>>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

/// Read side of [`EventSink::recorder`], for tests of code that emits events.
#[derive(Clone)]
pub struct EventRecorder(Arc<Mutex<Vec<CloudEvent>>>);

impl EventRecorder {
    pub fn events(&self) -> Vec<CloudEvent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The `type`s emitted so far, in order.
    pub fn types(&self) -> Vec<&'static str> {
        self.events().iter().map(|e| e.event_type).collect()
    }
}

impl EventSink {
    /// A sink that drops every event.
    pub fn disabled() -> Self {
        EventSink::default()
    }

    /// Open the events file (append, created 0600) and start the webhook thread as
    /// configured; with neither, the sink is disabled.
    pub fn new(config: EventConfig) -> Result<Self, EventError> {
        if config.file.is_none() && config.webhook.is_none() {
            return Ok(EventSink::disabled());
        }
        let file = match &config.file {
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|source| EventError::Io {
                        path: path.clone(),
                        source,
                    })?,
            )),
            None => None,
        };
        let webhook = config.webhook.as_deref().map(Webhook::start).transpose()?;
        Ok(EventSink {
            inner: Some(Arc::new(Inner {
                source: config.source,
                file,
                webhook,
                memory: None,
            })),
        })
    }

    /// A sink that keeps events in memory, and the handle to read them.
    pub fn recorder() -> (Self, EventRecorder) {
        let memory = Arc::new(Mutex::new(Vec::new()));
        let sink = EventSink {
            inner: Some(Arc::new(Inner {
                source: "/palmkey/test".into(),
                file: None,
                webhook: None,
                memory: Some(memory.clone()),
            })),
        };
        (sink, EventRecorder(memory))
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Record `event`. Never fails and never waits on the network; delivery problems are
    /// logged.
    pub fn emit(&self, event: DeviceEvent) {
        let Some(inner) = &self.inner else {
            return;
        };
        let event = CloudEvent::new(&inner.source, &event);
        tracing::debug!(r#type = event.event_type, id = %event.id, "event");
        let json = event.to_json_line();
        if let Some(file) = &inner.file {
            let mut line = json.clone().into_bytes();
            line.push(b'\n');
            // One write per line on an O_APPEND file: lines never interleave.
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(err) = file.write_all(&line) {
                tracing::warn!(%err, "cannot append to the events file: event lost there");
            }
        }
        if let Some(webhook) = &inner.webhook {
            webhook.post(json);
        }
        if let Some(memory) = &inner.memory {
            memory.lock().unwrap_or_else(|p| p.into_inner()).push(event);
        }
    }
}
