//! `palmkey bench` palm section: a palm-verified usernameless getAssertion over CTAPHID/UDP
//! with a large enrolled population.
//!
//! Capture simulation is excluded: the probes are pre-extracted templates served by
//! [`PreExtracted`] in place of the sensor, so the figure is 1:N identification + CTAP +
//! signing + UDP transport. The gallery: `real` synthetic people (sample 0 of identities
//! `0..real`, seed [`SEED`], the first two usable samples of each) plus `people − real`
//! people derived from them with the palm crate's [`Derivation`] (every code map block-
//! permuted and its orientations turned: as unlike their source as two different palms). All
//! of them go through the real store (one sealed gallery write) and the real identification
//! index. Probes: the second usable sample of each real person, in turn. The authenticator runs
//! in this process behind the real UDP transport; the client is the host-side CTAP client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use palmkey::client::{Client, GetAssertionRequest, MakeCredentialRequest, RelyingParty, User};
use palmkey::ctap::{self, Authenticator, AutoApprove};
use palmkey::hid::{self, CtapApp, SharedApp, UdpTransport};
use palmkey::palm::search::derive::Derivation;
use palmkey::palm::synth::Identity;
use palmkey::palm::template::Template;
use palmkey::store::enrollments::Enrollment;
use palmkey::store::{MasterKey, Store};
use palmkey::uv::matcher::Judged;
use palmkey::uv::probe::PreExtracted;
use palmkey::uv::{IdentifyConfig, PalmMatcher, PalmUv, PalmUvConfig};

use super::Summary;

/// Synthetic population of the real people.
pub const SEED: u64 = 7;

/// Run `f(i)` for `0..n` on all cores, in order.
fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let f = &f;
                scope.spawn(move || (start..(start + chunk).min(n)).map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("bench worker panicked"))
            .collect()
    })
}

/// Two usable (bona fide, coded) samples of a synthetic person that match each other 1:1:
/// the enrolled template and the probe. (A person whose samples do not match 1:1 would fail
/// palm UV — a false reject the accuracy evaluation measures, not this latency benchmark —
/// and charge retries until UV blocks.)
fn two_templates(matcher: &PalmMatcher, id: u64) -> Option<(Template, Template)> {
    let person = Identity::new(SEED, id);
    let usable: Vec<Template> = (0..8)
        .filter_map(|k| match matcher.judge(&person.sample(k)) {
            Judged::Template(t) => Some(t),
            _ => None,
        })
        .collect();
    for (i, enrol) in usable.iter().enumerate() {
        for probe in &usable[i + 1..] {
            if matcher
                .engine()
                .is_match(&matcher.engine().compare(probe, enrol))
            {
                return Some((enrol.clone(), probe.clone()));
            }
        }
    }
    None
}

