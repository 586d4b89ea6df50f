//! A palmkey authenticator running inside this process, served over the CTAPHID UDP
//! simulator transport on a free localhost port: the "palm terminal" of the demo and tests.
//! It is the real authenticator (CTAP core, encrypted state, UDP transport); only user
//! presence is auto-approved, as in `palmkey serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use palmkey::client::transport::CtapHid;
use palmkey::client::{Client, ClientError};
use palmkey::ctap::{self, user::AutoApprove, Authenticator};
use palmkey::hid::{self, SharedApp, UdpTransport};
use palmkey::store::{KeySource, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("opening the authenticator state in {dir}: {source}")]
    State { dir: PathBuf, source: StoreError },
    #[error("binding the CTAPHID UDP transport: {0}")]
    Bind(std::io::Error),
    #[error("starting the transport thread: {0}")]
    Thread(std::io::Error),
}

/// The running authenticator; dropping it stops the transport thread.
pub struct Terminal {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Terminal {
    /// Open (or create, factory-fresh) the authenticator state in `state`, sealed by the
    /// master key in `key_file` (kept outside the state folder), and serve it on
    /// 127.0.0.1 at a free UDP port.
    pub fn start(state: &Path, key_file: &Path) -> Result<Self, TerminalError> {
        let store =
            Store::open_with(state, &KeySource::File(key_file.to_owned())).map_err(|source| {
                TerminalError::State {
                    dir: state.to_owned(),
                    source,
                }
            })?;
        let authenticator =
            Authenticator::new(store, Box::new(AutoApprove), ctap::Config::default());
        let app: SharedApp = Arc::new(Mutex::new(authenticator));
        let udp = UdpTransport::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(TerminalError::Bind)?;
        let addr = udp.local_addr().map_err(TerminalError::Bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("palmkey-udp".into())
            .spawn(move || udp.serve(app, hid::Config::default(), &thread_stop))
            .map_err(TerminalError::Thread)?;
        Ok(Terminal {
            addr,
            stop,
            thread: Some(thread),
        })
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
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Err(error)) => {
                    tracing::warn!(%error, "palmkey UDP transport stopped with an error")
                }
                Err(_) => tracing::warn!("palmkey UDP transport thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}
