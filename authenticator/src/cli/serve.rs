//! `palmkey serve`: the authenticator process.
//!
//! Opens the state folder (or starts disabled when it fails its integrity check), builds the
//! CTAP core with simulator user presence (auto-approved), and serves CTAPHID over UDP and,
//! with `--uhid`, over a Linux virtual HID device, until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use palmkey::ctap::{self, user::AutoApprove, Authenticator};
use palmkey::events::{EventConfig, EventSink};
use palmkey::hid::{self, CtapApp, SharedApp, UdpTransport, UhidTransport};
use palmkey::sensor::sim::{self, SimConfig, SimControl};
use palmkey::store::state::BatchAttestation;
use palmkey::store::{KeySource, Store, StoreError};
use palmkey::uv::PalmUv;
use zeroize::Zeroizing;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// All persistent state; a new empty folder is a factory-fresh device.
    #[arg(long)]
    pub state: PathBuf,
    /// CTAPHID over UDP (simulator convention: one 64-byte report per datagram).
    #[arg(long, default_value = "127.0.0.1:8111")]
    pub udp: SocketAddr,
    /// Also expose a Linux virtual USB HID device through /dev/uhid.
    #[arg(long)]
    pub uhid: bool,
    /// Palm sensor for built-in user verification and bio enrollment. `sim`: the simulated
    /// sensor, controlled by CTAPHID vendor command 0x51 (see `palmkey::sensor::sim`).
    #[arg(long, value_enum)]
    pub sensor: Option<SensorKind>,
    /// Dataset folder (palm dataset layout) for the simulated sensor's `dataset` mode.
    #[arg(long, requires = "sensor")]
    pub sim_dataset: Option<PathBuf>,
    /// Synthetic population of the simulated sensor: identity N is identity N of
    /// `palmkey palm synth --seed S`.
    #[arg(long, default_value_t = sim::DEFAULT_SEED, requires = "sensor")]
    pub sim_seed: u64,
    /// How long a simulated capture waits for a hand (mode `none`) before it times out.
    #[arg(long, default_value_t = sim::DEFAULT_CAPTURE_TIMEOUT.as_millis() as u64, requires = "sensor")]
    pub sim_capture_timeout_ms: u64,
    /// Append CloudEvents (one JSON per line) to this file.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Also POST each CloudEvent to this URL.
    #[arg(long)]
    pub webhook: Option<String>,
    /// Master key file (0600) instead of the OS keyring, for headless machines.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Per-device batch attestation key (PKCS#8 DER, P-256), sealed into the state; without
    /// it the device uses self attestation.
    #[arg(long, requires = "attestation_cert")]
    pub attestation_key: Option<PathBuf>,
    /// The batch attestation certificate (DER X.509) for --attestation-key.
    #[arg(long, requires = "attestation_key")]
    pub attestation_cert: Option<PathBuf>,
}

/// The palm sensors `serve` can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SensorKind {
    /// The simulated sensor (vendor commands 0x51 sensor control, 0x52 power cycle).
    Sim,
}

/// Set by SIGINT/SIGTERM; every transport loop polls it at least every 100 ms.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

