//! The device-side CTAPHID state machine (CTAP 2.1 §11.2), independent of any transport.
//!
//! [`Engine`] is fed reports ([`Engine::handle`]), the passage of time ([`Engine::poll`]) and
//! finished application work ([`Engine::complete`]); it answers with reports to send and with
//! [`Job`]s for the application, which the driver ([`super::server`]) runs on a worker thread.
//! It never blocks and never touches I/O, so every protocol rule is unit-testable.
//!
//! Rules, where the spec leaves room:
//! - One transaction at a time device-wide: from the first packet of a request until its
//!   response is sent. Init packets on other channels meanwhile get ERR_CHANNEL_BUSY;
//!   continuation packets not belonging to the transaction are ignored (answering each would
//!   queue several errors for a host that sends its whole message before reading).
//! - INIT is never busy: on the broadcast channel it allocates a channel; on an allocated
//!   channel it aborts that channel's transaction (cancelling a running request) and answers
//!   with the same channel. Only a foreign channel LOCK blocks it.
//! - CANCEL is never answered; it cancels the running request of its own channel and is
//!   ignored otherwise.
//! - MSG (CTAP1/U2F) is not implemented: INIT advertises NMSG and MSG gets ERR_INVALID_CMD,
//!   as CTAP 2.1 prescribes for NMSG devices. This is how FIDO2-only authenticators present
//!   themselves (libfido2 itself reports CBOR|NMSG for a FIDO_2_0-only NFC applet).
//!   python-fido2 2.x's `Fido2Client` only falls back to CTAP1 when CTAP2 fails, so it never
//!   sends MSG here. Advertising MSG and answering every APDU with SW_INS_NOT_SUPPORTED would
//!   instead invite U2F fallbacks (platforms probing legacy credentials) that cannot succeed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::app::InFlight;
use super::channels::{ChannelLock, Channels, DEFAULT_MAX_CHANNELS};
use super::command::{
    capability, Command, HidError, VendorCommand, INIT_NONCE_SIZE, INIT_RESPONSE_SIZE,
    PROTOCOL_VERSION,
};
use super::packet::{self, ChannelId, Packet, Progress, Reassembler, Report};

/// Tunables of the state machine.
#[derive(Debug, Clone)]
pub struct Config {
    /// Major, minor, build reported by INIT.
    pub device_version: [u8; 3],
    /// Longest wait for the next continuation packet before ERR_MSG_TIMEOUT.
    pub msg_timeout: Duration,
    /// KEEPALIVE period while a request runs. CTAP asks for one at least every 100 ms; 90 ms
    /// keeps to that without flooding a reader that is not being scheduled: every process
    /// reading a hidraw node has a 64-report buffer and the kernel drops the *newest* report
    /// past it, so keep-alives queued while a starved client does not read can push out the
    /// answer that follows them (seen with Chromium in tests/hid-vm: 82 keep-alives at the
    /// former 50 ms period in one 5.7 s palm identification, then the answer lost). A real
    /// key is polled by the host controller, which bounds this; uhid is not.
    pub keepalive_interval: Duration,
    /// Allocated channels remembered.
    pub max_channels: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            device_version: device_version(),
            msg_timeout: Duration::from_millis(500),
            keepalive_interval: KEEPALIVE_INTERVAL,
            max_channels: DEFAULT_MAX_CHANNELS,
        }
    }
}

/// The default [`Config::keepalive_interval`]: under CTAP's 100 ms with room for the sending
/// thread's scheduling delay on a busy host, and far fewer reports than 50 ms for a slow
/// reader's 64-report hidraw buffer to absorb (tests/hid-vm/README.md).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(75);
// CTAP: a keep-alive at least every 100 ms.
const _: () = assert!(KEEPALIVE_INTERVAL.as_millis() <= 100);

/// The crate version as the INIT device version triple.
fn device_version() -> [u8; 3] {
    let part = |s: &str| s.parse::<u8>().unwrap_or(0);
    [
        part(env!("CARGO_PKG_VERSION_MAJOR")),
        part(env!("CARGO_PKG_VERSION_MINOR")),
        part(env!("CARGO_PKG_VERSION_PATCH")),
    ]
}

/// Capabilities announced by INIT: WINK and CBOR, and NMSG (see the module docs).
pub const CAPABILITIES: u8 = capability::WINK | capability::CBOR | capability::NMSG;

