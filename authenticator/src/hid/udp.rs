//! CTAPHID over UDP, the simulator convention (DESIGN.md): each datagram is exactly one
//! 64-byte report without report-ID byte, and replies go to the sender's address.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::ctaphid::Config;
use super::packet::{Report, REPORT_SIZE};
use super::server::{self, ReportSink, ReportSource, SharedApp};

/// A bound UDP socket serving CTAPHID.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
}

impl UdpTransport {
    pub fn bind(addr: SocketAddr) -> io::Result<UdpTransport> {
        let socket = UdpSocket::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}")))?;
        Ok(UdpTransport { socket })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Serve until `stop` is set.
    pub fn serve(self, app: SharedApp, config: Config, stop: &AtomicBool) -> io::Result<()> {
        let sink = UdpSink(self.socket.try_clone()?);
        server::serve(UdpSource(self.socket), sink, app, config, stop)
    }
}

struct UdpSource(UdpSocket);

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

struct UdpSink(UdpSocket);

impl ReportSink<SocketAddr> for UdpSink {
    fn send(&self, peer: &SocketAddr, report: &Report) -> io::Result<()> {
        self.0.send_to(report, peer).map(drop)
    }
}
