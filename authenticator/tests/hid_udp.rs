//! CTAPHID over a real UDP socket: the device-side server with a mock application, driven by
//! the host-side `CtapHid` and by hand-made reports.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use palmkey::client::transport::{CtapHid, TransportError};
use palmkey::ctap::{Interaction, KeepaliveStatus};
use palmkey::hid::ctaphid::KEEPALIVE_INTERVAL;
use palmkey::hid::packet::{self, ChannelId, Packet, Report, REPORT_SIZE};
use palmkey::hid::{App, Command, Config, HidError, UdpTransport, VendorCommand};

/// Command byte of the mock's slow request: waits for the user until cancelled or
/// `payload[1]` × 10 ms passed.
const SLOW: u8 = 0x41;
/// Command byte on which the mock panics, like a bug in a command handler.
const PANIC: u8 = 0x42;

#[derive(Default)]
struct Seen {
    cancelled: AtomicBool,
    requests: AtomicUsize,
}

struct MockApp {
    seen: Arc<Seen>,
}

impl App for MockApp {
    fn cbor(&mut self, request: &[u8], io: &dyn Interaction) -> Vec<u8> {
        self.seen.requests.fetch_add(1, Ordering::SeqCst);
        match request[0] {
            SLOW => {
                io.set_status(KeepaliveStatus::UpNeeded);
                let until = Instant::now() + Duration::from_millis(10 * u64::from(request[1]));
                while Instant::now() < until {
                    if io.is_cancelled() {
                        self.seen.cancelled.store(true, Ordering::SeqCst);
                        return vec![0x2d]; // CTAP2_ERR_KEEPALIVE_CANCEL
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                vec![0x00]
            }
            PANIC => panic!("mock application bug"),
            // Echo the CBOR with a success status.
            _ => [&[0u8][..], &request[1..]].concat(),
        }
    }

    fn vendor(&mut self, cmd: VendorCommand, payload: &[u8]) -> Option<Result<Vec<u8>, HidError>> {
        match cmd.code() {
            0x51 if payload == b"bad" => Some(Err(HidError::InvalidPar)),
            0x51 => Some(Ok(Vec::new())),
            _ => None,
        }
    }
}

struct Device {
    addr: SocketAddr,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Device {
    fn start() -> Device {
        let seen = Arc::new(Seen::default());
        let app = Arc::new(Mutex::new(MockApp {
            seen: Arc::clone(&seen),
        }));
        let transport = UdpTransport::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = transport.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let config = Config {
            msg_timeout: Duration::from_millis(200),
            ..Config::default()
        };
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || transport.serve(app, config, &stop))
        };
        Device {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> CtapHid {
        CtapHid::connect_udp(self.addr).unwrap()
    }

    /// A raw socket for hand-made reports.
    fn raw(&self) -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(self.addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

fn recv(socket: &UdpSocket) -> Report {
    let mut report = [0u8; REPORT_SIZE];
    let n = socket.recv(&mut report).expect("a report in time");
    assert_eq!(n, REPORT_SIZE);
    report
}

/// Allocate a channel on a raw socket.
fn raw_init(socket: &UdpSocket) -> ChannelId {
    let nonce = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    socket
        .send(&packet::fragment(ChannelId::BROADCAST, Command::INIT, &nonce).unwrap()[0])
        .unwrap();
    let reply = recv(socket);
    let Packet::Init {
        cid,
        cmd,
        bcnt,
        data,
    } = Packet::parse(&reply)
    else {
        panic!("init packet expected")
    };
    assert_eq!((cid, cmd, bcnt), (ChannelId::BROADCAST, Command::INIT, 17));
    assert_eq!(&data[..8], &nonce);
    ChannelId::from_bytes(data[8..12].try_into().unwrap())
}

fn expect_error(socket: &UdpSocket, cid: ChannelId, err: HidError) {
    let reply = recv(socket);
    match Packet::parse(&reply) {
        Packet::Init {
            cid: c,
            cmd: Command::ERROR,
            data,
            ..
        } => {
            assert_eq!((c, HidError::from_code(data[0])), (cid, err))
        }
        other => panic!("expected ERROR {err:?}, got {other:?}"),
    }
}

#[test]
fn broadcast_init_ping_wink_and_cbor() {
    let dev = Device::start();
    let mut a = dev.connect();
    let mut b = dev.connect();
    assert_ne!(a.cid(), b.cid());
    assert!(a.info().supports_cbor() && a.info().supports_wink() && !a.info().supports_msg());
    assert_eq!(a.info().protocol_version, 2);
    let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(a.ping(&big).unwrap(), big);
    a.wink().unwrap();
    assert_eq!(b.cbor(&[0x04, 0xa0]).unwrap(), vec![0x00, 0xa0]);
    assert_eq!(a.vendor(0x51, b"ok").unwrap(), Vec::<u8>::new());
    assert!(matches!(
        a.vendor(0x51, b"bad"),
        Err(TransportError::Device(HidError::InvalidPar))
    ));
    assert!(matches!(
        a.vendor(0x52, b""),
        Err(TransportError::Device(HidError::InvalidCmd))
    ));
    assert!(matches!(
        a.call(Command::Msg, &[0, 1, 0, 0], &mut |_| {}),
        Err(TransportError::Device(HidError::InvalidCmd))
    ));
    a.resync().unwrap();
    assert_eq!(a.ping(b"after resync").unwrap(), b"after resync");
}

#[test]
fn keepalives_every_100ms_while_a_request_waits() {
    let dev = Device::start();
    let mut conn = dev.connect();
    let mut stamps = Vec::new();
    let start = Instant::now();
    let response = conn
        .cbor_with_status(&[SLOW, 50], &mut |status| {
            stamps.push((Instant::now(), status))
        })
        .unwrap();
    let end = Instant::now();
    assert_eq!(response, vec![0x00]);
    assert!(
        stamps.len() >= 4,
        "only {} keep-alives in 500 ms",
        stamps.len()
    );
    assert!(stamps.iter().all(|(_, s)| *s == KeepaliveStatus::UpNeeded));
    // Gaps as the client sees them include both threads' scheduling delays, so the typical
    // gap must be the device's period and no gap may look like a skipped keep-alive; the exact
    // schedule is checked with a simulated clock in `hid::ctaphid`'s unit tests.
    let mut gaps: Vec<Duration> = std::iter::once(start)
        .chain(stamps.iter().map(|(at, _)| *at))
        .chain([end])
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    let max = gaps[gaps.len() - 1];
    assert!(
        median <= KEEPALIVE_INTERVAL + Duration::from_millis(10),
        "median keep-alive gap {median:?} (gaps {gaps:?})"
    );
    assert!(
        max < 2 * KEEPALIVE_INTERVAL,
        "a keep-alive was skipped: gap {max:?} (gaps {gaps:?})"
    );
}

#[test]
fn cancel_reaches_the_application() {
    let dev = Device::start();
    let mut conn = dev.connect();
    let token = conn.cancel_token();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(150));
        token.cancel();
    });
    let started = Instant::now();
    let response = conn.cbor(&[SLOW, 200]).unwrap();
    canceller.join().unwrap();
    assert_eq!(response, vec![0x2d]);
    assert!(dev.seen.cancelled.load(Ordering::SeqCst));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "cancel took {:?}",
        started.elapsed()
    );
    // The channel is usable afterwards.
    assert_eq!(conn.cbor(&[0x04]).unwrap(), vec![0x00]);
}

#[test]
fn second_channel_is_busy_while_a_request_runs() {
    let dev = Device::start();
    let mut a = dev.connect();
    let mut b = dev.connect();
    let slow = thread::spawn(move || a.cbor(&[SLOW, 40]).unwrap());
    thread::sleep(Duration::from_millis(100));
    assert!(matches!(
        b.ping(b"x"),
        Err(TransportError::Device(HidError::ChannelBusy))
    ));
    assert!(matches!(
        b.cbor(&[0x04]),
        Err(TransportError::Device(HidError::ChannelBusy))
    ));
    // CANCEL from the other channel is ignored: the request completes normally.
    b.cancel().unwrap();
    // A new host can still get a channel.
    let mut c = dev.connect();
    assert_eq!(slow.join().unwrap(), vec![0x00]);
    assert!(!dev.seen.cancelled.load(Ordering::SeqCst));
    assert_eq!(c.ping(b"free").unwrap(), b"free");
}

#[test]
fn missing_continuation_is_msg_timeout() {
    let dev = Device::start();
    let socket = dev.raw();
    let cid = raw_init(&socket);
    let reports = packet::fragment(cid, Command::PING, &[7; 100]).unwrap();
    let sent = Instant::now();
    socket.send(&reports[0]).unwrap();
    expect_error(&socket, cid, HidError::MsgTimeout);
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_millis(1000),
        "{waited:?}"
    );
}

