//! The simulated palm sensor (`palmkey serve --sensor sim`): what it "sees" is set by the host
//! through CTAPHID vendor command 0x51 (DESIGN.md, "Simulated sensor control"), so tests,
//! demos and the desktop app can play any person — or an attacker — in front of the terminal.
//!
//! # Usage
//! ```text
//! palmkey serve --state DIR --sensor sim [--sim-seed 1] [--sim-dataset DATASET]
//!               [--sim-capture-timeout-ms 10000]
//! ```
//! - `--sim-seed S` (default [`DEFAULT_SEED`] = 1, the default of `palmkey palm synth`): the
//!   synthetic population. Synthetic identity `N` is the same palm as identity `N` of
//!   `palmkey palm synth --seed S`.
//! - `--sim-dataset DATASET`: a folder in the palm dataset layout for the `dataset` mode. It
//!   is listed once at start-up (an empty or unreadable folder stops `serve`); samples added
//!   later are not seen.
//! - `--sim-capture-timeout-ms MS` (default 10 s, [`DEFAULT_CAPTURE_TIMEOUT`]): how long a
//!   capture waits for a hand before giving up with [`SensorError::NoHand`]
//!   (CTAP USER_ACTION_TIMEOUT). Ten seconds is long enough for a person at a kiosk to hold
//!   out their hand after the prompt and short enough that an abandoned terminal frees
//!   itself; tests set it low.
//!
//! Vendor command 0x51 takes a CBOR map with text keys ([`SimulatedHand::from_cbor`]):
//! `{"mode":"synthetic","identity":u64}`, `{"mode":"dataset","identity":text,"sample":text}`,
//! `{"mode":"photo-attack","identity":u64}`, `{"mode":"none"}`. The hand stays on the sensor
//! until the next 0x51. A payload that is not such a map, or a dataset sample that does not
//! exist or cannot be decoded (the images are loaded when the mode is set), is answered with
//! CTAPHID ERROR 0x02 and leaves the sensor as it was. Vendor command 0x52 power-cycles the
//! device. Without `--sensor sim` both are unknown commands (ERROR 0x01).
//!
//! What a capture returns per mode:
//! - `synthetic`: a fresh natural sample of that person (pose, light, band-aid, sensor noise
//!   drawn anew): the k-th capture of identity N is sample k of `palm synth`'s identity N,
//!   counting from 0 when the process starts, so runs are reproducible.
//! - `dataset`: that sample's images, the same ones every time.
//! - `photo-attack`: a printed photo of that synthetic palm, a new one per capture.
//! - `none`: the capture waits, reporting KEEPALIVE UPNEEDED, until CTAPHID CANCEL
//!   ([`SensorError::Cancelled`]), until a hand is put on the sensor through the shared
//!   [`SimControl`] (in-process callers; over CTAPHID the device is busy with the waiting
//!   request), or until the capture timeout ([`SensorError::NoHand`]).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ciborium::Value;

use super::{PalmSensor, SensorError};
use crate::ctap::cbor::MapBuilder;
use crate::ctap::user::{Interaction, KeepaliveStatus};
use crate::palm::capture::Capture;
use crate::palm::dataset::{Dataset, DatasetError};
use crate::palm::synth::Identity;

/// CTAPHID vendor command: simulated sensor control.
pub const SENSOR_CONTROL: u8 = 0x51;
/// CTAPHID vendor command: simulated power cycle.
pub const POWER_CYCLE: u8 = 0x52;

/// The synthetic population when `--sim-seed` is not given (`palmkey palm synth`'s default).
pub const DEFAULT_SEED: u64 = 1;
/// How long a capture waits for a hand by default.
pub const DEFAULT_CAPTURE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting capture looks for a hand and for CANCEL (the transport's keep-alive
/// period is 100 ms, so a cancel is honoured well within one keep-alive).
const POLL: Duration = Duration::from_millis(20);
/// Synthetic palms kept rendered: a kiosk sees a handful of people in turn, and rendering a
/// palm's anatomy costs far more than one capture of it.
const IDENTITY_CACHE: usize = 8;

/// What the simulated sensor sees at its next captures (the 0x51 payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimulatedHand {
    /// That synthetic person holds out their palm; every capture is a fresh natural sample.
    Synthetic { identity: u64 },
    /// The images of one sample of the `--sim-dataset` folder.
    Dataset { identity: String, sample: String },
    /// A printed photo of that synthetic palm (a presentation attack).
    PhotoAttack { identity: u64 },
    /// No hand on the sensor.
    None,
}

