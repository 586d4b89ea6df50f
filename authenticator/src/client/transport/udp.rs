//! Reports over UDP, the simulator convention: one datagram is one 64-byte report.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::{ReportIo, TransportError};
use crate::hid::packet::{Report, REPORT_SIZE};

/// A UDP socket connected to a `palmkey serve --udp ADDR` authenticator.
#[derive(Debug)]
pub struct UdpReports {
    socket: UdpSocket,
}

impl UdpReports {
    /// Bind an ephemeral local port of the same address family and connect it to `device`,
    /// so only the device's datagrams are received.
    pub fn connect(device: SocketAddr) -> Result<UdpReports, TransportError> {
        let local: SocketAddr = match device {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(device)?;
        Ok(UdpReports { socket })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        Ok(self.socket.local_addr()?)
    }
}

impl ReportIo for UdpReports {
    fn send(&self, report: &Report) -> Result<(), TransportError> {
        self.socket.send(report)?;
        Ok(())
    }

    fn recv(&self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let deadline = Instant::now() + timeout;
        // One byte larger than a report, so an oversized datagram is recognised, not truncated.
        let mut buf = [0u8; REPORT_SIZE + 1];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket.set_read_timeout(Some(left))?;
            match self.socket.recv(&mut buf) {
                Ok(REPORT_SIZE) => {
                    let mut report = [0u8; REPORT_SIZE];
                    report.copy_from_slice(&buf[..REPORT_SIZE]);
                    return Ok(Some(report));
                }
                Ok(len) => tracing::debug!(len, "dropping datagram that is not one 64-byte report"),
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                // A previous send hit a closed port (ICMP unreachable): nobody is listening.
                Err(err) if err.kind() == ErrorKind::ConnectionRefused => return Err(err.into()),
                Err(err) => return Err(err.into()),
            }
        }
    }
}