#[test]
fn protocol_errors_over_udp() {
    let dev = Device::start();
    let socket = dev.raw();
    let cid = raw_init(&socket);

    // Unknown channel, broadcast channel for a non-INIT command.
    let stranger = ChannelId(cid.0 ^ 0x5a5a_5a5a);
    socket
        .send(&packet::fragment(stranger, Command::PING, b"x").unwrap()[0])
        .unwrap();
    expect_error(&socket, stranger, HidError::InvalidChannel);
    socket
        .send(&packet::fragment(ChannelId::BROADCAST, Command::CBOR, &[4]).unwrap()[0])
        .unwrap();
    expect_error(&socket, ChannelId::BROADCAST, HidError::InvalidChannel);

    // Unknown command.
    socket
        .send(&packet::fragment(cid, 0x02, b"").unwrap()[0])
        .unwrap();
    expect_error(&socket, cid, HidError::InvalidCmd);

    // Bad length: BCNT beyond 7609.
    let mut report = packet::fragment(cid, Command::CBOR, &[4]).unwrap()[0];
    report[5..7].copy_from_slice(&7610u16.to_be_bytes());
    socket.send(&report).unwrap();
    expect_error(&socket, cid, HidError::InvalidLen);

    // Bad sequence.
    let reports = packet::fragment(cid, Command::PING, &[1; 200]).unwrap();
    socket.send(&reports[0]).unwrap();
    socket.send(&reports[2]).unwrap();
    expect_error(&socket, cid, HidError::InvalidSeq);

    // Datagrams that are not one report are dropped; the device still answers.
    socket.send(&[0u8; 63]).unwrap();
    socket.send(&[0u8; 65]).unwrap();
    let ping = packet::fragment(cid, Command::PING, b"still here").unwrap();
    socket.send(&ping[0]).unwrap();
    let reply = recv(&socket);
    assert_eq!(
        packet::reassemble(&[reply]).unwrap().unwrap().payload,
        b"still here"
    );
    assert_eq!(dev.seen.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn replies_go_to_each_sender() {
    let dev = Device::start();
    let one = dev.raw();
    let two = dev.raw();
    let cid_one = raw_init(&one);
    let cid_two = raw_init(&two);
    two.send(&packet::fragment(cid_two, Command::PING, b"two").unwrap()[0])
        .unwrap();
    one.send(&packet::fragment(cid_one, Command::PING, b"one").unwrap()[0])
        .unwrap();
    assert_eq!(
        packet::reassemble(&[recv(&one)]).unwrap().unwrap().payload,
        b"one"
    );
    assert_eq!(
        packet::reassemble(&[recv(&two)]).unwrap().unwrap().payload,
        b"two"
    );
}

#[test]
fn a_panicking_request_is_answered_and_the_device_keeps_serving() {
    let dev = Device::start();
    let mut conn = dev.connect();
    assert_eq!(conn.cbor(&[PANIC]).unwrap(), vec![0x7f]); // CTAP2_ERR_OTHER
    assert_eq!(conn.cbor(&[0x04, 0xa0]).unwrap(), vec![0x00, 0xa0]);
}
