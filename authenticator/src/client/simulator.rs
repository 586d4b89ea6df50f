//! Run `palmkey serve` as a child process on a free UDP port: used by the integration tests,
//! `palmkey bench` and anyone who wants a throw-away simulator to talk to.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::transport::CtapHid;
use super::{Client, Result};

/// How long `palmkey serve` may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The line `palmkey serve` prints once it accepts packets (DESIGN.md contract).
const READY_PREFIX: &str = "palmkey ready udp=";

/// A `palmkey serve` child process. Dropping it kills the process.
#[derive(Debug)]
pub struct Simulator {
    child: Child,
    addr: SocketAddr,
    state: PathBuf,
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("starting {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("finding a free UDP port: {0}")]
    Port(std::io::Error),
    #[error("palmkey serve exited before it was ready ({0})")]
    Exited(String),
    #[error("palmkey serve printed no ready line within {0:?}")]
    NotReady(Duration),
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Simulator {
    /// Start `binary serve --state STATE --udp 127.0.0.1:<free port> [extra...]` and wait for
    /// its ready line. Its log (stderr) is discarded unless `PALMKEY_TEST_LOG` is set.
    pub fn start(binary: &Path, state: &Path, extra: &[&str]) -> Result<Self, SimulatorError> {
        let port = free_udp_port().map_err(SimulatorError::Port)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stderr = if std::env::var_os("PALMKEY_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--state")
            .arg(state)
            .arg("--udp")
            .arg(addr.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|source| SimulatorError::Spawn {
                binary: binary.to_owned(),
                source,
            })?;

        // Read stdout on a thread for the whole life of the child so it never blocks on a
        // full pipe; the first ready line is reported back.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(READY_PREFIX) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        let mut sim = Simulator {
            child,
            addr,
            state: state.to_owned(),
        };
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(()) => Ok(sim),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = sim.child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(SimulatorError::Exited(status))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(SimulatorError::NotReady(READY_TIMEOUT)),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new CTAPHID channel to the simulator with a typed client on it.
    pub fn client(&self) -> Result<Client<CtapHid>> {
        Client::connect_udp(self.addr)
    }

    /// SIGKILL the process (no chance to flush anything) and reap it; returns how it ended
    /// (`None` when it was already reaped).
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