/// Application work for the worker thread.
#[derive(Debug)]
pub struct Job {
    /// Identifies the transaction in [`Engine::complete`].
    pub id: u64,
    pub cid: ChannelId,
    pub work: Work,
    /// The request's keep-alive status and cancel flag (its [`Interaction`]).
    pub request: Arc<InFlight>,
}

#[derive(Debug)]
pub enum Work {
    /// A CTAP2 message (command byte + CBOR).
    Cbor(Vec<u8>),
    Wink,
    Vendor(VendorCommand, Vec<u8>),
}

/// How the application answered a [`Job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer with the request's command and this payload.
    Reply(Vec<u8>),
    /// Answer CTAPHID_ERROR with this code.
    Error(HidError),
}

/// What a report caused: reports to send, and at most one job to start.
#[derive(Debug)]
pub struct Outbox<P> {
    pub send: Vec<(P, Report)>,
    pub job: Option<Job>,
}

impl<P> Default for Outbox<P> {
    fn default() -> Self {
        Outbox {
            send: Vec::new(),
            job: None,
        }
    }
}

enum State<P> {
    Idle,
    /// Collecting the continuation packets of a request.
    Receiving {
        peer: P,
        partial: Reassembler,
        deadline: Instant,
    },
    /// The application works on a request.
    Busy {
        peer: P,
        cid: ChannelId,
        cmd: Command,
        id: u64,
        request: Arc<InFlight>,
        next_keepalive: Instant,
    },
}

/// The CTAPHID state machine of one transport. `P` is the transport's peer address (the UDP
/// sender; `()` for uhid): replies go to whoever sent the packet they answer.
pub struct Engine<P> {
    config: Config,
    channels: Channels,
    lock: ChannelLock,
    state: State<P>,
    next_job: u64,
}

/// Frame an ERROR response.
fn error_report(cid: ChannelId, err: HidError) -> Report {
    single_report(cid, Command::ERROR, &[err.code()])
}

/// Frame a response known to fit one report.
fn single_report(cid: ChannelId, cmd: u8, payload: &[u8]) -> Report {
    debug_assert!(payload.len() <= packet::INIT_DATA_SIZE);
    packet::fragment(cid, cmd, payload).expect("short payload")[0]
}

impl<P: Clone> Engine<P> {
    pub fn new(config: Config) -> Engine<P> {
        Engine {
            channels: Channels::new(config.max_channels),
            config,
            lock: ChannelLock::default(),
            state: State::Idle,
            next_job: 0,
        }
    }

    /// True while a request is being received or processed.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// When [`Engine::poll`] next has something to do (a keep-alive or a timeout).
    pub fn next_wakeup(&self) -> Option<Instant> {
        match &self.state {
            State::Idle => None,
            State::Receiving { deadline, .. } => Some(*deadline),
            State::Busy { next_keepalive, .. } => Some(*next_keepalive),
        }
    }

    /// Handle one report from `peer`.
    pub fn handle(&mut self, now: Instant, peer: &P, report: &Report) -> Outbox<P> {
        let mut out = Outbox::default();
        // A timed-out transaction must not make a new request look busy.
        out.send.extend(self.poll(now));
        match Packet::parse(report) {
            Packet::Cont { cid, seq, data } => self.on_cont(now, peer, cid, seq, data, &mut out),
            Packet::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => self.on_init(now, peer, cid, cmd, bcnt, data, &mut out),
        }
        out
    }

    /// Time passes: message timeouts and keep-alives.
    pub fn poll(&mut self, now: Instant) -> Vec<(P, Report)> {
        match &mut self.state {
            State::Receiving {
                peer,
                partial,
                deadline,
            } if now >= *deadline => {
                let cid = partial.cid();
                tracing::debug!(%cid, "continuation packet did not arrive in time");
                let reply = (peer.clone(), error_report(cid, HidError::MsgTimeout));
                self.state = State::Idle;
                vec![reply]
            }
            State::Busy {
                peer,
                cid,
                request,
                next_keepalive,
                ..
            } if now >= *next_keepalive => {
                *next_keepalive = now + self.config.keepalive_interval;
                let status = request.status() as u8;
                vec![(
                    peer.clone(),
                    single_report(*cid, Command::KEEPALIVE, &[status]),
                )]
            }
            _ => Vec::new(),
        }
    }

