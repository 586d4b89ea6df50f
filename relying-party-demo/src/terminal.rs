//! A palmkey authenticator running inside this process, served over the CTAPHID UDP
//! simulator transport on a free localhost port: the "palm terminal" of the demo and tests.
//! It is the real authenticator (CTAP core, encrypted state, UDP transport, and with
//! [`Terminal::start_palm`] the simulated palm sensor + palm built-in UV, wired as `palmkey
//! serve --sensor sim` wires them); only user presence is auto-approved, as in `palmkey serve`.
//! [`Terminal::expose_uhid`] adds the Linux virtual HID device so a real browser can use it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use palmkey::client::transport::CtapHid;
use palmkey::client::{Client, ClientError};
use palmkey::ctap::{self, user::AutoApprove, Authenticator};
use palmkey::hid::{self, CtapApp, SharedApp, UdpTransport, UhidTransport};
use palmkey::sensor::sim::{SimConfig, SimControl};
use palmkey::store::{KeySource, Store, StoreError};
use palmkey::uv::PalmUv;

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("opening the authenticator state in {dir}: {source}")]
    State { dir: PathBuf, source: StoreError },
    #[error("simulated palm sensor: {0}")]
    Sensor(String),
    #[error("binding the CTAPHID UDP transport: {0}")]
    Bind(std::io::Error),
    #[error("creating the virtual HID device (/dev/uhid): {0}")]
    Uhid(std::io::Error),
    #[error("starting the transport thread: {0}")]
    Thread(std::io::Error),
}

/// The running authenticator; dropping it stops the transport threads.
pub struct Terminal {
    addr: SocketAddr,
    app: SharedApp,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("addr", &self.addr)
            .finish()
    }
}

fn open(state: &Path, key_file: &Path) -> Result<Authenticator, TerminalError> {
    let store =
        Store::open_with(state, &KeySource::File(key_file.to_owned())).map_err(|source| {
            TerminalError::State {
                dir: state.to_owned(),
                source,
            }
        })?;
    Ok(Authenticator::new(
        store,
        Box::new(AutoApprove),
        ctap::Config::default(),
    ))
}

impl Terminal {
    /// Open (or create, factory-fresh) the authenticator state in `state`, sealed by the
    /// master key in `key_file` (kept outside the state folder), and serve it on
    /// 127.0.0.1 at a free UDP port. User verification: the PIN only.
    pub fn start(state: &Path, key_file: &Path) -> Result<Self, TerminalError> {
        Self::serve(CtapApp::new(open(state, key_file)?))
    }

    /// As [`Terminal::start`], with the simulated palm sensor (vendor command 0x51 picks the
    /// hand) and the palm as built-in UV and bio enrollment.
    pub fn start_palm(
        state: &Path,
        key_file: &Path,
        sensor: SimConfig,
    ) -> Result<Self, TerminalError> {
        let control = SimControl::new(sensor).map_err(|e| TerminalError::Sensor(e.to_string()))?;
        let mut authenticator = open(state, key_file)?;
        authenticator.set_builtin_uv(Box::new(PalmUv::new(Box::new(control.sensor()))));
        Self::serve(CtapApp::new(authenticator).with_simulated_sensor(control))
    }

    fn serve(device: CtapApp) -> Result<Self, TerminalError> {
        let app: SharedApp = Arc::new(Mutex::new(device));
        let udp = UdpTransport::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(TerminalError::Bind)?;
        let addr = udp.local_addr().map_err(TerminalError::Bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_app, thread_stop) = (Arc::clone(&app), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("palmkey-udp".into())
            .spawn(move || udp.serve(thread_app, hid::Config::default(), &thread_stop))
            .map_err(TerminalError::Thread)?;
        Ok(Terminal {
            addr,
            app,
            stop,
            threads: vec![thread],
        })
    }

    /// Also expose the authenticator as a USB HID security key through /dev/uhid (browsers
    /// and libfido2 on this machine see it). Fails clearly where /dev/uhid is not usable.
    pub fn expose_uhid(&mut self) -> Result<(), TerminalError> {
        let device = UhidTransport::create().map_err(TerminalError::Uhid)?;
        let (app, stop) = (Arc::clone(&self.app), Arc::clone(&self.stop));
        let thread = std::thread::Builder::new()
            .name("palmkey-uhid".into())
            .spawn(move || device.serve(app, hid::Config::default(), &stop))
            .map_err(TerminalError::Thread)?;
        self.threads.push(thread);
        Ok(())
    }

    /// Where the CTAPHID UDP transport listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new CTAPHID channel to the authenticator.
    pub fn client(&self) -> Result<Client<CtapHid>, ClientError> {
        Client::connect_udp(self.addr)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            match thread.join() {
                Ok(Err(error)) => {
                    tracing::warn!(%error, "palmkey transport stopped with an error")
                }
                Err(_) => tracing::warn!("palmkey transport thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}
