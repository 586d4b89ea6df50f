//! CloudEvents 1.0 output: one JSON object per line to a file, optionally POSTed to a webhook.
//!
//! The CTAP core holds an [`EventSink`] (a disabled sink is a no-op) and calls
//! [`EventSink::emit`] with a [`DeviceEvent`]. Emitting never fails and never blocks on the
//! network: the file line is appended synchronously (no fsync, microseconds), the webhook POST
//! happens on a background thread fed by a bounded queue that drops (and logs) when full.
//!
//! Event data carries identifiers only (template IDs, member IDs, RP IDs, retry counts) —
//! never biometric data, images, keys, PINs or tokens; [`DeviceEvent`] has no field that
//! could hold them.
//!
//! For `palmkey serve` (cli/serve.rs): `--events FILE` and `--webhook URL` map to
//! [`EventConfig::file`] and [`EventConfig::webhook`]; build the sink once with
//! [`EventSink::new`] and hand a clone to the CTAP core.

mod cloudevent;
mod sink;
mod webhook;

pub use cloudevent::{CloudEvent, DeviceEvent, UvMethod, EVENT_TYPE_PREFIX};
pub use sink::{EventConfig, EventError, EventRecorder, EventSink};

#[cfg(test)]
mod tests;
