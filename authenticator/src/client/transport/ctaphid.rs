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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::hid::packet::Report;

    /// A scripted device: `answer` sees each sent report and returns the reports to queue.
    struct Scripted<F> {
        answer: Mutex<F>,
        queue: Mutex<VecDeque<Report>>,
        sent: Arc<Mutex<Vec<Report>>>,
    }

    impl<F: FnMut(&Report) -> Vec<Report> + Send> ReportIo for Scripted<F> {
        fn send(&self, report: &Report) -> Result<(), TransportError> {
            self.sent.lock().unwrap().push(*report);
            let replies = (self.answer.lock().unwrap())(report);
            self.queue.lock().unwrap().extend(replies);
            Ok(())
        }
        fn recv(&self, _timeout: Duration) -> Result<Option<Report>, TransportError> {
            Ok(self.queue.lock().unwrap().pop_front())
        }
    }

    const CID: ChannelId = ChannelId(0x0a0b_0c0d);

    fn frame(cid: ChannelId, cmd: u8, payload: &[u8]) -> Vec<Report> {
        packet::fragment(cid, cmd, payload).unwrap()
    }

    fn init_reply(request: &Report, cid: ChannelId, caps: u8) -> Report {
        let mut payload = request[7..15].to_vec();
        payload.extend_from_slice(&cid.to_bytes());
        payload.extend_from_slice(&[2, 1, 2, 3, caps]);
        frame(ChannelId::BROADCAST, Command::INIT, &payload)[0]
    }

    /// Connect to a device that answers INIT properly and then runs `after_init`.
    fn connect_with(
        mut after_init: impl FnMut(&Report) -> Vec<Report> + Send + 'static,
    ) -> (Result<CtapHid, TransportError>, Arc<Mutex<Vec<Report>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let io = Scripted {
            answer: Mutex::new(move |r: &Report| match Packet::parse(r) {
                Packet::Init {
                    cid,
                    cmd: Command::INIT,
                    ..
                } if cid.is_broadcast() => {
                    // A foreign INIT answer (other nonce) first: must be skipped.
                    let mut foreign = init_reply(r, ChannelId(5), 0);
                    foreign[7] ^= 0xff;
                    vec![
                        foreign,
                        init_reply(r, CID, capability::CBOR | capability::NMSG),
                    ]
                }
                _ => after_init(r),
            }),
            queue: Mutex::new(VecDeque::new()),
            sent: Arc::clone(&sent),
        };
        let conn = CtapHid::connect_with_timeout(Box::new(io), Duration::from_millis(50));
        (conn, sent)
    }

    #[test]
    fn init_checks_nonce_and_reads_capabilities() {
        let (conn, _) = connect_with(|_| vec![]);
        let conn = conn.unwrap();
        assert_eq!(conn.cid(), CID);
        assert_eq!(conn.info().device_version, [1, 2, 3]);
        assert!(conn.info().supports_cbor() && !conn.info().supports_msg());
        assert!(!conn.info().supports_wink());
    }

    #[test]
    fn init_without_answer_times_out() {
        let io = Scripted {
            answer: Mutex::new(|_: &Report| Vec::new()),
            queue: Mutex::new(VecDeque::new()),
            sent: Arc::new(Mutex::new(Vec::new())),
        };
        let err = CtapHid::connect_with_timeout(Box::new(io), Duration::from_millis(20));
        assert!(matches!(err, Err(TransportError::Timeout)));
    }

    #[test]
    fn cbor_skips_foreign_traffic_and_reports_keepalives() {
        let (conn, _) = connect_with(|r| {
            let mut out = frame(ChannelId(77), Command::CBOR, &[0xee]); // another channel
            out.extend(frame(CID, Command::KEEPALIVE, &[1]));
            out.extend(frame(CID, Command::KEEPALIVE, &[2]));
            let Packet::Init { bcnt, .. } = Packet::parse(r) else {
                return vec![];
            };
            out.extend(frame(
                CID,
                Command::CBOR,
                &vec![0u8; 100 + usize::from(bcnt)],
            ));
            out
        });
        let mut conn = conn.unwrap();
        let mut statuses = Vec::new();
        let response = conn
            .cbor_with_status(&[4], &mut |s| statuses.push(s))
            .unwrap();
        assert_eq!(response.len(), 101);
        assert_eq!(
            statuses,
            [KeepaliveStatus::Processing, KeepaliveStatus::UpNeeded]
        );
    }

    #[test]
    fn error_reply_is_a_device_error() {
        let (conn, _) =
            connect_with(|_| frame(CID, Command::ERROR, &[HidError::ChannelBusy.code()]));
        let err = conn.unwrap().cbor(&[4]).unwrap_err();
        assert!(matches!(err, TransportError::Device(HidError::ChannelBusy)));
    }

    #[test]
    fn wrong_reply_command_is_a_protocol_error() {
        let (conn, _) = connect_with(|_| frame(CID, Command::PING, &[0]));
        assert!(matches!(
            conn.unwrap().cbor(&[4]),
            Err(TransportError::Protocol(_))
        ));
    }

    #[test]
    fn bad_sequence_in_reply_is_a_frame_error() {
        let (conn, _) = connect_with(|_| {
            let mut out = frame(CID, Command::CBOR, &[0; 200]);
            out.remove(1);
            out
        });
        assert!(matches!(
            conn.unwrap().cbor(&[4]),
            Err(TransportError::Frame(_))
        ));
    }

    #[test]
    fn silence_is_a_timeout() {
        let (conn, _) = connect_with(|_| vec![]);
        assert!(matches!(
            conn.unwrap().cbor(&[4]),
            Err(TransportError::Timeout)
        ));
    }

    #[test]
    fn cancel_token_sends_cancel_on_the_channel() {
        let (conn, sent) = connect_with(|r| match Packet::parse(r) {
            Packet::Init {
                cmd: Command::CANCEL,
                ..
            } => frame(CID, Command::CBOR, &[0x2d]),
            _ => frame(CID, Command::KEEPALIVE, &[2]),
        });
        let mut conn = conn.unwrap();
        let token = conn.cancel_token();
        let response = conn
            .cbor_with_status(&[1, 0xa0], &mut |_| token.cancel())
            .unwrap();
        assert_eq!(response, vec![0x2d]);
        let sent = sent.lock().unwrap();
        let last = Packet::parse(sent.last().unwrap());
        assert!(matches!(
            last,
            Packet::Init {
                cid: CID,
                cmd: Command::CANCEL,
                bcnt: 0,
                ..
            }
        ));
    }

    #[test]
    fn vendor_rejects_non_vendor_codes() {
        let (conn, _) = connect_with(|_| vec![]);
        assert!(matches!(
            conn.unwrap().vendor(0x10, &[]),
            Err(TransportError::Protocol(_))
        ));
    }
}