/// Why a 0x51 request was refused (answered with CTAPHID ERROR 0x02).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("sensor control payload: {0}")]
    Malformed(String),
    #[error("dataset mode needs `serve --sim-dataset DIR`")]
    NoDataset,
    #[error("dataset has no sample {sample:?} of identity {identity:?}")]
    UnknownSample { identity: String, sample: String },
    #[error("dataset sample {identity}/{sample} is unreadable: {reason}")]
    Unreadable {
        identity: String,
        sample: String,
        reason: String,
    },
}

impl SimulatedHand {
    /// The vendor command payload: a CBOR map with text keys.
    pub fn to_cbor(&self) -> Vec<u8> {
        let map = match self {
            SimulatedHand::Synthetic { identity } => MapBuilder::new()
                .insert("mode", "synthetic")
                .insert("identity", *identity),
            SimulatedHand::Dataset { identity, sample } => MapBuilder::new()
                .insert("mode", "dataset")
                .insert("identity", identity.as_str())
                .insert("sample", sample.as_str()),
            SimulatedHand::PhotoAttack { identity } => MapBuilder::new()
                .insert("mode", "photo-attack")
                .insert("identity", *identity),
            SimulatedHand::None => MapBuilder::new().insert("mode", "none"),
        };
        map.encode()
    }

    /// Parse a 0x51 payload: exactly one CBOR map with text keys, a known `mode` and exactly
    /// the fields that mode takes (unknown keys are refused so typos do not pass silently).
    pub fn from_cbor(payload: &[u8]) -> Result<Self, ControlError> {
        let malformed = |what: &str| ControlError::Malformed(what.to_owned());
        let mut rest = payload;
        let value: Value = ciborium::from_reader(&mut rest)
            .map_err(|e| ControlError::Malformed(format!("not CBOR: {e}")))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the CBOR map"));
        }
        let Value::Map(entries) = value else {
            return Err(malformed("not a CBOR map"));
        };
        let mut fields = HashMap::new();
        for (key, value) in entries {
            let Value::Text(key) = key else {
                return Err(malformed("keys must be text"));
            };
            if fields.insert(key.clone(), value).is_some() {
                return Err(ControlError::Malformed(format!("duplicate key {key:?}")));
            }
        }
        let mode = match fields.remove("mode") {
            Some(Value::Text(mode)) => mode,
            Some(_) => return Err(malformed("\"mode\" must be text")),
            None => return Err(malformed("missing \"mode\"")),
        };
        let hand = match mode.as_str() {
            "synthetic" => SimulatedHand::Synthetic {
                identity: take_u64(&mut fields, "identity")?,
            },
            "photo-attack" => SimulatedHand::PhotoAttack {
                identity: take_u64(&mut fields, "identity")?,
            },
            "dataset" => SimulatedHand::Dataset {
                identity: take_text(&mut fields, "identity")?,
                sample: take_text(&mut fields, "sample")?,
            },
            "none" => SimulatedHand::None,
            other => return Err(ControlError::Malformed(format!("unknown mode {other:?}"))),
        };
        match fields.keys().next() {
            Some(extra) => Err(ControlError::Malformed(format!(
                "unexpected key {extra:?} for mode {mode:?}"
            ))),
            None => Ok(hand),
        }
    }
}

fn take_u64(fields: &mut HashMap<String, Value>, key: &str) -> Result<u64, ControlError> {
    match fields.remove(key) {
        Some(Value::Integer(i)) => u64::try_from(i)
            .map_err(|_| ControlError::Malformed(format!("{key:?} must be an unsigned integer"))),
        Some(_) => Err(ControlError::Malformed(format!(
            "{key:?} must be an unsigned integer"
        ))),
        None => Err(ControlError::Malformed(format!("missing {key:?}"))),
    }
}

