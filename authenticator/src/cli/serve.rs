//! `palmkey serve`: the authenticator process.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Sensor: `sim` is the simulated palm sensor controlled by vendor command 0x51.
    #[arg(long)]
    pub sensor: Option<String>,
    /// Dataset folder for the simulated sensor's `dataset` mode.
    #[arg(long)]
    pub sim_dataset: Option<PathBuf>,
    /// Append CloudEvents (one JSON per line) to this file.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Also POST each CloudEvent to this URL.
    #[arg(long)]
    pub webhook: Option<String>,
}

pub fn run(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("serve: not wired yet")
}
