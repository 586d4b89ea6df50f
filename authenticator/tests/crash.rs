//! Crash safety: SIGKILL `palmkey serve` at random points while it makes credentials and
//! signs assertions, restart it, and check that the state opens, every acknowledged
//! credential is still there, and no signature counter value is ever seen twice.
//!
//! `PALMKEY_CRASH_KILLS` (default 55) sets the number of kills, `PALMKEY_CRASH_SEED` the seed.

mod common;

use std::time::{Duration, Instant};

use common::*;
use palmkey::client::transport::CtapHid;
use palmkey::client::{Client, ClientError, CoseKeyBytes};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RP: &str = "crash.example";

/// A credential whose makeCredential response reached us.
struct Acknowledged {
    id: Vec<u8>,
    key: CoseKeyBytes,
    discoverable: bool,
    /// Highest signature counter observed for it.
    counter: u32,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// getAssertion on `cred`: verifies the signature and that the counter moved forward.
fn assert_fresh(client: &mut Client<CtapHid>, cred: &mut Acknowledged) -> Result<(), ClientError> {
    let req = assertion_request(RP, &cred.id);
    let a = client.get_assertion(&req)?;
    a.verify(&cred.key, RP, &req.client_data_hash)
        .expect("assertion signature verifies");
    assert!(
        a.auth_data.sign_count > cred.counter,
        "signature counter {} repeated or went back (last seen {})",
        a.auth_data.sign_count,
        cred.counter
    );
    cred.counter = a.auth_data.sign_count;
    Ok(())
}

fn check_all(client: &mut Client<CtapHid>, known: &mut [Acknowledged], which: &[usize]) {
    for &i in which {
        let cred = &mut known[i];
        if let Err(e) = assert_fresh(client, cred) {
            panic!(
                "acknowledged {} credential {} lost after restart: {e}",
                if cred.discoverable {
                    "discoverable"
                } else {
                    "non-discoverable"
                },
                hex::encode(&cred.id)
            );
        }
    }
}

#[test]
fn sigkill_during_make_and_get_loses_nothing_acknowledged() {
    let kills = env_u64("PALMKEY_CRASH_KILLS").unwrap_or(55);
    let seed = env_u64("PALMKEY_CRASH_SEED").unwrap_or_else(rand::random);
    eprintln!("crash test: {kills} kills, PALMKEY_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut known: Vec<Acknowledged> = Vec::new();
    let mut signalled = 0;
    let mut operations_interrupted = 0;

    for round in 0..kills {
        let mut sim = start_in(dir.path());
        let mut client = sim.client().expect("state opens and the device answers");
        client.transport_mut().set_timeout(Duration::from_secs(2));
        client.get_info().expect("getInfo after restart");

        // a random sample of what we know must still work, with fresh counters
        let sample: Vec<usize> = (0..known.len().min(8))
            .map(|_| rng.gen_range(0..known.len()))
            .collect();
        check_all(&mut client, &mut known, &sample);

        // arm the kill, then hammer the device until it dies
        let pid = sim.pid() as libc::pid_t;
        let delay = Duration::from_micros(rng.gen_range(0..60_000));
        let cancel = client.transport().cancel_token();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SAFETY: plain kill(2) on our own child's pid (not yet reaped: only the main
            // thread reaps, after joining this thread).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // A request already sent to the dead process would wait for the transport
            // timeout; a CTAPHID CANCEL to the closed port makes it fail at once
            // (ICMP port unreachable).
            std::thread::sleep(Duration::from_millis(5));
            cancel.cancel();
        });
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "round {round}: device outlived its kill"
            );
            let make = known.is_empty() || rng.gen_bool(0.5);
            let result = if make {
                let discoverable = rng.gen_bool(0.7);
                let user = format!("user-{round}-{}", known.len());
                let req = request(RP, &user, discoverable);
                client.make_credential(&req).map(|resp| {
                    resp.verify(RP, &req.client_data_hash)
                        .expect("attestation verifies");
                    known.push(Acknowledged {
                        id: resp.credential().credential_id.clone(),
                        key: resp.credential().public_key.clone(),
                        discoverable,
                        counter: resp.auth_data.sign_count,
                    });
                })
            } else {
                let i = rng.gen_range(0..known.len());
                assert_fresh(&mut client, &mut known[i])
            };
            match result {
                Ok(()) => {}
                Err(ClientError::Transport(_)) => {
                    operations_interrupted += 1;
                    break;
                }
                Err(other) => panic!("round {round}: unexpected error {other}"),
            }
        }
        killer.join().unwrap();
        let status = sim.kill();
        use std::os::unix::process::ExitStatusExt;
        if status.and_then(|s| s.signal()) == Some(libc::SIGKILL) {
            signalled += 1;
        }
    }

    // final check: every acknowledged credential, after one more restart
    let sim = start_in(dir.path());
    let mut client = sim.client().unwrap();
    let all: Vec<usize> = (0..known.len()).collect();
    check_all(&mut client, &mut known, &all);
    eprintln!(
        "crash test: {signalled} SIGKILLs, {operations_interrupted} interrupted operations, {} credentials checked",
        known.len()
    );
    assert!(signalled as u64 >= kills, "every round ended in a SIGKILL");
    assert!(known.iter().any(|c| c.discoverable));
}
