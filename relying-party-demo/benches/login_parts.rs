//! Where a login's server CPU goes, piece by piece, without HTTP: webauthn-rs's assertion
//! check, the relying party's own (ring) check the server uses instead, the bare P-256
//! verification inside webauthn-rs's, the JSON of the stored passkey and of the
//! posted credential, and the store calls of a login, in on-CPU µs. (The VM has no hardware
//! counters; `perf record` with software clock events profiles the whole server instead.)
//!
//!     cargo bench -p relying-party-demo --bench login_parts

#[path = "login_load/soft_authenticator.rs"]
#[allow(dead_code)]
mod soft_authenticator;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use p256::ecdsa::signature::Verifier;
use relying_party_demo::assertion_check::AssertionChecker;
use relying_party_demo::store::{
    AssertionOutcome, AssertionVerdict, CeremonyKind, NewAccount, PasskeyRecord, SessionRecord,
    SignInRecord,
};
use relying_party_demo::{SqliteStore, Store};
use soft_authenticator::SoftCredential;
use time::OffsetDateTime;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, WebauthnBuilder};

const ORIGIN: &str = "http://localhost:8080";

/// Mean microseconds per call of `f` over `n` calls: on-CPU time of this thread (what the
/// server pays; other work on the shared machine does not inflate it) and wall time.
fn time(name: &str, n: usize, mut f: impl FnMut(usize)) {
    for i in 0..n.min(50) {
        f(i);
    }
    let cpu = thread_cpu_ns();
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    let wall = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let cpu = (thread_cpu_ns() - cpu) as f64 / 1e3 / n as f64;
    println!("{name:<60} {cpu:>9.1} µs CPU {wall:>9.1} µs wall");
}