fn take_text(fields: &mut HashMap<String, Value>, key: &str) -> Result<String, ControlError> {
    match fields.remove(key) {
        Some(Value::Text(text)) => Ok(text),
        Some(_) => Err(ControlError::Malformed(format!("{key:?} must be text"))),
        None => Err(ControlError::Malformed(format!("missing {key:?}"))),
    }
}

/// Settings of the simulated sensor (the `--sim-*` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The synthetic population.
    pub seed: u64,
    /// How long a capture waits for a hand.
    pub capture_timeout: Duration,
    /// The folder for the `dataset` mode.
    pub dataset: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: DEFAULT_SEED,
            capture_timeout: DEFAULT_CAPTURE_TIMEOUT,
            dataset: None,
        }
    }
}

/// A hand (or photo) on the sensor, with dataset images already decoded.
#[derive(Debug, Clone)]
enum OnSensor {
    Synthetic(u64),
    Dataset {
        identity: String,
        sample: String,
        capture: Capture,
    },
    PhotoAttack(u64),
}

#[derive(Debug)]
struct Shared {
    config: SimConfig,
    dataset: Option<Dataset>,
    /// `None`: nothing on the sensor.
    on_sensor: Mutex<Option<OnSensor>>,
}

/// The control handle of one simulated sensor, shared by the sensor and whoever sets what it
/// sees (the CTAPHID vendor command, in-process tests). Cloning shares the same sensor.
#[derive(Debug, Clone)]
pub struct SimControl {
    shared: Arc<Shared>,
}

