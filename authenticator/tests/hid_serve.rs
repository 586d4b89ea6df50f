//! `palmkey serve` as a process (DESIGN.md contract): the ready line, CTAP over UDP through
//! the real authenticator, a clear `--uhid` error without /dev/uhid, and a clean exit on
//! SIGTERM / SIGINT.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use palmkey::client::transport::CtapHid;

fn serve(state: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palmkey"));
    cmd.arg("serve")
        .arg("--state")
        .arg(state)
        .arg("--key-file")
        .arg(state.with_extension("key"))
        .args(extra)
        .env("PALMKEY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Start the server on a free port and read its ready line.
fn start(state: &Path) -> (Child, SocketAddr) {
    let mut child = serve(state, &["--udp", "127.0.0.1:0"]).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("palmkey ready udp=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

fn signal_and_wait(child: &mut Child, signal: libc::c_int) -> std::process::ExitStatus {
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_get_info_over_udp_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (mut child, addr) = start(&state);
    let mut dev = CtapHid::connect_udp(addr).unwrap();
    assert!(dev.info().supports_cbor());
    let info = dev.cbor(&[0x04]).unwrap();
    assert_eq!(info[0], 0x00, "getInfo status");
    assert!(info.len() > 20, "getInfo CBOR map");
    // An unknown CTAP command is a CTAP error, not a transport error.
    assert_eq!(dev.cbor(&[0x55]).unwrap(), vec![0x01]);
    assert!(signal_and_wait(&mut child, libc::SIGTERM).success());

    // The same state folder serves again (the folder lock was released), and SIGINT works too.
    let (mut child, addr) = start(&state);
    assert_eq!(
        CtapHid::connect_udp(addr).unwrap().cbor(&[0x04]).unwrap()[0],
        0
    );
    assert!(signal_and_wait(&mut child, libc::SIGINT).success());
}

#[test]
fn uhid_without_dev_uhid_fails_clearly() {
    if Path::new("/dev/uhid").exists() {
        eprintln!("skipped: this machine has /dev/uhid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = serve(
        &dir.path().join("state"),
        &["--udp", "127.0.0.1:0", "--uhid"],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no ready line on failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/dev/uhid") && stderr.contains("modprobe uhid"),
        "{stderr}"
    );
}

#[test]
fn busy_udp_port_fails_clearly() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = serve(&dir.path().join("state"), &["--udp", &addr])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&addr), "{stderr}");
}

#[test]
fn tampered_state_comes_up_disabled_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (mut child, _) = start(&state);
    assert!(signal_and_wait(&mut child, libc::SIGTERM).success());
    // Flip one bit of the sealed state.
    let sealed = state.join(palmkey::store::STATE_FILE);
    let mut bytes = std::fs::read(&sealed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&sealed, bytes).unwrap();

    let events = dir.path().join("events.jsonl");
    let mut child = serve(
        &state,
        &["--udp", "127.0.0.1:0", "--events", events.to_str().unwrap()],
    )
    .spawn()
    .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("palmkey ready udp=")
        .unwrap()
        .parse()
        .unwrap();
    let mut dev = CtapHid::connect_udp(addr).unwrap();
    assert_eq!(dev.cbor(&[0x04]).unwrap()[0], 0x00, "getInfo still answers");
    // makeCredential with an empty map: refused because the device is disabled.
    assert_eq!(dev.cbor(&[0x01, 0xa0]).unwrap(), vec![0x3d]); // CTAP2_ERR_INTEGRITY_FAILURE
    assert!(signal_and_wait(&mut child, libc::SIGTERM).success());
    let log = std::fs::read_to_string(&events).unwrap();
    assert!(log.contains("tamper"), "{log}");
}