pub fn run(
    people: usize,
    real: usize,
    iterations: usize,
    warmup: usize,
    fallback: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(real >= 1 && people >= real, "need 1 <= real <= people");
    let matcher = PalmMatcher::new();
    let started = Instant::now();
    let pairs: Vec<(Template, Template)> = par_map(real, |i| two_templates(&matcher, i as u64))
        .into_iter()
        .flatten()
        .collect();
    anyhow::ensure!(
        !pairs.is_empty(),
        "no synthetic person gave two usable samples"
    );
    let requested = real;
    let real = pairs.len();
    let skipped = requested - real;
    let setup_real = started.elapsed();
    let started = Instant::now();
    let gallery: Vec<Template> = par_map(people, |i| {
        if i < real {
            pairs[i].0.clone()
        } else {
            Derivation::new(i as u64).template(&pairs[i % real].0)
        }
    });
    let setup_derived = started.elapsed();

    let dir = tempfile_dir()?;
    let result = (|| -> anyhow::Result<()> {
        let mut store = Store::open(&dir, MasterKey::generate(&mut rand::rngs::OsRng))
            .context("opening the bench store")?;
        let ids: Vec<Vec<u8>> = (0..people)
            .map(|i| format!("person-{i:08}").into_bytes())
            .collect();
        let started = Instant::now();
        store
            .update_enrollments(|enrolled, _| {
                for (id, template) in ids.iter().zip(&gallery) {
                    enrolled.push(Enrollment {
                        template_id: id.clone(),
                        friendly_name: Some(format!("M-{}", String::from_utf8_lossy(id))),
                        template: template.to_bytes(),
                    });
                }
                Ok::<_, ()>(())
            })?
            .map_err(|()| anyhow::anyhow!("enrollment"))?;
        let gallery_write = started.elapsed();
        let gallery_bytes = std::fs::read_dir(&dir)?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("enrollments."))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum::<u64>();

        let probes: Vec<Template> = pairs.iter().map(|(_, probe)| probe.clone()).collect();
        let config = PalmUvConfig {
            identify: IdentifyConfig {
                exhaustive_fallback: fallback,
                ..IdentifyConfig::default()
            },
            ..PalmUvConfig::default()
        };
        let mut palm = PalmUv::with_source(Box::new(PreExtracted::new(probes)), config);
        for (id, template) in ids.iter().zip(gallery) {
            palm.index_mut().push(id.clone(), template);
        }
        palm.index_mut()
            .set_revision(store.enrollments().revision());
        let mut authenticator =
            Authenticator::new(store, Box::new(AutoApprove), ctap::Config::default());
        authenticator.set_builtin_uv(Box::new(palm));
        let app: SharedApp = Arc::new(Mutex::new(CtapApp::new(authenticator)));
        let udp = UdpTransport::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = udp.local_addr()?;
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let server = scope.spawn(|| udp.serve(app, hid::Config::default(), &stop));
            let measured = measure(addr, real, iterations, warmup);
            stop.store(true, Ordering::Relaxed);
            server
                .join()
                .map_err(|_| anyhow::anyhow!("UDP server panicked"))??;
            let (summary, identified) = measured?;
            println!();
            println!(
                "palm-verified getAssertion (usernameless, uv=true) over CTAPHID/UDP, {people} enrolled people, exhaustive fallback {} (ms)",
                if fallback { "on" } else { "off" }
            );
            println!("{}", summary.row());
            println!(
                "  identified the right person: {identified} of {}; {skipped} of the {requested} real \
                 people skipped (no two samples matching 1:1); gallery: {real} real + {} derived \
                 people, sealed gallery {:.1} MB written in {:.2} s; setup: real templates {:.1} s, \
                 derived {:.1} s; capture simulation excluded (pre-extracted probes)",
                summary.samples.len(),
                people - real,
                gallery_bytes as f64 / 1e6,
                gallery_write.as_secs_f64(),
                setup_real.as_secs_f64(),
                setup_derived.as_secs_f64(),
            );
            Ok(())
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "palmkey-palm-bench-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).context("creating the palm bench state folder")?;
    Ok(dir)
}

/// Register one discoverable credential per real person (palm UV), then time usernameless
/// palm logins. Returns the timings and how many named the expected person.
fn measure(
    addr: SocketAddr,
    real: usize,
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<(Summary, usize)> {
    let mut client = Client::connect_udp(addr).context("connecting over UDP")?;
    let rp = RelyingParty::new("palm.bench.example");
    // The probe source serves the real people in turn: registration i is person i.
    for i in 0..real {
        let mut req = MakeCredentialRequest::new(
            super::random32(),
            rp.clone(),
            User::named(format!("user-{i}").into_bytes(), "u", "U"),
        );
        req.resident_key = true;
        req.user_verification = Some(true);
        client
            .make_credential(&req)
            .context("palm makeCredential")?;
    }
    let mut samples = Vec::with_capacity(iterations);
    let mut identified = 0;
    for n in 0..warmup + iterations {
        let mut req = GetAssertionRequest::new(rp.id.clone(), super::random32());
        req.user_verification = Some(true);
        let start = Instant::now();
        let assertion = client.get_assertion(&req).context("palm getAssertion")?;
        let elapsed: Duration = start.elapsed();
        if n >= warmup {
            samples.push(elapsed);
            let expected = format!("user-{}", (real + n) % real).into_bytes();
            identified += usize::from(assertion.user.map(|u| u.id) == Some(expected));
        }
    }
    Ok((
        Summary {
            name: "getAssertion (palm UV, 1:N)",
            samples,
        },
        identified,
    ))
}
