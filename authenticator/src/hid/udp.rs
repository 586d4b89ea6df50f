//! CTAPHID over UDP, the simulator convention (DESIGN.md): each datagram is exactly one
//! 64-byte report without report-ID byte, and replies go to the sender's address.
//!
//! # Traffic recording (test tool, off by default)
//! With the environment variable `PALMKEY_UDP_RECORD=DIR` set, every report received and sent
//! is appended to `DIR/udp-<pid>.txt`, one line each: `<rx|tx> <µs since bind> <peer> <hex>`.
//! `scripts/hardening/seed-corpus.py` turns such recordings of a python-fido2 run into the
//! fuzzers' seed corpora. This writes raw wire traffic, which for CTAP includes PIN-protocol
//! ciphertexts, pinUvAuthParams and credential IDs: it is for test devices and test PINs
//! only, never for a device holding real credentials. Nothing is recorded unless the
//! variable is set; a recording file that cannot be opened stops `bind` with an error rather
//! than serving silently without the recording that was asked for.

use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ctaphid::Config;
use super::packet::{Report, REPORT_SIZE};
use super::server::{self, ReportSink, ReportSource, SharedApp};

/// A bound UDP socket serving CTAPHID.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    recorder: Option<Recorder>,
}

/// Environment variable naming the folder for traffic recordings (see the module docs).
pub const RECORD_ENV: &str = "PALMKEY_UDP_RECORD";

/// Appends every report to a recording file (module docs: a test tool, off by default).
#[derive(Debug, Clone)]
struct Recorder {
    file: Arc<Mutex<File>>,
    start: Instant,
}

impl Recorder {
    /// The recorder asked for by [`RECORD_ENV`], if any.
    fn from_env() -> io::Result<Option<Recorder>> {
        let Some(dir) = std::env::var_os(RECORD_ENV).filter(|d| !d.is_empty()) else {
            return Ok(None);
        };
        Recorder::create(Path::new(&dir)).map(Some)
    }

    /// A recorder appending to `dir/udp-<pid>.txt`.
    fn create(dir: &Path) -> io::Result<Recorder> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("udp-{}.txt", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        tracing::warn!(path = %path.display(), "recording raw CTAPHID traffic (test tool)");
        Ok(Recorder {
            file: Arc::new(Mutex::new(file)),
            start: Instant::now(),
        })
    }

    /// One line per report; a failed write is logged, never fatal to serving.
    fn record(&self, direction: &str, peer: &SocketAddr, report: &Report) {
        let hex = hex::encode(report);
        let micros = self.start.elapsed().as_micros();
        let line = format!("{direction} {micros} {peer} {hex}\n");
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(err) = file.write_all(line.as_bytes()) {
            tracing::warn!(%err, "could not record a CTAPHID report");
        }
    }
}

impl UdpTransport {
    pub fn bind(addr: SocketAddr) -> io::Result<UdpTransport> {
        let socket = UdpSocket::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}")))?;
        let recorder = Recorder::from_env()?;
        Ok(UdpTransport { socket, recorder })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Serve until `stop` is set.
    pub fn serve(self, app: SharedApp, config: Config, stop: &AtomicBool) -> io::Result<()> {
        let sink = UdpSink(self.socket.try_clone()?, self.recorder.clone());
        let source = UdpSource(self.socket, self.recorder);
        server::serve(source, sink, app, config, stop)
    }
}

struct UdpSource(UdpSocket, Option<Recorder>);

impl ReportSource<SocketAddr> for UdpSource {
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<(SocketAddr, Report)>> {
        // A zero read timeout means "block forever" to the OS: wait at least 1 ms.
        self.0
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        // One byte more than a report so an oversized datagram shows up as such.
        let mut buf = [0u8; REPORT_SIZE + 1];
        match self.0.recv_from(&mut buf) {
            Ok((REPORT_SIZE, peer)) => {
                let mut report = [0u8; REPORT_SIZE];
                report.copy_from_slice(&buf[..REPORT_SIZE]);
                if let Some(recorder) = &self.1 {
                    recorder.record("rx", &peer, &report);
                }
                Ok(Some((peer, report)))
            }
            Ok((len, peer)) => {
                tracing::debug!(%peer, len, "dropping a datagram that is not one 64-byte report");
                Ok(None)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            // ICMP "port unreachable" from an earlier reply to a client that went away
            // (Linux reports it on the next receive); not our problem.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(None),
            Err(e) => Err(e),
        }
    }
}

struct UdpSink(UdpSocket, Option<Recorder>);

impl ReportSink<SocketAddr> for UdpSink {
    fn send(&self, peer: &SocketAddr, report: &Report) -> io::Result<()> {
        if let Some(recorder) = &self.1 {
            recorder.record("tx", peer, report);
        }
        self.0.send_to(report, peer).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_writes_one_line_per_report() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::create(dir.path()).unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut report = [0u8; REPORT_SIZE];
        report[0] = 0xff;
        report[63] = 0x01;
        recorder.record("rx", &peer, &report);
        recorder.record("tx", &peer, &[0u8; REPORT_SIZE]);
        let path = dir.path().join(format!("udp-{}.txt", std::process::id()));
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0][0], "rx");
        assert_eq!(lines[0][2], "127.0.0.1:5000");
        assert_eq!(lines[0][3], format!("ff{}01", "00".repeat(62)));
        assert_eq!(lines[1][0], "tx");
        assert_eq!(lines[1][3], "00".repeat(64));
    }
}
