//! CTAPHID over a Linux virtual HID device (/dev/uhid), visible to browsers and libfido2 like
//! a USB security key.
//!
//! The kernel ABI is `struct uhid_event` from `<linux/uhid.h>`: a packed `u32` event type
//! followed by a union of requests, native byte order. Only the requests used here are
//! encoded: CREATE2 (the device and its report descriptor), INPUT2 (a report to the host),
//! DESTROY, and the replies to GET_REPORT/SET_REPORT; received are START, STOP, OPEN, CLOSE,
//! OUTPUT (a report from the host), GET_REPORT and SET_REPORT.
//!
//! The kernel queues at most 32 events (`UHID_BUFSIZE`) for the device and silently drops
//! the rest ("Output queue is full" in the kernel log): unlike a USB endpoint, hidraw writes
//! get no back-pressure. A host writing a long CTAPHID message (a 4000-byte PING is 68
//! reports) while the CTAP core is busy would lose packets. So a dedicated thread drains
//! /dev/uhid into an unbounded in-process queue as fast as events arrive, and the CTAPHID
//! loop reads from that queue.
//!
//! Identity: vendor 0x1209 (pid.codes, the open-source hardware vendor ID) with product
//! 0x0001, pid.codes' shared test PID: fine for a software simulator, to be replaced by an
//! allocated PID before anyone ships hardware. Product string "palmkey", bus USB.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::ctaphid::Config;
use super::descriptor::FIDO_REPORT_DESCRIPTOR;
use super::packet::{Report, REPORT_SIZE};
use super::server::{self, ReportSink, ReportSource, SharedApp};

/// Where the kernel's uhid character device lives.
pub const UHID_PATH: &str = "/dev/uhid";
/// pid.codes vendor ID.
pub const VENDOR_ID: u32 = 0x1209;
/// pid.codes test product ID (see the module docs).
pub const PRODUCT_ID: u32 = 0x0001;
pub const PRODUCT_NAME: &str = "palmkey";
/// BUS_USB from <linux/input.h>.
const BUS_USB: u16 = 0x03;

/// `UHID_DATA_MAX` and `HID_MAX_DESCRIPTOR_SIZE`.
const DATA_MAX: usize = 4096;
/// `sizeof(struct uhid_event)`: the packed 4-byte type, then the union. Its largest member,
/// `uhid_create2_req`, is 128 + 64 + 64 + 2 + 2 + 4 × 4 + 4096 = 4372 bytes; the union is
/// rounded up to its 8-byte alignment (`uhid_start_req` holds a `u64`): 4376.
pub const EVENT_SIZE: usize = 4 + 4376;

/// `enum uhid_event_type` values used here.
mod event_type {
    pub const DESTROY: u32 = 1;
    pub const START: u32 = 2;
    pub const STOP: u32 = 3;
    pub const OPEN: u32 = 4;
    pub const CLOSE: u32 = 5;
    pub const OUTPUT: u32 = 6;
    pub const GET_REPORT: u32 = 9;
    pub const GET_REPORT_REPLY: u32 = 10;
    pub const CREATE2: u32 = 11;
    pub const INPUT2: u32 = 12;
    pub const SET_REPORT: u32 = 13;
    pub const SET_REPORT_REPLY: u32 = 14;
}

/// Byte offsets inside `struct uhid_event` (all after the 4-byte type).
mod offset {
    pub const CREATE2_NAME: usize = 4;
    pub const CREATE2_PHYS: usize = 132;
    pub const CREATE2_UNIQ: usize = 196;
    pub const CREATE2_RD_SIZE: usize = 260;
    pub const CREATE2_BUS: usize = 262;
    pub const CREATE2_VENDOR: usize = 264;
    pub const CREATE2_PRODUCT: usize = 268;
    pub const CREATE2_VERSION: usize = 272;
    pub const CREATE2_COUNTRY: usize = 276;
    pub const CREATE2_RD_DATA: usize = 280;
    pub const INPUT2_SIZE: usize = 4;
    pub const INPUT2_DATA: usize = 6;
    pub const OUTPUT_DATA: usize = 4;
    pub const OUTPUT_SIZE: usize = 4 + super::DATA_MAX;
    pub const OUTPUT_RTYPE: usize = OUTPUT_SIZE + 2;
    pub const REPORT_ID: usize = 4;
    pub const REPORT_RNUM: usize = 8;
    pub const REPLY_ERR: usize = 8;
}

