//! Crash test: a child process (this test binary, re-executed) updates the state and draws
//! signature counters in a loop, printing each acknowledged result; the parent SIGKILLs it at
//! a random moment, then checks that the state opens, no acknowledged update is lost and no
//! acknowledged counter ever repeats or goes backwards.

use std::io::{BufRead, BufReader};
use std::num::NonZeroU32;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;

use super::tests::credential;
use super::{KeySource, Store};

const CHILD_DIR: &str = "PALMKEY_CRASH_CHILD_DIR";
const CHILD_KEY: &str = "PALMKEY_CRASH_CHILD_KEY";
const KILLS: usize = 220;
/// A small block so that counter reservations (durable writes) are often in flight at a kill.
const BLOCK: u32 = 8;

/// The marker update number held in the state (0 when no update was made).
fn marker(store: &Store) -> u64 {
    store.state().credentials.first().map_or(0, |c| c.created)
}

/// The child's loop. Ignored so a normal test run skips it; the parent runs it explicitly.
#[test]
#[ignore = "child process of crash_kills_never_lose_acknowledged_work"]
fn crash_child() {
    let (Some(dir), Some(key)) = (std::env::var_os(CHILD_DIR), std::env::var_os(CHILD_KEY)) else {
        return;
    };
    let mut store = Store::open_with(Path::new(&dir), &KeySource::File(key.into())).unwrap();
    store.set_counter_block(NonZeroU32::new(BLOCK).unwrap());
    let mut next = marker(&store) + 1;
    let mut rng = rand::thread_rng();
    loop {
        if rng.gen_bool(0.3) {
            store
                .update(|s| {
                    s.credentials.clear();
                    s.credentials.push(credential(next));
                })
                .unwrap();
            println!("ack U {next}");
            next += 1;
        } else {
            println!("ack C {}", store.next_signature_counter().unwrap());
        }
    }
}

#[test]
fn crash_kills_never_lose_acknowledged_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let key = tmp.path().join("master.key");
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::thread_rng();
    let mut last_counter = 0u32;
    let mut counters_seen = 0usize;
    let mut last_update = 0u64;
    let mut kills_mid_work = 0usize;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "store::crash_tests::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &dir)
            .env(CHILD_KEY, &key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest prints "test ... " before the first ack on the same line.
                if let Some(i) = line.find("ack ") {
                    let _ = tx.send(line[i + 4..].to_owned());
                }
            }
        });
        let mut acks = Vec::new();
        if round % 2 == 0 {
            // Anywhere, start-up and opening included.
            std::thread::sleep(Duration::from_micros(rng.gen_range(0..40_000)));
        } else {
            // Surely mid-work: after the first acknowledgement.
            acks.push(rx.recv_timeout(Duration::from_secs(30)).unwrap());
            std::thread::sleep(Duration::from_micros(rng.gen_range(0..20_000)));
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the child must die, not finish"
        );
        reader.join().unwrap();
        acks.extend(rx.try_iter());
        if !acks.is_empty() {
            kills_mid_work += 1;
        }
        for line in &acks {
            if let Some(v) = line.strip_prefix("C ") {
                let v: u32 = v.parse().unwrap();
                assert!(
                    v > last_counter,
                    "round {round}: counter {v} after {last_counter}"
                );
                last_counter = v;
                counters_seen += 1;
            } else if let Some(n) = line.strip_prefix("U ") {
                let n: u64 = n.parse().unwrap();
                assert_eq!(n, last_update + 1, "round {round}: updates are sequential");
                last_update = n;
            }
        }
        let store = Store::open_with(&dir, &KeySource::File(key.clone()))
            .unwrap_or_else(|e| panic!("round {round}: state does not open after kill: {e}"));
        let persisted = marker(&store);
        // Every acknowledged update is there; at most the one in flight went further.
        assert!(
            persisted == last_update || persisted == last_update + 1,
            "round {round}: persisted update {persisted}, acknowledged {last_update}"
        );
        last_update = persisted;
    }
    println!(
        "crash test: {KILLS} SIGKILLs ({kills_mid_work} mid-work), {counters_seen} counters and \
         {last_update} updates acknowledged, none lost or repeated"
    );
    assert!(
        kills_mid_work > KILLS / 2,
        "most kills must land while working"
    );
}