/// Nanoseconds this thread has run on a CPU (/proc/thread-self/schedstat, first field).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let origin = url::Url::parse(ORIGIN)?;
    let webauthn = WebauthnBuilder::new("localhost", &origin)?.build()?;
    let user = uuid::Uuid::new_v4();
    let (options, registration) = webauthn.start_passkey_registration(user, "a", "a", None)?;
    let (mut credential, answer) = SoftCredential::register(&options, ORIGIN)?;
    let passkey = webauthn.finish_passkey_registration(&answer, &registration)?;
    let passkey_json = serde_json::to_string(&passkey)?;

    // Fresh (state, assertion) pairs, made outside the timed loops.
    let mut pairs = Vec::with_capacity(n + 50);
    for _ in 0..n + 50 {
        let (request, state) = webauthn.start_discoverable_authentication()?;
        pairs.push((state, credential.assert(&request)?));
    }
    println!(
        "login pieces, mean of {n} calls (load average {})",
        loadavg()
    );
    let mut states: Vec<_> = pairs.iter().map(|(s, _)| Some(s.clone())).collect();
    time(
        "webauthn-rs finish_discoverable_authentication_v2",
        n,
        |i| {
            let state = states[i].take().unwrap_or_else(|| pairs[i].0.clone());
            webauthn
                .finish_discoverable_authentication_v2(&pairs[i].1, state, &passkey)
                .expect("verifies");
        },
    );

    // The relying party's own check (ring's P-256), which the server uses for these
    // assertions; each call verifies in full, the counter only moves forward in the pairs.
    let checker = AssertionChecker::new(Arc::new(webauthn.clone()), "localhost", &origin);
    anyhow::ensure!(
        checker.takes_fast_path(&pairs[0].1, &pairs[0].0, &passkey),
        "the benchmark's assertions must take the ring path"
    );
    let mut states: Vec<_> = pairs.iter().map(|(s, _)| Some(s.clone())).collect();
    time(
        "AssertionChecker::check (ring P-256, the server's path)",
        n,
        |i| {
            let state = states[i].take().unwrap_or_else(|| pairs[i].0.clone());
            let mut stored = passkey.clone();
            checker
                .check(&pairs[i].1, state, &mut stored)
                .expect("verifies");
        },
    );

    // The bare ECDSA P-256 check (p256 0.13 here; webauthn-rs uses its own RustCrypto p256).
    let key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let message = [7u8; 69];
    let signature: p256::ecdsa::Signature =
        p256::ecdsa::signature::Signer::sign(&key, &message[..]);
    let verifying = *key.verifying_key();
    time("p256 0.13 ECDSA verify (bare)", n, |_| {
        verifying.verify(&message, &signature).expect("verifies");
    });

    time("Passkey JSON parse + serialize", n, |_| {
        let p: Passkey = serde_json::from_str(&passkey_json).expect("parses");
        std::hint::black_box(serde_json::to_string(&p).expect("serializes"));
    });
    let body = serde_json::to_string(&pairs[0].1)?;
    time(
        "PublicKeyCredential JSON parse (the /finish body)",
        n,
        |_| {
            let c: PublicKeyCredential = serde_json::from_str(&body).expect("parses");
            std::hint::black_box(c);
        },
    );
    time("start_discoverable_authentication + state JSON", n, |_| {
        let (request, state) = webauthn
            .start_discoverable_authentication()
            .expect("starts");
        std::hint::black_box(serde_json::to_string(&request).expect("json"));
        std::hint::black_box(serde_json::to_string(&state).expect("json"));
    });

    // The store calls of one login, on a file database as the server uses.
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open_in(dir.path())?;
    let now = OffsetDateTime::now_utc();
    let account = NewAccount {
        id: user,
        display_name: "a".into(),
        created: now,
    };
    let record = PasskeyRecord {
        credential_id: passkey.cred_id().to_vec(),
        account: user,
        passkey_json: passkey_json.clone(),
        name: "Passkey".into(),
        aaguid: uuid::Uuid::nil(),
        user_verified: true,
        backup_eligible: false,
        backup_state: false,
        created: now,
        last_used: None,
        counter_regression: None,
    };
    store.register_passkey(Some(&account), &record)?;
    let session = |i: usize| -> [u8; 32] {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        id
    };
    let record_of = |i: usize| SessionRecord {
        id_hash: session(i),
        account: Some(user),
        csrf_token: "t".into(),
        expires: now + time::Duration::hours(1),
    };
    store.insert_session(&record_of(0))?;
    let kind = CeremonyKind::Authentication;
    let expires = now + time::Duration::minutes(5);
    let mut counter = 0u32;
    let mut generation = 0usize;
    let mut failures = 0usize;
    time(
        "store: session + put_ceremony + session + pending + conclude",
        n,
        |_| {
            let old = session(generation);
            let new = record_of(generation + 1);
            generation += 1;
            counter += 1;
            let result = (|| -> anyhow::Result<()> {
                store.session(&old, now)?.context("session")?;
                store.put_ceremony(&old, kind, "challenge", "{}", expires)?;
                store.session(&old, now)?.context("session")?;
                let pending =
                    store.pending_assertion(&old, kind, "challenge", &record.credential_id, now)?;
                pending.passkey.context("passkey")?;
                let history = SignInRecord {
                    account: user,
                    credential_id: record.credential_id.clone(),
                    at: now,
                    outcome: "signed in".into(),
                };
                let done = store.conclude_assertion(&AssertionOutcome {
                    session: &old,
                    kind,
                    challenge: "challenge",
                    credential_id: &record.credential_id,
                    verdict: AssertionVerdict::Verified {
                        passkey_json: &passkey_json,
                        counter,
                        backup_state: false,
                    },
                    history: &history,
                    new_session: Some(&new),
                })?;
                anyhow::ensure!(done, "challenge gone");
                Ok(())
            })();
            if result.is_err() {
                failures += 1;
            }
        },
    );
    anyhow::ensure!(failures == 0, "{failures} store round trips failed");
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