/// One encoded `struct uhid_event`.
pub type EventBuf = Box<[u8; EVENT_SIZE]>;

fn new_event(kind: u32) -> EventBuf {
    let mut ev: EventBuf = Box::new([0u8; EVENT_SIZE]);
    ev[..4].copy_from_slice(&kind.to_ne_bytes());
    ev
}

fn put_u16(ev: &mut [u8], at: usize, v: u16) {
    ev[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

fn put_u32(ev: &mut [u8], at: usize, v: u32) {
    ev[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get_u16(ev: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([ev[at], ev[at + 1]])
}

fn get_u32(ev: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(ev[at..at + 4].try_into().expect("4 bytes"))
}

/// Identity of the virtual device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub name: String,
    pub vendor: u32,
    pub product: u32,
    pub version: u32,
}

impl Default for DeviceIdentity {
    fn default() -> Self {
        DeviceIdentity {
            name: PRODUCT_NAME.to_owned(),
            vendor: VENDOR_ID,
            product: PRODUCT_ID,
            version: 0x0100,
        }
    }
}

/// UHID_CREATE2 with the given identity and report descriptor.
pub fn encode_create2(id: &DeviceIdentity, descriptor: &[u8]) -> io::Result<EventBuf> {
    if descriptor.len() > DATA_MAX {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "report descriptor too long",
        ));
    }
    let mut ev = new_event(event_type::CREATE2);
    // NUL-terminated strings: at most 127 bytes of name.
    let name = id.name.as_bytes();
    let name = &name[..name.len().min(127)];
    ev[offset::CREATE2_NAME..offset::CREATE2_NAME + name.len()].copy_from_slice(name);
    let phys = b"palmkey/uhid";
    ev[offset::CREATE2_PHYS..offset::CREATE2_PHYS + phys.len()].copy_from_slice(phys);
    // No serial number (uniq): a simulator has no stable identity to announce.
    ev[offset::CREATE2_UNIQ..offset::CREATE2_RD_SIZE].fill(0);
    put_u16(
        &mut ev[..],
        offset::CREATE2_RD_SIZE,
        descriptor.len() as u16,
    );
    put_u16(&mut ev[..], offset::CREATE2_BUS, BUS_USB);
    put_u32(&mut ev[..], offset::CREATE2_VENDOR, id.vendor);
    put_u32(&mut ev[..], offset::CREATE2_PRODUCT, id.product);
    put_u32(&mut ev[..], offset::CREATE2_VERSION, id.version);
    put_u32(&mut ev[..], offset::CREATE2_COUNTRY, 0);
    ev[offset::CREATE2_RD_DATA..offset::CREATE2_RD_DATA + descriptor.len()]
        .copy_from_slice(descriptor);
    Ok(ev)
}

/// UHID_INPUT2 carrying one report to the host (no report-ID byte: the descriptor has none).
pub fn encode_input2(report: &Report) -> EventBuf {
    let mut ev = new_event(event_type::INPUT2);
    put_u16(&mut ev[..], offset::INPUT2_SIZE, REPORT_SIZE as u16);
    ev[offset::INPUT2_DATA..offset::INPUT2_DATA + REPORT_SIZE].copy_from_slice(report);
    ev
}

pub fn encode_destroy() -> EventBuf {
    new_event(event_type::DESTROY)
}

/// Refuse a GET_REPORT or SET_REPORT request (the FIDO descriptor has no feature reports):
/// without an answer the kernel would stall the caller until its timeout.
fn encode_report_refusal(kind: u32, id: u32) -> EventBuf {
    let mut ev = new_event(kind);
    put_u32(&mut ev[..], offset::REPORT_ID, id);
    put_u16(&mut ev[..], offset::REPLY_ERR, libc::EIO as u16);
    ev
}

/// A decoded event from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UhidEvent {
    Start,
    Stop,
    Open,
    Close,
    /// A report written by the host, report-ID byte stripped.
    Output(Report),
    /// An output of the wrong size (logged and dropped).
    BadOutput(usize),
    GetReport {
        id: u32,
        rnum: u8,
    },
    SetReport {
        id: u32,
        rnum: u8,
    },
    Other(u32),
}

