//! The CTAPHID state machine and packet reassembly, fed sequences of 64-byte reports from
//! up to four peers, with time passing and application work finishing at fuzzer-chosen
//! moments. An input is a sequence of 66-byte steps: `[peer/flags, Δt, report(64)]`.
//! Checks: no panic; an aborted request's late result is never sent; the engine settles to idle once work completes and time
//! passes.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use palmkey::hid::ctaphid::{Config, Engine, Job, Outcome};
use palmkey::hid::{HidError, Report, REPORT_SIZE};

const STEP: usize = 2 + REPORT_SIZE;

fuzz_target!(|data: &[u8]| {
    let mut engine: Engine<u8> = Engine::new(Config {
        max_channels: 8,
        ..Config::default()
    });
    let mut now = Instant::now();
    let mut running: Option<Job> = None;
    for step in data.chunks_exact(STEP) {
        let (flags, dt) = (step[0], step[1]);
        let report: &Report = step[2..].try_into().expect("64 bytes");
        now += Duration::from_millis(u64::from(dt) * 4);
        let out = engine.handle(now, &(flags & 3), report);
        if let Some(job) = out.job {
            // A new job means the old transaction was aborted (channel re-INIT): its late
            // result must be dropped, never sent.
            if let Some(old) = running.replace(job) {
                assert!(
                    engine.complete(old.id, Outcome::Reply(vec![0])).is_empty(),
                    "the result of an aborted request was sent"
                );
            }
        }
        // Sometimes the application finishes now, with a reply or an error.
        if flags & 0x10 != 0 {
            if let Some(job) = running.take() {
                let outcome = if flags & 0x20 != 0 {
                    Outcome::Error(HidError::Other)
                } else {
                    Outcome::Reply(report[..usize::from(dt).min(REPORT_SIZE)].to_vec())
                };
                let _ = engine.complete(job.id, outcome);
            }
        }
        if flags & 0x40 != 0 {
            let _ = engine.poll(now);
        }
    }
    if let Some(job) = running.take() {
        let _ = engine.complete(job.id, Outcome::Reply(Vec::new()));
    }
    let _ = engine.poll(now + Duration::from_secs(10));
    assert!(
        !engine.is_busy(),
        "engine stuck after work completed and time passed"
    );
});