    /// The application finished job `id`. Stale results (the transaction was aborted by a
    /// channel re-INIT) are dropped.
    pub fn complete(&mut self, id: u64, outcome: Outcome) -> Vec<(P, Report)> {
        let State::Busy {
            peer,
            cid,
            cmd,
            id: busy_id,
            ..
        } = &self.state
        else {
            tracing::debug!(id, "dropping the result of an aborted request");
            return Vec::new();
        };
        if *busy_id != id {
            tracing::debug!(id, "dropping the result of an aborted request");
            return Vec::new();
        }
        let (peer, cid, cmd) = (peer.clone(), *cid, *cmd);
        self.state = State::Idle;
        let reports = match outcome {
            Outcome::Reply(payload) => match packet::fragment(cid, cmd.code(), &payload) {
                Ok(reports) => reports,
                Err(err) => {
                    tracing::warn!(%cid, %err, "response does not fit a CTAPHID message");
                    vec![error_report(cid, HidError::Other)]
                }
            },
            Outcome::Error(err) => vec![error_report(cid, err)],
        };
        reports.into_iter().map(|r| (peer.clone(), r)).collect()
    }

    /// Cancel whatever runs (shutdown).
    pub fn cancel_all(&mut self) {
        if let State::Busy { request, .. } = &self.state {
            request.cancel();
        }
    }

