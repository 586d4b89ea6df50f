use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::palm::capture::encode_png;

/// An interaction that records the last keep-alive status and can be cancelled.
#[derive(Default)]
struct Recorder {
    status: AtomicU8,
    saw_up_needed: AtomicBool,
    cancelled: AtomicBool,
}

impl Interaction for Recorder {
    fn set_status(&self, status: KeepaliveStatus) {
        if status == KeepaliveStatus::UpNeeded {
            self.saw_up_needed.store(true, Ordering::SeqCst);
        }
        self.status.store(status as u8, Ordering::SeqCst);
    }
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

fn control(timeout_ms: u64) -> SimControl {
    SimControl::new(SimConfig {
        capture_timeout: Duration::from_millis(timeout_ms),
        ..SimConfig::default()
    })
    .unwrap()
}

fn cbor(value: Value) -> Vec<u8> {
    crate::ctap::cbor::encode(value)
}

#[test]
fn payloads_round_trip() {
    for hand in [
        SimulatedHand::Synthetic { identity: 7 },
        SimulatedHand::Synthetic { identity: u64::MAX },
        SimulatedHand::Dataset {
            identity: "p01".into(),
            sample: "s2".into(),
        },
        SimulatedHand::PhotoAttack { identity: 3 },
        SimulatedHand::None,
    ] {
        assert_eq!(SimulatedHand::from_cbor(&hand.to_cbor()).unwrap(), hand);
    }
}

#[test]
fn bad_payloads_are_refused() {
    let text = |k: &str, v: Value| (Value::from(k), v);
    let bad: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff],
        cbor(Value::from(1)),
        cbor(Value::Map(vec![])),
        cbor(Value::Map(vec![(Value::from(1), Value::from("none"))])),
        cbor(Value::Map(vec![text("mode", Value::from(1))])),
        cbor(Value::Map(vec![text("mode", Value::from("fingers"))])),
        cbor(Value::Map(vec![text("mode", Value::from("synthetic"))])),
        cbor(Value::Map(vec![
            text("mode", Value::from("synthetic")),
            text("identity", Value::from(-1)),
        ])),
        cbor(Value::Map(vec![
            text("mode", Value::from("synthetic")),
            text("identity", Value::from("7")),
        ])),
        cbor(Value::Map(vec![
            text("mode", Value::from("none")),
            text("identity", Value::from(1)),
        ])),
        cbor(Value::Map(vec![
            text("mode", Value::from("dataset")),
            text("identity", Value::from("a")),
        ])),
        cbor(Value::Map(vec![
            text("mode", Value::from("none")),
            text("mode", Value::from("none")),
        ])),
        [SimulatedHand::None.to_cbor(), vec![0x00]].concat(),
    ];
    for payload in bad {
        let err = SimulatedHand::from_cbor(&payload);
        assert!(
            matches!(err, Err(ControlError::Malformed(_))),
            "{payload:02x?} gave {err:?}"
        );
    }
}

#[test]
fn synthetic_captures_are_fresh_samples_of_that_person() {
    let control = control(1000);
    let mut sensor = control.sensor();
    control
        .set(SimulatedHand::Synthetic { identity: 4 })
        .unwrap();
    let io = Recorder::default();
    let first = sensor.capture(&io).unwrap();
    let second = sensor.capture(&io).unwrap();
    assert!(first.is_paired());
    let person = Identity::new(DEFAULT_SEED, 4);
    assert_eq!(first.print, person.sample(0).print);
    assert_eq!(second.vein, person.sample(1).vein);
    assert_ne!(first.print, second.print, "every capture is a new sample");
    assert!(!io.saw_up_needed.load(Ordering::SeqCst), "a hand was there");

    control
        .set(SimulatedHand::PhotoAttack { identity: 4 })
        .unwrap();
    assert_eq!(
        sensor.capture(&io).unwrap().print,
        person.photo_attack(0).print
    );
    assert_eq!(
        control.current(),
        SimulatedHand::PhotoAttack { identity: 4 }
    );
}

#[test]
fn no_hand_times_out_while_reporting_up_needed() {
    let control = control(60);
    let mut sensor = control.sensor();
    let io = Recorder::default();
    let started = Instant::now();
    assert_eq!(sensor.capture(&io).unwrap_err(), SensorError::NoHand);
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert!(io.saw_up_needed.load(Ordering::SeqCst));
}

#[test]
fn cancel_ends_the_wait() {
    let control = control(10_000);
    let mut sensor = control.sensor();
    let io = Recorder::default();
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            io.cancelled.store(true, Ordering::SeqCst);
        });
        assert_eq!(sensor.capture(&io).unwrap_err(), SensorError::Cancelled);
    });
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_hand_put_on_the_sensor_during_the_wait_is_captured() {
    let control = control(10_000);
    let mut sensor = control.sensor();
    let io = Recorder::default();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            control
                .set(SimulatedHand::Synthetic { identity: 2 })
                .unwrap();
        });
        assert!(sensor.capture(&io).unwrap().is_paired());
    });
    assert!(io.saw_up_needed.load(Ordering::SeqCst));
    assert_eq!(
        io.status.load(Ordering::SeqCst),
        KeepaliveStatus::Processing as u8
    );
}

#[test]
fn dataset_samples_are_checked_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let person = dir.path().join("p01");
    std::fs::create_dir(&person).unwrap();
    let sample = Identity::new(5, 1).sample(0);
    std::fs::write(
        person.join("s1.print.png"),
        encode_png(sample.print.as_ref().unwrap()),
    )
    .unwrap();
    std::fs::write(
        person.join("s1.vein.png"),
        encode_png(sample.vein.as_ref().unwrap()),
    )
    .unwrap();
    std::fs::write(person.join("broken.print.png"), b"\x89PNG\r\n\x1a\nnope").unwrap();

    let no_dataset = control(100);
    let s1 = SimulatedHand::Dataset {
        identity: "p01".into(),
        sample: "s1".into(),
    };
    assert!(matches!(
        no_dataset.set(s1.clone()),
        Err(ControlError::NoDataset)
    ));

    let control = SimControl::new(SimConfig {
        dataset: Some(dir.path().to_owned()),
        ..SimConfig::default()
    })
    .unwrap();
    control.set(s1.clone()).unwrap();
    let mut sensor = control.sensor();
    let io = Recorder::default();
    let captured = sensor.capture(&io).unwrap();
    assert_eq!(captured.print, sample.print);
    assert_eq!(captured.vein, sample.vein);

    for (identity, name) in [("p01", "s9"), ("p02", "s1"), ("../p01", "s1")] {
        let missing = SimulatedHand::Dataset {
            identity: identity.into(),
            sample: name.into(),
        };
        assert!(matches!(
            control.set(missing),
            Err(ControlError::UnknownSample { .. })
        ));
    }
    let broken = SimulatedHand::Dataset {
        identity: "p01".into(),
        sample: "broken".into(),
    };
    assert!(matches!(
        control.set(broken),
        Err(ControlError::Unreadable { .. })
    ));
    assert_eq!(control.current(), s1, "a refused set keeps the hand");
}

#[test]
fn an_empty_dataset_folder_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let result = SimControl::new(SimConfig {
        dataset: Some(dir.path().to_owned()),
        ..SimConfig::default()
    });
    assert!(result.is_err());
}