/// Decode a `struct uhid_event` read from /dev/uhid.
pub fn parse_event(ev: &[u8]) -> io::Result<UhidEvent> {
    if ev.len() < 4 {
        return Err(io::Error::new(ErrorKind::InvalidData, "short uhid event"));
    }
    let need = |len: usize| {
        if ev.len() < len {
            Err(io::Error::new(
                ErrorKind::InvalidData,
                "truncated uhid event",
            ))
        } else {
            Ok(())
        }
    };
    Ok(match get_u32(ev, 0) {
        event_type::START => UhidEvent::Start,
        event_type::STOP => UhidEvent::Stop,
        event_type::OPEN => UhidEvent::Open,
        event_type::CLOSE => UhidEvent::Close,
        event_type::OUTPUT => {
            need(offset::OUTPUT_RTYPE + 1)?;
            let size = usize::from(get_u16(ev, offset::OUTPUT_SIZE)).min(DATA_MAX);
            let data = &ev[offset::OUTPUT_DATA..offset::OUTPUT_DATA + size];
            // hidraw passes the report-ID byte (0 for a descriptor without IDs) along.
            let report = match size {
                REPORT_SIZE => data,
                n if n == REPORT_SIZE + 1 && data[0] == 0 => &data[1..],
                n => return Ok(UhidEvent::BadOutput(n)),
            };
            UhidEvent::Output(report.try_into().expect("64 bytes"))
        }
        kind @ (event_type::GET_REPORT | event_type::SET_REPORT) => {
            need(offset::REPORT_RNUM + 1)?;
            let id = get_u32(ev, offset::REPORT_ID);
            let rnum = ev[offset::REPORT_RNUM];
            if kind == event_type::GET_REPORT {
                UhidEvent::GetReport { id, rnum }
            } else {
                UhidEvent::SetReport { id, rnum }
            }
        }
        other => UhidEvent::Other(other),
    })
}

/// How often the drain thread looks at its stop flag while /dev/uhid is quiet.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// An open virtual FIDO device.
#[derive(Debug)]
pub struct UhidTransport {
    file: File,
}

impl UhidTransport {
    /// Create the virtual device on /dev/uhid.
    pub fn create() -> io::Result<UhidTransport> {
        Self::create_at(Path::new(UHID_PATH), &DeviceIdentity::default())
    }

    pub fn create_at(path: &Path, id: &DeviceIdentity) -> io::Result<UhidTransport> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| explain_open_error(path, e))?;
        Self::create_on(file, id)
    }

    /// Create the device on an already open uhid file (or anything speaking its event
    /// protocol with message boundaries, such as a SOCK_SEQPACKET socket in tests).
    pub fn create_on(mut file: File, id: &DeviceIdentity) -> io::Result<UhidTransport> {
        file.write_all(&encode_create2(id, &FIDO_REPORT_DESCRIPTOR)?[..])?;
        tracing::info!(
            vendor = format_args!("{:04x}", id.vendor),
            product = format_args!("{:04x}", id.product),
            "uhid FIDO device created"
        );
        Ok(UhidTransport { file })
    }

    /// Serve until `stop` is set, then destroy the device.
    pub fn serve(self, app: SharedApp, config: Config, stop: &AtomicBool) -> io::Result<()> {
        let sink = UhidSink::new(self.file.try_clone()?);
        server::serve(UhidSource::start(self)?, sink, app, config, stop)
    }
}

impl Drop for UhidTransport {
    fn drop(&mut self) {
        match self.file.write_all(&encode_destroy()[..]) {
            Ok(()) => tracing::info!("uhid FIDO device destroyed"),
            Err(err) => tracing::warn!(%err, "UHID_DESTROY failed (closing destroys it anyway)"),
        }
    }
}

fn explain_open_error(path: &Path, err: io::Error) -> io::Error {
    let hint = match err.kind() {
        ErrorKind::NotFound => {
            "this system has no uhid device: load the kernel module (`modprobe uhid`), or run \
             without --uhid and use the UDP transport"
        }
        ErrorKind::PermissionDenied => {
            "no permission: give your user read/write access to it (e.g. a udev rule) or run \
             without --uhid and use the UDP transport"
        }
        _ => "cannot create a virtual HID device",
    };
    io::Error::new(err.kind(), format!("{}: {err}: {hint}", path.display()))
}

/// What the drain thread hands the CTAPHID loop.
type Drained = io::Result<Report>;