    fn on_cont(
        &mut self,
        now: Instant,
        peer: &P,
        cid: ChannelId,
        seq: u8,
        data: &[u8; packet::CONT_DATA_SIZE],
        out: &mut Outbox<P>,
    ) {
        let State::Receiving { partial, .. } = &self.state else {
            tracing::debug!(%cid, seq, "ignoring a continuation packet outside a transaction");
            return;
        };
        if partial.cid() != cid {
            tracing::debug!(%cid, seq, "ignoring a continuation packet of another channel");
            return;
        }
        let State::Receiving { partial, .. } = std::mem::replace(&mut self.state, State::Idle)
        else {
            unreachable!("checked above")
        };
        match partial.push(seq, data) {
            Ok(Progress::Complete(message)) => {
                self.dispatch(now, peer, message.cid, message.cmd, message.payload, out)
            }
            Ok(Progress::Partial(partial)) => {
                self.state = State::Receiving {
                    peer: peer.clone(),
                    partial,
                    deadline: now + self.config.msg_timeout,
                }
            }
            Err(err) => {
                tracing::debug!(%cid, %err, "aborting the request");
                out.send
                    .push((peer.clone(), error_report(cid, HidError::InvalidSeq)));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_init(
        &mut self,
        now: Instant,
        peer: &P,
        cid: ChannelId,
        cmd: u8,
        bcnt: u16,
        data: &[u8; packet::INIT_DATA_SIZE],
        out: &mut Outbox<P>,
    ) {
        let mut reply_error = |err: HidError| {
            tracing::debug!(%cid, cmd, ?err, "refusing a request");
            out.send.push((peer.clone(), error_report(cid, err)));
        };
        let known = self.channels.contains(cid);
        if cid == ChannelId::RESERVED
            || (cid.is_broadcast() && cmd != Command::INIT)
            || (!cid.is_broadcast() && !known)
        {
            return reply_error(HidError::InvalidChannel);
        }
        if self.lock.excludes(cid, now) {
            return reply_error(HidError::ChannelBusy);
        }
        match cmd {
            Command::INIT => return self.on_channel_init(peer, cid, bcnt, data, out),
            Command::CANCEL => return self.on_cancel(cid),
            _ => {}
        }
        match &self.state {
            State::Idle => {}
            State::Receiving { partial, .. } if partial.cid() == cid => {
                // A new request where the next continuation packet was due.
                self.state = State::Idle;
                return reply_error(HidError::InvalidSeq);
            }
            State::Receiving { .. } | State::Busy { .. } => {
                return reply_error(HidError::ChannelBusy)
            }
        }
        match Reassembler::start(cid, cmd, bcnt, data) {
            Ok(Progress::Complete(message)) => {
                self.dispatch(now, peer, cid, cmd, message.payload, out)
            }
            Ok(Progress::Partial(partial)) => {
                self.state = State::Receiving {
                    peer: peer.clone(),
                    partial,
                    deadline: now + self.config.msg_timeout,
                }
            }
            Err(_) => reply_error(HidError::InvalidLen),
        }
    }

    fn on_channel_init(
        &mut self,
        peer: &P,
        cid: ChannelId,
        bcnt: u16,
        data: &[u8; packet::INIT_DATA_SIZE],
        out: &mut Outbox<P>,
    ) {
        if usize::from(bcnt) != INIT_NONCE_SIZE {
            out.send
                .push((peer.clone(), error_report(cid, HidError::InvalidLen)));
            return;
        }
        let new_cid = if cid.is_broadcast() {
            self.channels.allocate()
        } else {
            self.abort_channel(cid);
            cid
        };
        tracing::debug!(request = %cid, channel = %new_cid, "INIT");
        let mut payload = [0u8; INIT_RESPONSE_SIZE];
        payload[..8].copy_from_slice(&data[..INIT_NONCE_SIZE]);
        payload[8..12].copy_from_slice(&new_cid.to_bytes());
        payload[12] = PROTOCOL_VERSION;
        payload[13..16].copy_from_slice(&self.config.device_version);
        payload[16] = CAPABILITIES;
        out.send
            .push((peer.clone(), single_report(cid, Command::INIT, &payload)));
    }

    /// Drop `cid`'s transaction (re-INIT on that channel): the host starts over.
    fn abort_channel(&mut self, cid: ChannelId) {
        let aborted = match &self.state {
            State::Receiving { partial, .. } => partial.cid() == cid,
            State::Busy {
                cid: busy, request, ..
            } if *busy == cid => {
                request.cancel();
                true
            }
            _ => false,
        };
        if aborted {
            tracing::debug!(%cid, "INIT aborts the channel's transaction");
            self.state = State::Idle;
        }
    }

    fn on_cancel(&mut self, cid: ChannelId) {
        match &self.state {
            State::Busy {
                cid: busy, request, ..
            } if *busy == cid => {
                tracing::debug!(%cid, "CANCEL");
                request.cancel();
            }
            State::Receiving { partial, .. } if partial.cid() == cid => {
                tracing::debug!(%cid, "CANCEL drops a partly received request");
                self.state = State::Idle;
            }
            _ => tracing::debug!(%cid, "ignoring CANCEL without a running request"),
        }
    }

    /// A complete request arrived.
    fn dispatch(
        &mut self,
        now: Instant,
        peer: &P,
        cid: ChannelId,
        code: u8,
        payload: Vec<u8>,
        out: &mut Outbox<P>,
    ) {
        let mut reply = |cmd: u8, payload: &[u8]| {
            let reports = packet::fragment(cid, cmd, payload).expect("echo fits");
            out.send
                .extend(reports.into_iter().map(|r| (peer.clone(), r)));
        };
        let (cmd, work) = match Command::from_code(code) {
            Some(Command::Ping) => return reply(Command::PING, &payload),
            Some(Command::Lock) => {
                let result = match payload[..] {
                    [seconds] => self
                        .lock
                        .request(cid, seconds, now)
                        .map_err(|_| HidError::InvalidPar),
                    _ => Err(HidError::InvalidLen),
                };
                return match result {
                    Ok(()) => reply(Command::LOCK, &[]),
                    Err(err) => reply(Command::ERROR, &[err.code()]),
                };
            }
            Some(Command::Cbor) if payload.is_empty() => {
                return reply(Command::ERROR, &[HidError::InvalidLen.code()])
            }
            Some(cmd @ Command::Cbor) => (cmd, Work::Cbor(payload)),
            Some(cmd @ Command::Wink) => (cmd, Work::Wink),
            Some(cmd @ Command::Vendor(v)) => (cmd, Work::Vendor(v, payload)),
            // MSG: NMSG device. KEEPALIVE and ERROR only travel device → host. INIT and
            // CANCEL were handled at their init packet.
            Some(_) | None => return reply(Command::ERROR, &[HidError::InvalidCmd.code()]),
        };
        self.next_job += 1;
        let request = Arc::new(InFlight::default());
        out.job = Some(Job {
            id: self.next_job,
            cid,
            work,
            request: Arc::clone(&request),
        });
        self.state = State::Busy {
            peer: peer.clone(),
            cid,
            cmd,
            id: self.next_job,
            request,
            next_keepalive: now + self.config.keepalive_interval,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::{Interaction, KeepaliveStatus};
    use crate::hid::packet::{reassemble, CONT_DATA_SIZE, INIT_DATA_SIZE, MAX_MESSAGE_SIZE};

    type TestEngine = Engine<u8>;
    const PEER: u8 = 7;

    fn engine() -> TestEngine {
        Engine::new(Config::default())
    }

    fn send_all(e: &mut TestEngine, now: Instant, reports: &[Report]) -> Outbox<u8> {
        let mut all = Outbox::default();
        for r in reports {
            let out = e.handle(now, &PEER, r);
            all.send.extend(out.send);
            if out.job.is_some() {
                all.job = out.job;
            }
        }
        all
    }

    fn request(cid: ChannelId, cmd: u8, payload: &[u8]) -> Vec<Report> {
        packet::fragment(cid, cmd, payload).unwrap()
    }

    /// The single reply report's (cid, cmd, payload).
    fn reply_of(out: &Outbox<u8>) -> (ChannelId, u8, Vec<u8>) {
        let reports: Vec<Report> = out.send.iter().map(|(_, r)| *r).collect();
        let msg = reassemble(&reports).unwrap().expect("one complete reply");
        (msg.cid, msg.cmd, msg.payload)
    }

    fn error_of(out: &Outbox<u8>) -> (ChannelId, HidError) {
        let (cid, cmd, payload) = reply_of(out);
        assert_eq!(cmd, Command::ERROR, "expected an ERROR reply");
        (cid, HidError::from_code(payload[0]))
    }

    /// The single-report message in `sent`.
    fn message_of(sent: &[(u8, Report)]) -> packet::Message {
        assert_eq!(sent.len(), 1, "one report expected");
        reassemble(&[sent[0].1]).unwrap().expect("complete message")
    }

    /// A fresh engine with one allocated channel.
    fn opened() -> (TestEngine, Instant, ChannelId) {
        let mut e = engine();
        let now = Instant::now();
        let cid = open(&mut e, now);
        (e, now, cid)
    }

    fn open(e: &mut TestEngine, now: Instant) -> ChannelId {
        let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        let out = send_all(
            e,
            now,
            &request(ChannelId::BROADCAST, Command::INIT, &nonce),
        );
        let (cid, cmd, payload) = reply_of(&out);
        assert_eq!((cid, cmd), (ChannelId::BROADCAST, Command::INIT));
        assert_eq!(payload.len(), INIT_RESPONSE_SIZE);
        assert_eq!(&payload[..8], &nonce);
        ChannelId::from_bytes(payload[8..12].try_into().unwrap())
    }

    #[test]
    fn init_allocates_and_reports_capabilities() {
        let mut e = engine();
        let now = Instant::now();
        let nonce = [9u8; 8];
        let out = send_all(
            &mut e,
            now,
            &request(ChannelId::BROADCAST, Command::INIT, &nonce),
        );
        let (_, _, payload) = reply_of(&out);
        let cid = ChannelId::from_bytes(payload[8..12].try_into().unwrap());
        assert!(!cid.is_broadcast() && cid != ChannelId::RESERVED);
        assert_eq!(payload[12], 2);
        assert_eq!(
            payload[16],
            capability::WINK | capability::CBOR | capability::NMSG
        );
        let other = open(&mut e, now);
        assert_ne!(cid, other);
    }

    #[test]
    fn init_on_own_channel_keeps_it() {
        let (mut e, now, cid) = opened();
        let out = send_all(&mut e, now, &request(cid, Command::INIT, &[5; 8]));
        let (rcid, cmd, payload) = reply_of(&out);
        assert_eq!((rcid, cmd), (cid, Command::INIT));
        assert_eq!(&payload[8..12], &cid.to_bytes());
    }

    #[test]
    fn init_with_bad_length_is_invalid_len() {
        let mut e = engine();
        let out = send_all(
            &mut e,
            Instant::now(),
            &request(ChannelId::BROADCAST, Command::INIT, &[1; 7]),
        );
        assert_eq!(error_of(&out), (ChannelId::BROADCAST, HidError::InvalidLen));
    }

    #[test]
    fn unknown_zero_and_broadcast_channels_are_invalid() {
        let mut e = engine();
        let now = Instant::now();
        for cid in [
            ChannelId(0x1234_5678),
            ChannelId::RESERVED,
            ChannelId::BROADCAST,
        ] {
            let out = send_all(&mut e, now, &request(cid, Command::PING, b"x"));
            assert_eq!(error_of(&out), (cid, HidError::InvalidChannel), "{cid}");
        }
        let out = send_all(
            &mut e,
            now,
            &request(ChannelId::RESERVED, Command::INIT, &[0; 8]),
        );
        assert_eq!(error_of(&out).1, HidError::InvalidChannel);
    }

    #[test]
    fn ping_echoes_long_messages() {
        let (mut e, now, cid) = opened();
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let out = send_all(&mut e, now, &request(cid, Command::PING, &data));
        assert_eq!(reply_of(&out), (cid, Command::PING, data));
        assert!(!e.is_busy());
    }

    #[test]
    fn max_size_ping_round_trips_and_bigger_is_invalid_len() {
        let (mut e, now, cid) = opened();
        let data = vec![0x5a; MAX_MESSAGE_SIZE];
        let out = send_all(&mut e, now, &request(cid, Command::PING, &data));
        assert_eq!(reply_of(&out).2.len(), MAX_MESSAGE_SIZE);

        let mut report = request(cid, Command::PING, &[])[0];
        report[5..7].copy_from_slice(&((MAX_MESSAGE_SIZE + 1) as u16).to_be_bytes());
        let out = e.handle(now, &PEER, &report);
        assert_eq!(error_of(&out), (cid, HidError::InvalidLen));
        assert!(!e.is_busy());
    }

    #[test]
    fn unknown_msg_keepalive_and_error_commands_are_invalid_cmd() {
        let (mut e, now, cid) = opened();
        for cmd in [0x02, 0x3a, Command::MSG, Command::KEEPALIVE, Command::ERROR] {
            let out = send_all(&mut e, now, &request(cid, cmd, &[0, 1, 2]));
            assert_eq!(error_of(&out), (cid, HidError::InvalidCmd), "cmd {cmd:#x}");
            assert!(!e.is_busy());
        }
    }

    #[test]
    fn empty_cbor_is_invalid_len() {
        let (mut e, now, cid) = opened();
        let out = send_all(&mut e, now, &request(cid, Command::CBOR, &[]));
        assert_eq!(error_of(&out), (cid, HidError::InvalidLen));
    }

    #[test]
    fn bad_sequence_is_invalid_seq_and_resets() {
        let (mut e, now, cid) = opened();
        let mut reports = request(cid, Command::PING, &[3; 200]);
        reports[1][4] = 1; // skip SEQ 0
        let out = send_all(&mut e, now, &reports[..2]);
        assert_eq!(error_of(&out), (cid, HidError::InvalidSeq));
        assert!(!e.is_busy());
        // Stray rest of the aborted message is ignored; a new request works.
        assert!(send_all(&mut e, now, &reports[2..]).send.is_empty());
        let out = send_all(&mut e, now, &request(cid, Command::PING, b"ok"));
        assert_eq!(reply_of(&out).2, b"ok");
    }

    #[test]
    fn new_init_packet_during_reassembly_is_invalid_seq() {
        let (mut e, now, cid) = opened();
        let reports = request(cid, Command::PING, &[3; 200]);
        assert!(e.handle(now, &PEER, &reports[0]).send.is_empty());
        let out = send_all(&mut e, now, &request(cid, Command::PING, b"again"));
        assert_eq!(error_of(&out), (cid, HidError::InvalidSeq));
        assert!(!e.is_busy());
    }

    #[test]
    fn missing_continuation_times_out() {
        let (mut e, now, cid) = opened();
        let reports = request(cid, Command::PING, &[3; 100]);
        assert!(e.handle(now, &PEER, &reports[0]).send.is_empty());
        assert!(e.poll(now + Duration::from_millis(499)).is_empty());
        assert_eq!(e.next_wakeup(), Some(now + Duration::from_millis(500)));
        let sent = e.poll(now + Duration::from_millis(500));
        assert_eq!(sent.len(), 1);
        let msg = message_of(&sent);
        assert_eq!(
            (msg.cid, msg.cmd, msg.payload),
            (cid, Command::ERROR, vec![HidError::MsgTimeout.code()])
        );
        assert!(!e.is_busy());
        // The late continuation is ignored.
        assert!(e
            .handle(now + Duration::from_secs(1), &PEER, &reports[1])
            .send
            .is_empty());
    }

    #[test]
    fn other_channel_is_busy_during_reassembly_and_its_continuations_ignored() {
        let (mut e, now, a) = opened();
        let b = open(&mut e, now);
        let ra = request(a, Command::PING, &[1; 100]);
        let rb = request(b, Command::PING, &[2; 100]);
        assert!(e.handle(now, &PEER, &ra[0]).send.is_empty());
        let out = e.handle(now, &PEER, &rb[0]);
        assert_eq!(error_of(&out), (b, HidError::ChannelBusy));
        assert!(e.handle(now, &PEER, &rb[1]).send.is_empty());
        let out = e.handle(now, &PEER, &ra[1]);
        assert_eq!(reply_of(&out), (a, Command::PING, vec![1; 100]));
    }

    #[test]
    fn cbor_runs_as_job_with_keepalives_and_busy_answers() {
        let mut e = engine();
        let t0 = Instant::now();
        let a = open(&mut e, t0);
        let b = open(&mut e, t0);
        let out = send_all(&mut e, t0, &request(a, Command::CBOR, &[0x04]));
        assert!(out.send.is_empty());
        let job = out.job.expect("job");
        assert!(matches!(&job.work, Work::Cbor(m) if m == &[0x04]));

        // Another channel is busy; broadcast INIT still works.
        let out = send_all(&mut e, t0, &request(b, Command::PING, b"hi"));
        assert_eq!(error_of(&out), (b, HidError::ChannelBusy));
        let out = send_all(&mut e, t0, &request(a, Command::PING, b"hi"));
        assert_eq!(error_of(&out), (a, HidError::ChannelBusy));
        open(&mut e, t0);

        // Keep-alives carry the request's status.
        let period = KEEPALIVE_INTERVAL;
        assert!(e.poll(t0 + period - Duration::from_millis(1)).is_empty());
        let ka = e.poll(t0 + period);
        assert_eq!(message_of(&ka).payload, vec![1]);
        // The next one is a full period after the last, not sooner.
        assert!(e
            .poll(t0 + 2 * period - Duration::from_millis(1))
            .is_empty());
        job.request.set_status(KeepaliveStatus::UpNeeded);
        let ka = e.poll(t0 + 2 * period);
        let msg = message_of(&ka);
        assert_eq!(
            (msg.cid, msg.cmd, msg.payload),
            (a, Command::KEEPALIVE, vec![2])
        );

        let sent = e.complete(job.id, Outcome::Reply(vec![0, 0xa0]));
        let msg = message_of(&sent);
        assert_eq!(
            (msg.cid, msg.cmd, msg.payload),
            (a, Command::CBOR, vec![0, 0xa0])
        );
        assert!(!e.is_busy());
        assert!(e.poll(t0 + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn cancel_marks_only_own_request() {
        let (mut e, now, a) = opened();
        let b = open(&mut e, now);
        let job = send_all(&mut e, now, &request(a, Command::CBOR, &[0x01, 0xa0]))
            .job
            .unwrap();
        // CANCEL from another channel: ignored, not even CHANNEL_BUSY.
        assert!(send_all(&mut e, now, &request(b, Command::CANCEL, &[]))
            .send
            .is_empty());
        assert!(!job.request.is_cancelled());
        assert!(send_all(&mut e, now, &request(a, Command::CANCEL, &[]))
            .send
            .is_empty());
        assert!(job.request.is_cancelled());
        // The app answers (KEEPALIVE_CANCEL) and that answer is delivered.
        let sent = e.complete(job.id, Outcome::Reply(vec![0x2d]));
        assert_eq!(message_of(&sent).payload, vec![0x2d]);
    }

    #[test]
    fn cancel_without_request_is_ignored() {
        let (mut e, now, a) = opened();
        assert!(send_all(&mut e, now, &request(a, Command::CANCEL, &[]))
            .send
            .is_empty());
        assert!(!e.is_busy());
    }

    #[test]
    fn reinit_aborts_running_request_and_drops_its_result() {
        let (mut e, now, a) = opened();
        let job = send_all(&mut e, now, &request(a, Command::CBOR, &[0x04]))
            .job
            .unwrap();
        let out = send_all(&mut e, now, &request(a, Command::INIT, &[4; 8]));
        assert_eq!(reply_of(&out).1, Command::INIT);
        assert!(job.request.is_cancelled());
        assert!(!e.is_busy());
        assert!(e.complete(job.id, Outcome::Reply(vec![0])).is_empty());
    }

    #[test]
    fn vendor_and_wink_become_jobs_and_errors_are_relayed() {
        let (mut e, now, a) = opened();
        let job = send_all(&mut e, now, &request(a, 0x51, b"\xa0"))
            .job
            .unwrap();
        assert!(matches!(&job.work, Work::Vendor(v, p) if v.code() == 0x51 && p == b"\xa0"));
        let sent = e.complete(job.id, Outcome::Error(HidError::InvalidPar));
        let msg = message_of(&sent);
        assert_eq!((msg.cmd, msg.payload), (Command::ERROR, vec![0x02]));

        let job = send_all(&mut e, now, &request(a, Command::WINK, &[]))
            .job
            .unwrap();
        assert!(matches!(job.work, Work::Wink));
        let sent = e.complete(job.id, Outcome::Reply(vec![]));
        assert_eq!(message_of(&sent).cmd, Command::WINK);
    }

    #[test]
    fn oversized_response_becomes_error_other() {
        let (mut e, now, a) = opened();
        let job = send_all(&mut e, now, &request(a, Command::CBOR, &[0x04]))
            .job
            .unwrap();
        let sent = e.complete(job.id, Outcome::Reply(vec![0; MAX_MESSAGE_SIZE + 1]));
        let msg = message_of(&sent);
        assert_eq!(
            (msg.cmd, msg.payload),
            (Command::ERROR, vec![HidError::Other.code()])
        );
    }

    #[test]
    fn lock_excludes_other_channels_until_released_or_expired() {
        let mut e = engine();
        let t0 = Instant::now();
        let a = open(&mut e, t0);
        let b = open(&mut e, t0);
        let out = send_all(&mut e, t0, &request(a, Command::LOCK, &[2]));
        assert_eq!(reply_of(&out), (a, Command::LOCK, vec![]));
        let out = send_all(&mut e, t0, &request(b, Command::PING, b"x"));
        assert_eq!(error_of(&out), (b, HidError::ChannelBusy));
        let out = send_all(
            &mut e,
            t0,
            &request(ChannelId::BROADCAST, Command::INIT, &[0; 8]),
        );
        assert_eq!(
            error_of(&out),
            (ChannelId::BROADCAST, HidError::ChannelBusy)
        );
        let out = send_all(&mut e, t0, &request(a, Command::PING, b"x"));
        assert_eq!(reply_of(&out).1, Command::PING);
        // Expired after 2 s.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(
            reply_of(&send_all(&mut e, t2, &request(b, Command::PING, b"x"))).1,
            Command::PING
        );
        // Released by LOCK 0.
        send_all(&mut e, t2, &request(a, Command::LOCK, &[10]));
        send_all(&mut e, t2, &request(a, Command::LOCK, &[0]));
        assert_eq!(
            reply_of(&send_all(&mut e, t2, &request(b, Command::PING, b"x"))).1,
            Command::PING
        );
    }

    #[test]
    fn lock_parameter_errors() {
        let (mut e, now, a) = opened();
        let out = send_all(&mut e, now, &request(a, Command::LOCK, &[11]));
        assert_eq!(error_of(&out), (a, HidError::InvalidPar));
        let out = send_all(&mut e, now, &request(a, Command::LOCK, &[1, 2]));
        assert_eq!(error_of(&out), (a, HidError::InvalidLen));
    }

    #[test]
    fn replies_go_to_the_sender() {
        let (mut e, now, a) = opened();
        let out = e.handle(now, &42, &request(a, Command::PING, b"x")[0]);
        assert_eq!(out.send[0].0, 42);
    }

    #[test]
    fn reassembly_uses_every_continuation_byte() {
        let (mut e, now, a) = opened();
        let data: Vec<u8> = (0..(INIT_DATA_SIZE + 2 * CONT_DATA_SIZE))
            .map(|i| i as u8)
            .collect();
        let job = send_all(&mut e, now, &request(a, Command::CBOR, &data))
            .job
            .unwrap();
        assert!(matches!(job.work, Work::Cbor(m) if m == data));
    }
}
