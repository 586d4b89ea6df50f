//! The relying-party server under test: this package's real binary, started on a free
//! loopback port with a throw-away data folder, stopped (SIGTERM, then kill) on drop.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub origin: String,
    _data: tempfile::TempDir,
}

impl Server {
    /// Start the server; `extra` are additional command-line flags.
    pub fn start(extra: &[String]) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let origin = format!("http://localhost:{port}");
        let data = tempfile::tempdir()?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_relying-party-demo"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--origin")
            .arg(&origin)
            .arg("--data-dir")
            .arg(data.path())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting relying-party-demo")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        // Keep its stdout drained (a closed pipe would fail its later prints).
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        if !line.contains("listening on") {
            let _ = child.kill();
            bail!("relying-party-demo did not start (said {line:?})");
        }
        Ok(Server {
            child,
            addr,
            origin,
            _data: data,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets it finish in-flight requests and close the database cleanly.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