/// The CTAPHID loop's side of the device: reports drained from /dev/uhid by [`drain`].
struct UhidSource {
    reports: Receiver<Drained>,
    stop: Arc<AtomicBool>,
    drain: Option<JoinHandle<()>>,
    /// Kept last: dropping it destroys the device, after the drain thread has stopped.
    _device: UhidTransport,
}

impl UhidSource {
    fn start(device: UhidTransport) -> io::Result<UhidSource> {
        let (tx, reports) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let file = device.file.try_clone()?;
        let drain = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("uhid-drain".into())
                .spawn(move || drain(file, &tx, &stop))?
        };
        Ok(UhidSource {
            reports,
            stop,
            drain: Some(drain),
            _device: device,
        })
    }
}

impl Drop for UhidSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(drain) = self.drain.take() {
            if drain.join().is_err() {
                tracing::error!("uhid drain thread panicked");
            }
        }
    }
}

impl ReportSource<()> for UhidSource {
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<((), Report)>> {
        match self.reports.recv_timeout(timeout) {
            Ok(Ok(report)) => Ok(Some(((), report))),
            Ok(Err(err)) => Err(err),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(io::Error::new(
                ErrorKind::BrokenPipe,
                "the uhid drain thread stopped",
            )),
        }
    }
}

/// Read /dev/uhid until `stop` (or an error, which is passed on and ends the thread): output
/// reports go to `reports` at once, report requests are refused here, the rest is logged.
fn drain(mut file: File, reports: &Sender<Drained>, stop: &AtomicBool) {
    let mut ev = vec![0u8; EVENT_SIZE];
    while !stop.load(Ordering::SeqCst) {
        match read_event(&mut file, &mut ev, DRAIN_POLL) {
            Ok(None) => continue,
            Ok(Some(n)) => match parse_event(&ev[..n]) {
                Ok(event) => {
                    if let Some(report) = handle_event(&mut file, event) {
                        if reports.send(Ok(report)).is_err() {
                            return; // the CTAPHID loop is gone
                        }
                    }
                }
                Err(err) => tracing::warn!(%err, "ignoring a malformed uhid event"),
            },
            Err(err) => {
                let _ = reports.send(Err(err));
                return;
            }
        }
    }
}

