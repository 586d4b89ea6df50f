//! Background webhook delivery: CTAP threads enqueue, one worker thread POSTs.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::sink::EventError;

/// Events waiting for delivery before new ones are dropped (a dead webhook must not grow
/// memory without bound).
const QUEUE: usize = 1024;
const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(5);
/// CloudEvents HTTP binding, structured content mode.
const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

pub(crate) struct Webhook {
    tx: Sender<String>,
}

impl Webhook {
    /// Validate `url` and start the delivery thread.
    pub(crate) fn start(url: &str) -> Result<Self, EventError> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|e| EventError::BadWebhookUrl(format!("{url}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(EventError::BadWebhookUrl(format!(
                "{url}: needs http:// or https:// and a host"
            )));
        }
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("palmkey-webhook".into())
            .spawn(move || deliver(&url, rx))
            .map_err(|e| EventError::BadWebhookUrl(format!("cannot start delivery thread: {e}")))?;
        Ok(Webhook { tx })
    }

    /// Queue one JSON event; never blocks.
    pub(crate) fn post(&self, json: String) {
        match self.tx.try_send(json) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("webhook queue full: event dropped");
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!("webhook delivery thread gone: event dropped");
            }
        }
    }
}

/// Runs until every sender is dropped.
fn deliver(url: &str, rx: Receiver<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    for body in rx {
        for attempt in 1..=ATTEMPTS {
            match agent
                .post(url)
                .header("content-type", CONTENT_TYPE)
                .send(body.as_str())
            {
                Ok(_) => break,
                Err(err) if attempt < ATTEMPTS => {
                    tracing::debug!(%err, attempt, "webhook POST failed, retrying");
                    std::thread::sleep(Duration::from_millis(200 << attempt));
                }
                Err(err) => tracing::warn!(%err, %url, "webhook POST failed: event dropped"),
            }
        }
    }
}
