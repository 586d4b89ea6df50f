//! `palmkey bench`: end-to-end latency of makeCredential and getAssertion over the UDP
//! transport, against a `palmkey serve` child on a throw-away state folder; then a palm-verified
//! getAssertion with a large enrolled population ([`palm`]).

mod palm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use palmkey::client::{GetAssertionRequest, MakeCredentialRequest, RelyingParty, Simulator, User};
use rand::RngCore;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Measured iterations per operation.
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// Unmeasured iterations first (caches, page faults, lazy initialisation).
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// The `palmkey` binary to serve with (default: this executable).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Enrolled people for the palm-verified getAssertion (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub palm_people: usize,
    /// Of those, real synthetic people (the rest are derived from them); also the probes.
    #[arg(long, default_value_t = 40)]
    pub palm_real: usize,
    /// Only the palm measurement.
    #[arg(long)]
    pub palm_only: bool,
    /// Identify with the pre-selection alone (no exhaustive fallback): faster, but a person
    /// the pre-selection misses is rejected.
    #[arg(long)]
    pub palm_no_fallback: bool,
}

/// Latency summary of one operation.
struct Summary {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Summary {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        // nearest-rank percentile
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank.min(sorted.len()) - 1]
    }

    fn row(&self) -> String {
        let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
        let min = self.samples.iter().min().copied().unwrap_or_default();
        let max = self.samples.iter().max().copied().unwrap_or_default();
        format!(
            "{:<32} {:>6} {:>10} {:>10} {:>10} {:>10}",
            self.name,
            self.samples.len(),
            ms(self.percentile(50.0)),
            ms(self.percentile(90.0)),
            ms(min),
            ms(max)
        )
    }
}

fn time<T>(
    samples: &mut Vec<Duration>,
    f: impl FnOnce() -> palmkey::client::Result<T>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let out = f()?;
    samples.push(start.elapsed());
    Ok(out)
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.iterations > 0, "--iterations must be at least 1");
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe().context("locating the palmkey executable")?,
    };
    let state = std::env::temp_dir().join(format!(
        "palmkey-bench-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&state).context("creating the bench state folder")?;
    let result = if args.palm_only {
        Ok(())
    } else {
        bench(&binary, &state, args.iterations, args.warmup)
    };
    let _ = std::fs::remove_dir_all(&state);
    result?;
    if args.palm_people > 0 {
        palm::run(
            args.palm_people,
            args.palm_real.min(args.palm_people),
            args.iterations,
            args.warmup,
            !args.palm_no_fallback,
        )?;
    }
    Ok(())
}

fn bench(
    binary: &std::path::Path,
    state: &std::path::Path,
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    let sim = Simulator::start(binary, state, &[]).context("starting palmkey serve")?;
    let mut client = sim.client().context("connecting over UDP")?;
    let rp = RelyingParty::new("bench.example");
    let user = User::named(b"bench-user".to_vec(), "bench", "Bench");

    let mut make = Vec::new();
    let mut make_rk = Vec::new();
    let mut get = Vec::new();
    let mut credential = None;
    for i in 0..warmup + iterations {
        let measured = i >= warmup;
        let req = MakeCredentialRequest::new(random32(), rp.clone(), user.clone());
        let mut scratch = Vec::new();
        let resp = time(if measured { &mut make } else { &mut scratch }, || {
            client.make_credential(&req)
        })?;
        credential.get_or_insert_with(|| resp.credential().clone());

        let cred = credential.as_ref().expect("set above");
        let req =
            GetAssertionRequest::new(rp.id.clone(), random32()).allow([cred.credential_id.clone()]);
        time(if measured { &mut get } else { &mut scratch }, || {
            client.get_assertion(&req)
        })?;
    }
    // Discoverable credentials are written to the sealed state: fewer, they accumulate.
    let rk_iterations = iterations.min(50);
    for i in 0..rk_iterations {
        let mut req = MakeCredentialRequest::new(
            random32(),
            rp.clone(),
            User::named(format!("rk-{i}").into_bytes(), "rk", "RK"),
        );
        req.resident_key = true;
        time(&mut make_rk, || client.make_credential(&req))?;
    }

    println!("palmkey bench: CTAP2 over CTAPHID/UDP to `palmkey serve` (end to end, ms)");
    println!(
        "{:<32} {:>6} {:>10} {:>10} {:>10} {:>10}",
        "operation", "n", "median", "p90", "min", "max"
    );
    for s in [
        Summary {
            name: "makeCredential",
            samples: make,
        },
        Summary {
            name: "getAssertion (allowList)",
            samples: get,
        },
        Summary {
            name: "makeCredential (discoverable)",
            samples: make_rk,
        },
    ] {
        println!("{}", s.row());
    }
    Ok(())
}
