//! A CTAPHID connection: one allocated channel on one authenticator.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::{HidReports, ReportIo, TransportError, UdpReports};
use crate::ctap::KeepaliveStatus;
use crate::hid::command::{capability, INIT_NONCE_SIZE, INIT_RESPONSE_SIZE};
use crate::hid::packet::{self, ChannelId, Packet, Progress, Reassembler};
use crate::hid::{Command, HidError, VendorCommand};

/// Longest silence accepted from the device. The authenticator sends KEEPALIVE at least every
/// 100 ms while it works, so seconds of silence mean it is gone.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the authenticator said about itself in its INIT response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitInfo {
    pub cid: ChannelId,
    pub protocol_version: u8,
    /// Major, minor, build.
    pub device_version: [u8; 3],
    pub capabilities: u8,
}

impl InitInfo {
    pub fn supports_cbor(&self) -> bool {
        self.capabilities & capability::CBOR != 0
    }
    pub fn supports_wink(&self) -> bool {
        self.capabilities & capability::WINK != 0
    }
    /// False when the device set NMSG (no CTAP1/U2F).
    pub fn supports_msg(&self) -> bool {
        self.capabilities & capability::NMSG == 0
    }
}

/// Cancels the request a [`CtapHid`] is waiting on, from any thread: the connection sends
/// CTAPHID_CANCEL at its next wake-up (≤ 100 ms, the keep-alive period) and then returns the
/// authenticator's answer (normally status CTAP2_ERR_KEEPALIVE_CANCEL).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// One CTAPHID channel on one authenticator.
pub struct CtapHid {
    io: Box<dyn ReportIo>,
    info: InitInfo,
    timeout: Duration,
    cancel: CancelToken,
}