/// Wait up to `timeout` for one event; `Ok(None)` when none came (or the wait was interrupted).
fn read_event(file: &mut File, ev: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
    let mut pfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut pfd, 1, millis) };
    if ready < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == ErrorKind::Interrupted {
            Ok(None)
        } else {
            Err(err)
        };
    }
    if ready == 0 {
        return Ok(None);
    }
    match file.read(ev) {
        Ok(0) => Err(io::Error::new(ErrorKind::UnexpectedEof, "/dev/uhid closed")),
        Ok(n) => Ok(Some(n)),
        Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Act on one kernel event; the output report it carries, if any.
fn handle_event(file: &mut File, event: UhidEvent) -> Option<Report> {
    match event {
        UhidEvent::Output(report) => {
            trace_report("out", &report);
            return Some(report);
        }
        UhidEvent::BadOutput(len) => {
            tracing::debug!(len, "dropping an output report of the wrong size")
        }
        UhidEvent::GetReport { id, rnum } => {
            tracing::debug!(rnum, "refusing GET_REPORT");
            refuse(file, event_type::GET_REPORT_REPLY, id);
        }
        UhidEvent::SetReport { id, rnum } => {
            tracing::debug!(rnum, "refusing SET_REPORT");
            refuse(file, event_type::SET_REPORT_REPLY, id);
        }
        UhidEvent::Start => tracing::debug!("uhid start"),
        UhidEvent::Stop => tracing::debug!("uhid stop"),
        UhidEvent::Open => tracing::debug!("uhid: a host opened the device"),
        UhidEvent::Close => tracing::debug!("uhid: the host closed the device"),
        UhidEvent::Other(kind) => tracing::debug!(kind, "ignoring uhid event"),
    }
    None
}

fn refuse(file: &mut File, kind: u32, id: u32) {
    if let Err(err) = file.write_all(&encode_report_refusal(kind, id)[..]) {
        tracing::warn!(%err, "cannot answer a uhid report request");
    }
}

/// Reports to the host, paced like a USB interrupt endpoint (see [`Pacer`]).
struct UhidSink {
    file: File,
    pacer: Mutex<Pacer>,
}

impl UhidSink {
    fn new(file: File) -> UhidSink {
        UhidSink {
            file,
            pacer: Mutex::new(Pacer::new(Instant::now())),
        }
    }
}

impl ReportSink<()> for UhidSink {
    fn send(&self, _peer: &(), report: &Report) -> io::Result<()> {
        let mut pacer = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
        let wait = pacer.take(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
        trace_report("in", report);
        (&self.file).write_all(&encode_input2(report)[..])
    }
}

/// Every CTAPHID frame at TRACE (`PALMKEY_LOG=palmkey::hid=trace`), named from the host's
/// side like a USB analyser ("out" = host to device): channel, then for an initialization
/// packet the command and message length, for a continuation packet its sequence number,
/// and the first bytes of the payload. This is what shows, on a real kernel, whether a
/// client read an answer and what it sent next.
fn trace_report(direction: &'static str, report: &Report) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
    let head = report[4];
    let (kind, payload) = if head & 0x80 != 0 {
        let len = u16::from_be_bytes([report[5], report[6]]);
        (format!("cmd=0x{:02x} len={len}", head & 0x7f), &report[7..])
    } else {
        (format!("seq={head}"), &report[5..])
    };
    let bytes = hex::encode(&payload[..16]);
    tracing::trace!(direction, cid = format_args!("{cid:08x}"), "{kind} {bytes}");
}

/// Reports a burst may send at once: half of the kernel's per-reader hidraw buffer
/// (`HIDRAW_BUFFER_SIZE`, 64 reports), leaving room for keep-alives of other channels.
const PACE_BURST: f64 = 32.0;
/// Past a burst, one report per this interval.
const PACE_INTERVAL: Duration = Duration::from_millis(2);

/// A token bucket for reports to the host. The kernel gives every process reading the hidraw
/// node a 64-report buffer and silently drops reports past it; a real USB key can never
/// overrun it because the host polls its endpoint (one report per 1–5 ms for common FIDO
/// keys). uhid has no such clock, so a long response (a 7609-byte message is 129 reports)
/// written at once overran a reader that was briefly not scheduled. Short messages (up to 32
/// reports, 1886 bytes) still go out at once; longer ones continue at one report per 2 ms.
#[derive(Debug)]
struct Pacer {
    tokens: f64,
    at: Instant,
}

impl Pacer {
    fn new(now: Instant) -> Pacer {
        Pacer {
            tokens: PACE_BURST,
            at: now,
        }
    }

    /// Take one report's token at `now`: how long to wait before sending it.
    fn take(&mut self, now: Instant) -> Duration {
        // `at` runs ahead of `now` while earlier reports are still paying back their tokens.
        let base = now.max(self.at);
        let refill =
            now.saturating_duration_since(self.at).as_secs_f64() / PACE_INTERVAL.as_secs_f64();
        self.tokens = (self.tokens + refill).min(PACE_BURST) - 1.0;
        self.at = base;
        if self.tokens < 0.0 {
            // The token is borrowed from the future: the wait pays it back.
            self.at = base + PACE_INTERVAL.mul_f64(-self.tokens);
            self.tokens = 0.0;
        }
        self.at - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn event_size_matches_the_kernel_struct() {
        // Values printed by a C program against <linux/uhid.h> (sizeof, offsetof).
        assert_eq!(EVENT_SIZE, 4380);
        assert_eq!(offset::CREATE2_RD_DATA + DATA_MAX, 4376);
        assert_eq!((offset::OUTPUT_SIZE, offset::OUTPUT_RTYPE), (4100, 4102));
    }

    #[test]
    fn create2_layout() {
        let ev = encode_create2(&DeviceIdentity::default(), &FIDO_REPORT_DESCRIPTOR).unwrap();
        assert_eq!(get_u32(&ev[..], 0), 11);
        assert_eq!(&ev[4..12], b"palmkey\0");
        assert_eq!(&ev[132..145], b"palmkey/uhid\0");
        let uniq = offset::CREATE2_UNIQ;
        assert_eq!(uniq, 196);
        assert!(ev[uniq..uniq + 64].iter().all(|&b| b == 0), "uniq empty");
        assert_eq!(get_u16(&ev[..], 260), 34);
        assert_eq!(get_u16(&ev[..], 262), 0x03);
        assert_eq!(get_u32(&ev[..], 264), 0x1209);
        assert_eq!(get_u32(&ev[..], 268), 0x0001);
        assert_eq!(get_u32(&ev[..], 272), 0x0100);
        assert_eq!(get_u32(&ev[..], 276), 0);
        assert_eq!(&ev[280..314], &FIDO_REPORT_DESCRIPTOR);
        assert!(ev[314..].iter().all(|&b| b == 0));
    }

    #[test]
    fn long_names_are_truncated_and_terminated() {
        let id = DeviceIdentity {
            name: "x".repeat(300),
            ..DeviceIdentity::default()
        };
        let ev = encode_create2(&id, &FIDO_REPORT_DESCRIPTOR).unwrap();
        assert!(ev[4..131].iter().all(|&b| b == b'x'));
        assert_eq!(ev[131], 0);
        assert!(encode_create2(&id, &[0u8; 4097]).is_err());
    }

    #[test]
    fn input2_layout() {
        let mut report = [0u8; REPORT_SIZE];
        report
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8 + 1);
        let ev = encode_input2(&report);
        assert_eq!(get_u32(&ev[..], 0), 12);
        assert_eq!(get_u16(&ev[..], 4), 64);
        assert_eq!(&ev[6..70], &report);
        assert!(ev[70..].iter().all(|&b| b == 0));
    }

    #[test]
    fn destroy_and_refusals() {
        let ev = encode_destroy();
        assert_eq!(get_u32(&ev[..], 0), 1);
        let ev = encode_report_refusal(event_type::GET_REPORT_REPLY, 0xdead_beef);
        assert_eq!(get_u32(&ev[..], 0), 10);
        assert_eq!(get_u32(&ev[..], 4), 0xdead_beef);
        assert_eq!(get_u16(&ev[..], 8), libc::EIO as u16);
    }

    fn output_event(data: &[u8]) -> Vec<u8> {
        let mut ev = vec![0u8; EVENT_SIZE];
        ev[..4].copy_from_slice(&6u32.to_ne_bytes());
        ev[4..4 + data.len()].copy_from_slice(data);
        ev[4100..4102].copy_from_slice(&(data.len() as u16).to_ne_bytes());
        ev[4102] = 1; // UHID_OUTPUT_REPORT
        ev
    }

    #[test]
    fn output_with_and_without_report_id_byte() {
        let report: Report = std::array::from_fn(|i| (i * 3) as u8);
        assert_eq!(
            parse_event(&output_event(&report)).unwrap(),
            UhidEvent::Output(report)
        );
        let with_id = [&[0u8][..], &report[..]].concat();
        assert_eq!(
            parse_event(&output_event(&with_id)).unwrap(),
            UhidEvent::Output(report)
        );
        assert_eq!(
            parse_event(&output_event(&[1u8; 65])).unwrap(),
            UhidEvent::BadOutput(65)
        );
        assert_eq!(
            parse_event(&output_event(&[1u8; 10])).unwrap(),
            UhidEvent::BadOutput(10)
        );
    }

    #[test]
    fn lifecycle_and_report_requests() {
        let simple = |kind: u32| {
            let mut ev = vec![0u8; EVENT_SIZE];
            ev[..4].copy_from_slice(&kind.to_ne_bytes());
            ev
        };
        assert_eq!(parse_event(&simple(2)).unwrap(), UhidEvent::Start);
        assert_eq!(parse_event(&simple(3)).unwrap(), UhidEvent::Stop);
        assert_eq!(parse_event(&simple(4)).unwrap(), UhidEvent::Open);
        assert_eq!(parse_event(&simple(5)).unwrap(), UhidEvent::Close);
        assert_eq!(parse_event(&simple(99)).unwrap(), UhidEvent::Other(99));
        let mut get = simple(9);
        get[4..8].copy_from_slice(&7u32.to_ne_bytes());
        get[8] = 3;
        assert_eq!(
            parse_event(&get).unwrap(),
            UhidEvent::GetReport { id: 7, rnum: 3 }
        );
        let mut set = simple(13);
        set[4..8].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(
            parse_event(&set).unwrap(),
            UhidEvent::SetReport { id: 8, rnum: 0 }
        );
        assert!(parse_event(&[1, 0]).is_err());
        assert!(parse_event(&6u32.to_ne_bytes()).is_err());
    }

    #[test]
    fn missing_dev_uhid_is_a_clear_error() {
        let err =
            UhidTransport::create_at(Path::new("/nonexistent/uhid"), &DeviceIdentity::default())
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/uhid") && text.contains("modprobe uhid"),
            "{text}"
        );
    }

    /// The kernel's side of /dev/uhid, played by the other end of a SOCK_SEQPACKET pair.
    fn fake_kernel() -> (File, UnixDatagram) {
        use std::os::fd::{FromRawFd, OwnedFd};
        let mut fds = [0; 2];
        // SAFETY: socketpair fills two fresh descriptors that we then own.
        let rc =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, fds.as_mut_ptr()) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        // SAFETY: fds are valid, open and owned by nobody else.
        unsafe {
            (
                File::from(OwnedFd::from_raw_fd(fds[0])),
                UnixDatagram::from(OwnedFd::from_raw_fd(fds[1])),
            )
        }
    }

    fn read_event(kernel: &mut UnixDatagram) -> Vec<u8> {
        let mut ev = vec![0u8; EVENT_SIZE + 16];
        let n = kernel.recv(&mut ev).unwrap();
        ev.truncate(n);
        ev
    }

    #[test]
    fn serves_ctaphid_through_uhid_events() {
        use crate::hid::packet::{self, ChannelId, Packet};
        use crate::hid::Command;
        use std::sync::atomic::Ordering;
        use std::sync::{Arc, Mutex};

        struct Echo;
        impl crate::hid::App for Echo {
            fn cbor(&mut self, request: &[u8], _io: &dyn crate::ctap::Interaction) -> Vec<u8> {
                [&[0u8][..], request].concat()
            }
        }

        let (device_end, mut kernel) = fake_kernel();
        kernel
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let transport = UhidTransport::create_on(device_end, &DeviceIdentity::default()).unwrap();
        let create = read_event(&mut kernel);
        assert_eq!(
            (create.len(), get_u32(&create, 0)),
            (EVENT_SIZE, event_type::CREATE2)
        );

        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = Arc::clone(&stop);
            let app: SharedApp = Arc::new(Mutex::new(Echo));
            std::thread::spawn(move || transport.serve(app, Config::default(), &stop))
        };
        let send = |kernel: &mut UnixDatagram, ev: &[u8]| {
            assert_eq!(kernel.send(ev).unwrap(), ev.len());
        };
        let mut simple = vec![0u8; EVENT_SIZE];
        simple[..4].copy_from_slice(&event_type::START.to_ne_bytes());
        send(&mut kernel, &simple);
        simple[..4].copy_from_slice(&event_type::OPEN.to_ne_bytes());
        send(&mut kernel, &simple);
        // GET_REPORT is refused at once.
        let mut get = vec![0u8; EVENT_SIZE];
        get[..4].copy_from_slice(&event_type::GET_REPORT.to_ne_bytes());
        get[4..8].copy_from_slice(&42u32.to_ne_bytes());
        send(&mut kernel, &get);
        let reply = read_event(&mut kernel);
        assert_eq!(get_u32(&reply, 0), event_type::GET_REPORT_REPLY);
        assert_eq!(
            (get_u32(&reply, 4), get_u16(&reply, 8)),
            (42, libc::EIO as u16)
        );

        // INIT, as hidraw delivers it: report-ID byte 0 first.
        let nonce = [8, 7, 6, 5, 4, 3, 2, 1];
        let init = packet::fragment(ChannelId::BROADCAST, Command::INIT, &nonce).unwrap()[0];
        send(
            &mut kernel,
            &output_event(&[&[0u8][..], &init[..]].concat()),
        );
        let input = read_event(&mut kernel);
        assert_eq!(get_u32(&input, 0), event_type::INPUT2);
        assert_eq!(get_u16(&input, 4), 64);
        let report: Report = input[6..70].try_into().unwrap();
        let Packet::Init {
            cmd: Command::INIT,
            data,
            ..
        } = Packet::parse(&report)
        else {
            panic!("INIT answer expected")
        };
        assert_eq!(&data[..8], &nonce);
        let cid = ChannelId::from_bytes(data[8..12].try_into().unwrap());

        // A two-packet CBOR request and its two-packet answer.
        let request: Vec<u8> = (0..100u8).collect();
        for r in packet::fragment(cid, Command::CBOR, &request).unwrap() {
            send(&mut kernel, &output_event(&r));
        }
        let answer: Vec<Report> = (0..2)
            .map(|_| read_event(&mut kernel)[6..70].try_into().unwrap())
            .collect();
        let msg = packet::reassemble(&answer).unwrap().unwrap();
        assert_eq!(msg.payload, [&[0u8][..], &request].concat());

        stop.store(true, Ordering::SeqCst);
        server.join().unwrap().unwrap();
        // Dropping the transport destroys the device.
        assert_eq!(get_u32(&read_event(&mut kernel), 0), event_type::DESTROY);
    }

    #[test]
    fn drains_the_kernel_queue_while_the_ctaphid_loop_is_busy() {
        // The kernel keeps 32 events for the device and drops the rest. Here the socket's
        // queue limit (net.unix.max_dgram_qlen, 10 by default) plays that limit: with nobody
        // reading, the 11th send would block, and fail after the write timeout.
        let (device_end, mut kernel) = fake_kernel();
        kernel
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        kernel
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let transport = UhidTransport::create_on(device_end, &DeviceIdentity::default()).unwrap();
        assert_eq!(get_u32(&read_event(&mut kernel), 0), event_type::CREATE2);
        let mut source = UhidSource::start(transport).unwrap();

        // 200 reports (a 12 kB burst) while the CTAPHID loop does not call recv() at all.
        let report = |i: usize| -> Report { std::array::from_fn(|j| (i + j) as u8) };
        for i in 0..200 {
            kernel
                .send(&output_event(&report(i)))
                .unwrap_or_else(|e| panic!("event {i} not drained: {e}"));
        }
        // A report request in the middle of a burst is answered by the drain thread too.
        let mut get = vec![0u8; EVENT_SIZE];
        get[..4].copy_from_slice(&event_type::GET_REPORT.to_ne_bytes());
        get[4..8].copy_from_slice(&9u32.to_ne_bytes());
        kernel.send(&get).unwrap();
        let reply = read_event(&mut kernel);
        assert_eq!(
            (get_u32(&reply, 0), get_u32(&reply, 4)),
            (event_type::GET_REPORT_REPLY, 9)
        );

        // All of them reach the loop, in order, none lost.
        for i in 0..200 {
            let got = source.recv(Duration::from_secs(5)).unwrap();
            assert_eq!(got, Some(((), report(i))), "report {i}");
        }
        assert_eq!(source.recv(Duration::from_millis(50)).unwrap(), None);

        // Stopping joins the drain thread, then destroys the device.
        drop(source);
        assert_eq!(get_u32(&read_event(&mut kernel), 0), event_type::DESTROY);
    }

    #[test]
    fn pacer_sends_a_burst_at_once_then_one_report_per_interval() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        for i in 0..32 {
            assert_eq!(pacer.take(t0), Duration::ZERO, "report {i} of the burst");
        }
        // The 33rd waits one interval, the 34th (asked at the same moment) two.
        assert_eq!(pacer.take(t0), PACE_INTERVAL);
        assert_eq!(pacer.take(t0), 2 * PACE_INTERVAL);
        // Sent on time after its wait, the next one waits one interval again.
        let sent = t0 + 2 * PACE_INTERVAL;
        assert_eq!(pacer.take(sent), PACE_INTERVAL);
        // A quiet link refills the burst, never beyond it.
        let later = sent + PACE_INTERVAL * 1000;
        for _ in 0..32 {
            assert_eq!(pacer.take(later), Duration::ZERO);
        }
        assert_eq!(pacer.take(later), PACE_INTERVAL);
        // A 129-report message (7609 bytes) from a full bucket takes 97 intervals.
        let mut pacer = Pacer::new(t0);
        let mut now = t0;
        for _ in 0..129 {
            now += pacer.take(now);
        }
        assert_eq!(now - t0, PACE_INTERVAL * 97);
    }

    #[test]
    fn a_closed_uhid_file_ends_serving_with_an_error() {
        let (device_end, mut kernel) = fake_kernel();
        let transport = UhidTransport::create_on(device_end, &DeviceIdentity::default()).unwrap();
        read_event(&mut kernel);
        let mut source = UhidSource::start(transport).unwrap();
        drop(kernel);
        let err = source.recv(Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    }

    #[test]
    fn creates_events_on_a_plain_file() {
        // A regular file stands in for /dev/uhid: CREATE2 on open, DESTROY on drop.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uhid");
        std::fs::write(&path, b"").unwrap();
        drop(UhidTransport::create_at(&path, &DeviceIdentity::default()).unwrap());
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), 2 * EVENT_SIZE);
        assert_eq!(get_u32(&written, 0), event_type::CREATE2);
        assert_eq!(get_u32(&written, EVENT_SIZE), event_type::DESTROY);
    }
}
