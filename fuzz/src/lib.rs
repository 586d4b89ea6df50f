//! Shared set-up for palmkey's fuzz targets: a real authenticator on a store in tmpfs, reused
//! across inputs and brought back to a factory-fresh power-up before each one, and the
//! framing that packs a sequence of messages into one fuzz input.
//!
//! Every target drives palmkey's public API exactly as the transports do; nothing here
//! re-implements a parser.

use std::path::PathBuf;
use std::time::Duration;

use palmkey::ctap::{Authenticator, AutoApprove, Config, NoInteraction};
use palmkey::hid::{App, CtapApp};
use palmkey::sensor::sim::{SimConfig, SimControl, SimulatedHand};
use palmkey::store::{MasterKey, Store};
use palmkey::uv::PalmUv;

/// Scratch root for the per-input stores: tmpfs when available (fsync is then cheap), so a
/// run does not wear the disk or wait on it.
pub fn scratch_root() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let root = if shm.is_dir() {
        shm.join("palmkey-fuzz")
    } else {
        std::env::temp_dir().join("palmkey-fuzz")
    };
    std::fs::create_dir_all(&root).expect("create fuzz scratch folder");
    root
}

/// A fixed master key: inputs must reproduce, and the sealed-state target needs files sealed
/// under a key it knows.
pub const FUZZ_KEY: [u8; 32] = [0x42; 32];

/// A factory-fresh device as `palmkey serve --sensor sim` builds it: the CTAP core over a
/// real sealed store, palm UV over the simulated sensor (no hand on it, a zero capture
/// timeout: the sensor reports "no hand" at its first look instead of sleeping, so palm UV and
/// bio enrollment fail fast through the same code), and the vendor commands.
pub struct Device {
    pub app: CtapApp,
    pub control: SimControl,
    _dir: tempfile::TempDir,
}

impl Device {
    pub fn fresh() -> Device {
        let dir = tempfile::tempdir_in(scratch_root()).expect("temp dir");
        let store = Store::open(dir.path(), MasterKey::from_bytes(FUZZ_KEY)).expect("fresh store");
        let mut auth = Authenticator::new(store, Box::new(AutoApprove), Config::default());
        let control = SimControl::new(SimConfig {
            capture_timeout: Duration::ZERO,
            ..SimConfig::default()
        })
        .expect("simulated sensor");
        auth.set_builtin_uv(Box::new(PalmUv::new(Box::new(control.sensor()))));
        let app = CtapApp::new(auth).with_simulated_sensor(control.clone());
        Device {
            app,
            control,
            _dir: dir,
        }
    }
}

/// Split `data` into messages, each a little-endian u16 length followed by that many bytes
/// (the last one takes what is left). Seeds are written in this framing by `frame`.
pub fn messages(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = u16::from_le_bytes([data[0], data[1]]) as usize;
        let rest = &data[2..];
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

/// authenticatorReset: the command byte alone (no parameters).
const CTAP_RESET: u8 = 0x07;

/// A [`Device`] kept for the whole fuzzing process. Building one costs far more than most
/// inputs (a sealed store written with fsyncs, fresh device keys, the palm matcher's tables),
/// which held `ctap_process` near 1,000 executions per second. Instead, before every input
/// the device is made equivalent to a factory-fresh one:
/// - always: a power cycle (tokens, key agreement, PIN mismatch streak, assertion and
///   enumeration cursors, an enrollment in progress, the reset window) and nothing on the
///   simulated sensor;
/// - only when the previous input changed anything on disk (the sealed state or the
///   enrollment files, compared byte for byte): authenticatorReset, the device's own way
///   back to factory state (new device keys, no credentials, no PIN, default settings).
///
/// What a reset keeps, by design of the device, is the signature counter and the state's
/// generation number; neither decides which code an input reaches.
pub struct Reusable {
    device: Device,
    /// The state folder's contents after the last reset.
    snapshot: Vec<(std::ffi::OsString, Vec<u8>)>,
}

impl Default for Reusable {
    fn default() -> Self {
        Self::new()
    }
}

impl Reusable {
    pub fn new() -> Reusable {
        let device = Device::fresh();
        let snapshot = snapshot(device._dir.path());
        Reusable { device, snapshot }
    }

    /// The device, factory-fresh and just powered up.
    pub fn fresh(&mut self) -> &mut Device {
        if snapshot(self.device._dir.path()) != self.snapshot {
            self.device.app.authenticator_mut().power_cycle();
            let reply = self.device.app.cbor(&[CTAP_RESET], &NoInteraction);
            assert_eq!(
                reply,
                [0x00],
                "authenticatorReset right after power-up, with presence, must succeed"
            );
            self.snapshot = snapshot(self.device._dir.path());
        }
        self.device.app.authenticator_mut().power_cycle();
        self.device
            .control
            .set(SimulatedHand::None)
            .expect("an empty sensor is always accepted");
        &mut self.device
    }
}

/// Every file of a state folder (names sorted, with contents); the lock file is empty.
fn snapshot(dir: &std::path::Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list the state folder")
        .map(|entry| {
            let entry = entry.expect("state folder entry");
            let bytes = if entry.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::read(entry.path()).unwrap_or_default()
            } else {
                Vec::new()
            };
            (entry.file_name(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// The inverse of [`messages`], for writing seeds.
pub fn frame(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend((m.len() as u16).to_le_bytes());
        out.extend_from_slice(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips() {
        let a: &[u8] = b"\x04";
        let b: &[u8] = &[0xa1, 0x01, 0x02];
        assert_eq!(messages(&frame(&[a, b])), vec![a, b]);
        assert_eq!(messages(&[5, 0, 1]), vec![&[1u8][..]]);
        assert!(messages(&[7]).is_empty());
    }
}