impl std::fmt::Debug for CtapHid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtapHid")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl CtapHid {
    /// Allocate a channel with CTAPHID_INIT on the broadcast channel.
    pub fn connect(io: Box<dyn ReportIo>) -> Result<CtapHid, TransportError> {
        Self::connect_with_timeout(io, DEFAULT_TIMEOUT)
    }

    pub fn connect_with_timeout(
        io: Box<dyn ReportIo>,
        timeout: Duration,
    ) -> Result<CtapHid, TransportError> {
        let info = init(io.as_ref(), ChannelId::BROADCAST, timeout)?;
        Ok(CtapHid {
            io,
            info,
            timeout,
            cancel: CancelToken::default(),
        })
    }

    /// Connect to a `palmkey serve` simulator over UDP.
    pub fn connect_udp(device: SocketAddr) -> Result<CtapHid, TransportError> {
        Self::connect(Box::new(UdpReports::connect(device)?))
    }

    /// Connect to the first FIDO HID device (usage page 0xF1D0).
    pub fn connect_first_hid() -> Result<CtapHid, TransportError> {
        Self::connect(Box::new(HidReports::open_first()?))
    }

    pub fn info(&self) -> &InitInfo {
        &self.info
    }

    pub fn cid(&self) -> ChannelId {
        self.info.cid
    }

    /// Longest silence accepted from the device before [`TransportError::Timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// A handle that cancels the request in progress (see [`CancelToken`]).
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Re-synchronise this channel (CTAPHID_INIT on our own CID): the device aborts whatever
    /// it was doing for us and keeps the channel.
    pub fn resync(&mut self) -> Result<(), TransportError> {
        let info = init(self.io.as_ref(), self.info.cid, self.timeout)?;
        if info.cid != self.info.cid {
            return Err(TransportError::Protocol(format!(
                "resync on {} answered with channel {}",
                self.info.cid, info.cid
            )));
        }
        self.info = info;
        Ok(())
    }

    /// Send a CTAP2 request (command byte + CBOR) and return the response (status byte +
    /// CBOR). KEEPALIVEs are absorbed.
    pub fn cbor(&mut self, request: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.cbor_with_status(request, &mut |_| {})
    }

    /// Like [`CtapHid::cbor`], reporting each KEEPALIVE status (e.g. "touch the sensor").
    pub fn cbor_with_status(
        &mut self,
        request: &[u8],
        on_status: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, TransportError> {
        self.call(Command::Cbor, request, on_status)
    }

    /// Send CTAPHID_CANCEL now (no answer is expected: the pending request answers).
    pub fn cancel(&mut self) -> Result<(), TransportError> {
        self.send(Command::Cancel, &[])
    }

    /// Echo `data` through the device's transport layer.
    pub fn ping(&mut self, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        let echo = self.call(Command::Ping, data, &mut |_| {})?;
        if echo != data {
            return Err(TransportError::Protocol("PING echo differs".into()));
        }
        Ok(echo)
    }

    /// Ask the device to identify itself visibly.
    pub fn wink(&mut self) -> Result<(), TransportError> {
        self.call(Command::Wink, &[], &mut |_| {}).map(drop)
    }

    /// Lock the device to this channel for `seconds` (1..=10); 0 releases the lock.
    pub fn lock(&mut self, seconds: u8) -> Result<(), TransportError> {
        self.call(Command::Lock, &[seconds], &mut |_| {}).map(drop)
    }

    /// A vendor command (0x40..=0x7f), e.g. 0x51 simulated sensor control.
    pub fn vendor(&mut self, cmd: u8, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        let cmd = VendorCommand::new(cmd).ok_or_else(|| {
            TransportError::Protocol(format!("{cmd:#04x} is not a vendor command"))
        })?;
        self.call(Command::Vendor(cmd), payload, &mut |_| {})
    }

    /// Send any CTAPHID command and wait for the answer with the same command byte.
    pub fn call(
        &mut self,
        cmd: Command,
        payload: &[u8],
        on_status: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, TransportError> {
        self.cancel.take(); // a cancel meant for an earlier request must not hit this one
        self.send(cmd, payload)?;
        self.receive(cmd, on_status)
    }

    fn send(&self, cmd: Command, payload: &[u8]) -> Result<(), TransportError> {
        for report in packet::fragment(self.info.cid, cmd.code(), payload)? {
            self.io.send(&report)?;
        }
        Ok(())
    }

    fn receive(
        &mut self,
        cmd: Command,
        on_status: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, TransportError> {
        let cid = self.info.cid;
        let mut partial: Option<Reassembler> = None;
        let mut deadline = Instant::now() + self.timeout;
        // Wake at least this often to notice a CancelToken even if keep-alives stall.
        let tick = Duration::from_millis(100);
        loop {
            if self.cancel.take() {
                self.send(Command::Cancel, &[])?;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout);
            }
            let Some(report) = self.io.recv(left.min(tick))? else {
                continue;
            };
            let packet = Packet::parse(&report);
            if packet.cid() != cid {
                continue; // another application's traffic (HID broadcasts to every reader)
            }
            deadline = Instant::now() + self.timeout;
            let progress = match (packet, partial.take()) {
                (Packet::Init { cmd: c, data, .. }, None) if c == Command::KEEPALIVE => {
                    match data[0] {
                        1 => on_status(KeepaliveStatus::Processing),
                        2 => on_status(KeepaliveStatus::UpNeeded),
                        other => tracing::debug!(status = other, "unknown KEEPALIVE status"),
                    }
                    continue;
                }
                (Packet::Init { cmd: c, data, .. }, None) if c == Command::ERROR => {
                    return Err(TransportError::Device(HidError::from_code(data[0])));
                }
                (
                    Packet::Init {
                        cmd: c, bcnt, data, ..
                    },
                    None,
                ) if c == cmd.code() => Reassembler::start(cid, c, bcnt, data)?,
                (Packet::Init { cmd: c, .. }, _) => {
                    return Err(TransportError::Protocol(format!(
                        "answer command {c:#04x} to request {:#04x}",
                        cmd.code()
                    )))
                }
                (Packet::Cont { seq, data, .. }, Some(r)) => r.push(seq, data)?,
                (Packet::Cont { .. }, None) => continue, // stray tail of an abandoned answer
            };
            match progress {
                Progress::Complete(message) => return Ok(message.payload),
                Progress::Partial(r) => partial = Some(r),
            }
        }
    }
}

/// CTAPHID_INIT on `cid` with a fresh nonce; answers with other nonces are someone else's.
fn init(io: &dyn ReportIo, cid: ChannelId, timeout: Duration) -> Result<InitInfo, TransportError> {
    let mut nonce = [0u8; INIT_NONCE_SIZE];
    rand::thread_rng().fill_bytes(&mut nonce);
    for report in packet::fragment(cid, Command::INIT, &nonce)? {
        io.send(&report)?;
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TransportError::Timeout);
        }
        let Some(report) = io.recv(left)? else {
            continue;
        };
        let Packet::Init {
            cid: rcid,
            cmd,
            bcnt,
            data,
        } = Packet::parse(&report)
        else {
            continue;
        };
        if rcid != cid {
            continue;
        }
        match cmd {
            Command::ERROR => return Err(TransportError::Device(HidError::from_code(data[0]))),
            Command::INIT if data[..INIT_NONCE_SIZE] == nonce => {
                if usize::from(bcnt) < INIT_RESPONSE_SIZE {
                    return Err(TransportError::Protocol(format!(
                        "INIT answer of {bcnt} bytes"
                    )));
                }
                let new_cid = ChannelId::from_bytes(data[8..12].try_into().expect("4 bytes"));
                if new_cid.is_broadcast() || new_cid == ChannelId::RESERVED {
                    return Err(TransportError::Protocol(format!(
                        "allocated channel {new_cid}"
                    )));
                }
                return Ok(InitInfo {
                    cid: new_cid,
                    protocol_version: data[12],
                    device_version: [data[13], data[14], data[15]],
                    capabilities: data[16],
                });
            }
            _ => continue, // an answer to another host's INIT
        }
    }
}