fn install_stop_handlers() -> anyhow::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
        // stores to an atomic.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(std::io::Error::last_os_error()).context("installing signal handlers");
        }
    }
    Ok(())
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    install_stop_handlers()?;
    let sim_control = match args.sensor {
        None => None,
        Some(SensorKind::Sim) => Some(
            SimControl::new(SimConfig {
                seed: args.sim_seed,
                capture_timeout: Duration::from_millis(args.sim_capture_timeout_ms),
                dataset: args.sim_dataset.clone(),
            })
            .context("--sim-dataset")?,
        ),
    };
    // Built before the store so a bad --events/--webhook fails at start-up, and a tampered
    // state already has somewhere to report to.
    let events = EventSink::new(EventConfig {
        file: args.events.clone(),
        webhook: args.webhook.clone(),
        ..EventConfig::default()
    })?;
    let key_source = args
        .key_file
        .clone()
        .map_or(KeySource::Auto, KeySource::File);
    let batch = match (&args.attestation_key, &args.attestation_cert) {
        (Some(key), Some(cert)) => Some(read_batch_attestation(key, cert)?),
        _ => None,
    };
    let mut authenticator = open_authenticator(&args.state, key_source, batch)?.with_events(events);
    if let Some(control) = &sim_control {
        // The palm is the built-in user verification; the sensor reads what 0x51 set.
        authenticator.set_builtin_uv(Box::new(PalmUv::new(Box::new(control.sensor()))));
    }
    let mut device = CtapApp::new(authenticator);
    if let Some(control) = sim_control {
        tracing::info!(
            seed = control.config().seed,
            capture_timeout_ms = args.sim_capture_timeout_ms,
            dataset = ?control.dataset_root(),
            "simulated palm sensor"
        );
        device = device.with_simulated_sensor(control);
    }
    let app: SharedApp = Arc::new(Mutex::new(device));
    let config = hid::Config::default();

    let udp = UdpTransport::bind(args.udp)?;
    let udp_addr = udp.local_addr()?;
    let uhid = if args.uhid {
        let device = UhidTransport::create().context("--uhid")?;
        let (app, config) = (Arc::clone(&app), config.clone());
        Some(thread::Builder::new().name("uhid".into()).spawn(move || {
            let result = device.serve(app, config, &STOP);
            if let Err(error) = &result {
                // UDP keeps serving; say so now rather than only at exit.
                tracing::error!(%error, "uhid transport stopped");
            }
            result
        })?)
    } else {
        None
    };

    tracing::info!(udp = %udp_addr, uhid = args.uhid, state = %args.state.display(), "serving");
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "palmkey ready udp={udp_addr}")?;
        stdout.flush()?;
    }
    let udp_result = udp.serve(app, config, &STOP).context("UDP transport");
    STOP.store(true, Ordering::SeqCst);
    if let Some(uhid) = uhid {
        match uhid.join() {
            Ok(result) => result.context("uhid transport")?,
            Err(_) => anyhow::bail!("uhid transport thread panicked"),
        }
    }
    udp_result?;
    tracing::info!("stopped");
    Ok(())
}

/// The CTAP core over the state in `dir`. A state that fails its integrity check does not
/// stop the process: the device comes up disabled (getInfo and reset only), per DESIGN.md.
/// A provisioned batch attestation is (re)sealed into the state at every start, so it also
/// comes back after a factory reset and a restart.
fn open_authenticator(
    dir: &Path,
    key_source: KeySource,
    batch: Option<BatchAttestation>,
) -> anyhow::Result<Authenticator> {
    let presence = Box::new(AutoApprove);
    let config = ctap::Config::default();
    match Store::open_with(dir, &key_source) {
        Ok(mut store) => {
            if let Some(batch) = batch {
                store
                    .update(|state| state.device.attestation = Some(batch))
                    .context("storing the batch attestation")?;
            }
            Ok(Authenticator::new(store, presence, config))
        }
        Err(error @ StoreError::Integrity(_)) => {
            let reopen_dir = dir.to_path_buf();
            let reopen = Box::new(move || Store::open_for_reset_with(&reopen_dir, &key_source));
            Ok(Authenticator::disabled(
                dir.to_path_buf(),
                &error,
                reopen,
                presence,
                config,
            ))
        }
        Err(error) => {
            Err(error).with_context(|| format!("cannot open the state in {}", dir.display()))
        }
    }
}

fn read_batch_attestation(key: &Path, cert: &Path) -> anyhow::Result<BatchAttestation> {
    let key_der =
        Zeroizing::new(std::fs::read(key).with_context(|| format!("reading {}", key.display()))?);
    let cert_der = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    Ok(ctap::attestation::provision_batch(&key_der, cert_der)?)
}