impl SimControl {
    /// A sensor with nothing on it. Lists `config.dataset` now, so a wrong folder is reported
    /// at start-up rather than at the first 0x51.
    pub fn new(config: SimConfig) -> Result<Self, DatasetError> {
        let dataset = config.dataset.as_deref().map(Dataset::open).transpose()?;
        Ok(SimControl {
            shared: Arc::new(Shared {
                config,
                dataset,
                on_sensor: Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// A sensor reading through this handle, to give to palm UV.
    pub fn sensor(&self) -> SimSensor {
        SimSensor {
            control: self.clone(),
            identities: VecDeque::new(),
            next_sample: HashMap::new(),
        }
    }

    /// Put `hand` on the sensor. A dataset sample is loaded now; when it is missing or
    /// unreadable the sensor keeps what it had.
    pub fn set(&self, hand: SimulatedHand) -> Result<(), ControlError> {
        let on_sensor = match hand {
            SimulatedHand::Synthetic { identity } => Some(OnSensor::Synthetic(identity)),
            SimulatedHand::PhotoAttack { identity } => Some(OnSensor::PhotoAttack(identity)),
            SimulatedHand::None => None,
            SimulatedHand::Dataset { identity, sample } => {
                let capture = self.load_sample(&identity, &sample)?;
                Some(OnSensor::Dataset {
                    identity,
                    sample,
                    capture,
                })
            }
        };
        tracing::debug!(hand = %describe(&on_sensor), "simulated sensor");
        *self.lock() = on_sensor;
        Ok(())
    }

    /// Handle a 0x51 payload.
    pub fn apply(&self, payload: &[u8]) -> Result<(), ControlError> {
        self.set(SimulatedHand::from_cbor(payload)?)
    }

    /// What is on the sensor now.
    pub fn current(&self) -> SimulatedHand {
        match &*self.lock() {
            Some(OnSensor::Synthetic(identity)) => SimulatedHand::Synthetic {
                identity: *identity,
            },
            Some(OnSensor::PhotoAttack(identity)) => SimulatedHand::PhotoAttack {
                identity: *identity,
            },
            Some(OnSensor::Dataset {
                identity, sample, ..
            }) => SimulatedHand::Dataset {
                identity: identity.clone(),
                sample: sample.clone(),
            },
            None => SimulatedHand::None,
        }
    }

    fn load_sample(&self, identity: &str, sample: &str) -> Result<Capture, ControlError> {
        let dataset = self
            .shared
            .dataset
            .as_ref()
            .ok_or(ControlError::NoDataset)?;
        // Looked up in the listing, never joined onto the path: "../x" cannot escape.
        let entry =
            dataset
                .sample(identity, sample)
                .ok_or_else(|| ControlError::UnknownSample {
                    identity: identity.to_owned(),
                    sample: sample.to_owned(),
                })?;
        entry.load().map_err(|e| ControlError::Unreadable {
            identity: identity.to_owned(),
            sample: sample.to_owned(),
            reason: e.to_string(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<OnSensor>> {
        // Every update is one assignment, so a poisoned lock still holds a consistent value.
        self.shared
            .on_sensor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn dataset_root(&self) -> Option<&Path> {
        self.shared.dataset.as_ref().map(Dataset::root)
    }
}

/// For logs: which mode and identity, never image data.
fn describe(on_sensor: &Option<OnSensor>) -> String {
    match on_sensor {
        Some(OnSensor::Synthetic(id)) => format!("synthetic {id}"),
        Some(OnSensor::PhotoAttack(id)) => format!("photo-attack {id}"),
        Some(OnSensor::Dataset {
            identity, sample, ..
        }) => format!("dataset {identity}/{sample}"),
        None => "none".to_owned(),
    }
}

/// The simulated sensor itself ([`PalmSensor`]); made by [`SimControl::sensor`].
pub struct SimSensor {
    control: SimControl,
    /// Recently seen synthetic palms, most recent last.
    identities: VecDeque<Identity>,
    /// Per synthetic identity, the next sample index (captures and photos counted apart).
    next_sample: HashMap<(u64, bool), u32>,
}

impl std::fmt::Debug for SimSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSensor")
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl SimSensor {
    pub fn control(&self) -> &SimControl {
        &self.control
    }

    /// Wait for something on the sensor, honouring CANCEL and the capture timeout.
    fn wait_for_hand(&self, io: &dyn Interaction) -> Result<OnSensor, SensorError> {
        let deadline = Instant::now() + self.control.config().capture_timeout;
        let mut waiting = false;
        loop {
            if io.is_cancelled() {
                return Err(SensorError::Cancelled);
            }
            if let Some(on_sensor) = self.control.lock().clone() {
                if waiting {
                    io.set_status(KeepaliveStatus::Processing);
                }
                return Ok(on_sensor);
            }
            if !waiting {
                io.set_status(KeepaliveStatus::UpNeeded);
                waiting = true;
            }
            let now = Instant::now();
            if now >= deadline {
                io.set_status(KeepaliveStatus::Processing);
                return Err(SensorError::NoHand);
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// The synthetic palm `id`, rendered once and kept among the last few used.
    fn identity(&mut self, id: u64) -> &Identity {
        if let Some(pos) = self.identities.iter().position(|i| i.id() == id) {
            let identity = self.identities.remove(pos).expect("position is in range");
            self.identities.push_back(identity);
        } else {
            if self.identities.len() == IDENTITY_CACHE {
                self.identities.pop_front();
            }
            self.identities
                .push_back(Identity::new(self.control.config().seed, id));
        }
        self.identities.back().expect("just pushed")
    }

    fn next_index(&mut self, id: u64, attack: bool) -> u32 {
        let next = self.next_sample.entry((id, attack)).or_insert(0);
        let index = *next;
        *next = next.wrapping_add(1);
        index
    }
}

impl PalmSensor for SimSensor {
    fn capture(&mut self, io: &dyn Interaction) -> Result<Capture, SensorError> {
        match self.wait_for_hand(io)? {
            OnSensor::Synthetic(id) => {
                let index = self.next_index(id, false);
                Ok(self.identity(id).sample(index))
            }
            OnSensor::PhotoAttack(id) => {
                let index = self.next_index(id, true);
                Ok(self.identity(id).photo_attack(index))
            }
            OnSensor::Dataset { capture, .. } => Ok(capture),
        }
    }
}

#[cfg(test)]
mod tests;
