//! Protocol abuse against a real `palmkey serve` over UDP: what a hostile or broken host can
//! throw at the device, and what must still hold afterwards.
//!
//! - CTAPHID: interleaved channels from several hosts, CANCEL storms, oversized, truncated and
//!   out-of-sequence messages, and every truncation of a real CTAP request.
//! - PIN brute force: 3 wrong in a row need a power cycle (vendor 0x52), 8 block the PIN.
//! - UV brute force with random unenrolled palms: UV blocked after 5, not unblocked by power.
//! - Replayed pinUvAuthParams and permission-scope violations.
//! - Tamper of every stored file (hot state, enrollment gallery) detected end to end:
//!   the device refuses service but getInfo and reset, and writes a tamper CloudEvent.
//!
//! `PALMKEY_TAMPER_CASES` (default 24) sets how many tampered restarts the tamper test makes;
//! `scripts/hardening/figures.sh` runs more.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use palmkey::client::transport::CtapHid;
use palmkey::client::{
    Client, ClientError, GetAssertionRequest, Permission, PinProtocol, SimulatedHand, Simulator,
};
use palmkey::ctap::CtapError;
use palmkey::hid::packet::{self, ChannelId, Packet, MAX_MESSAGE_SIZE};
use palmkey::hid::{Command, HidError, Report, REPORT_SIZE};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RP: &str = "abuse.example";
const MAX_UV_RETRIES: u8 = 5;
/// Synthetic identities (sim seed 1) that enroll cleanly (see tests/palm_stories.rs).
const MEMBER: u64 = 110;

fn expect_ctap<T: std::fmt::Debug>(result: Result<T, ClientError>, code: CtapError) {
    match result {
        Err(e) if e.is(code) => {}
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

fn seed() -> u64 {
    std::env::var("PALMKEY_ABUSE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random)
}

fn with_sensor(state: &Path, capture_timeout_ms: &str) -> Simulator {
    with_sensor_and(state, capture_timeout_ms, &[])
}

fn with_sensor_and(state: &Path, capture_timeout_ms: &str, extra: &[&str]) -> Simulator {
    let mut args = vec![
        "--sensor",
        "sim",
        "--sim-capture-timeout-ms",
        capture_timeout_ms,
    ];
    args.extend_from_slice(extra);
    Simulator::start(binary(), state, &args).expect("start palmkey serve --sensor sim")
}

// ---------------------------------------------------------------------------------------------
// Raw CTAPHID over UDP

struct Raw {
    socket: UdpSocket,
}

impl Raw {
    fn connect(sim: &Simulator) -> Raw {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(sim.addr()).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        Raw { socket }
    }

    fn send(&self, report: &Report) {
        self.socket.send(report).unwrap();
    }

    fn send_message(&self, cid: ChannelId, cmd: u8, payload: &[u8]) {
        for r in packet::fragment(cid, cmd, payload).unwrap() {
            self.send(&r);
        }
    }

    fn recv(&self) -> Report {
        let mut report = [0u8; REPORT_SIZE];
        let n = self.socket.recv(&mut report).expect("a report in time");
        assert_eq!(n, REPORT_SIZE);
        report
    }

    /// The next complete message (KEEPALIVEs skipped): (cid, cmd, payload).
    fn recv_message(&self) -> (ChannelId, u8, Vec<u8>) {
        loop {
            let first = self.recv();
            if let Packet::Init {
                cmd: Command::KEEPALIVE,
                ..
            } = Packet::parse(&first)
            {
                continue;
            }
            let mut reports = vec![first];
            loop {
                if let Some(m) = packet::reassemble(&reports).expect("well-formed response") {
                    return (m.cid, m.cmd, m.payload);
                }
                reports.push(self.recv());
            }
        }
    }

    fn init(&self) -> ChannelId {
        let nonce: [u8; 8] = rand::random();
        self.send_message(ChannelId::BROADCAST, Command::INIT, &nonce);
        let (cid, cmd, payload) = self.recv_message();
        assert_eq!((cid, cmd), (ChannelId::BROADCAST, Command::INIT));
        assert_eq!(&payload[..8], &nonce);
        ChannelId::from_bytes(payload[8..12].try_into().unwrap())
    }

    fn expect_error(&self, cid: ChannelId, err: HidError) {
        let (c, cmd, payload) = self.recv_message();
        assert_eq!((c, cmd), (cid, Command::ERROR), "expected ERROR {err:?}");
        assert_eq!(HidError::from_code(payload[0]), err);
    }

    fn get_info_ok(&self, cid: ChannelId) {
        self.send_message(cid, Command::CBOR, &[0x04]);
        let (c, cmd, payload) = self.recv_message();
        assert_eq!((c, cmd, payload[0]), (cid, Command::CBOR, 0x00));
    }
}

/// A getAssertion message (command byte + CBOR) built by hand: {1: rpId, 2: cdh, 3: allow}.
fn get_assertion_message(rp_id: &str, cdh: &[u8; 32], allow: Option<&[u8]>) -> Vec<u8> {
    use ciborium::Value;
    let mut map = vec![
        (Value::Integer(1.into()), Value::Text(rp_id.into())),
        (Value::Integer(2.into()), Value::Bytes(cdh.to_vec())),
    ];
    if let Some(id) = allow {
        map.push((
            Value::Integer(3.into()),
            Value::Array(vec![Value::Map(vec![
                (Value::Text("id".into()), Value::Bytes(id.to_vec())),
                (Value::Text("type".into()), Value::Text("public-key".into())),
            ])]),
        ));
    }
    let mut out = vec![0x02];
    ciborium::into_writer(&Value::Map(map), &mut out).unwrap();
    out
}

fn init_packet(cid: ChannelId, cmd: u8, bcnt: u16, data: &[u8]) -> Report {
    let mut r = [0u8; REPORT_SIZE];
    r[..4].copy_from_slice(&cid.to_bytes());
    r[4] = cmd | 0x80;
    r[5..7].copy_from_slice(&bcnt.to_be_bytes());
    let n = data.len().min(REPORT_SIZE - 7);
    r[7..7 + n].copy_from_slice(&data[..n]);
    r
}

fn cont_packet(cid: ChannelId, seq: u8, data: &[u8]) -> Report {
    let mut r = [0u8; REPORT_SIZE];
    r[..4].copy_from_slice(&cid.to_bytes());
    r[4] = seq & 0x7f;
    let n = data.len().min(REPORT_SIZE - 5);
    r[5..5 + n].copy_from_slice(&data[..n]);
    r
}

#[test]
fn interleaved_channels_and_cancel_storms_leave_the_device_serving() {
    let dev = fresh();
    let mut rng = StdRng::seed_from_u64(seed());
    let hosts: Vec<Raw> = (0..4).map(|_| Raw::connect(&dev.sim)).collect();
    let cids: Vec<ChannelId> = hosts.iter().map(|h| h.init()).collect();

    // Host 0 starts a long PING; every other host that starts a message meanwhile is busy,
    // and their stray continuation packets on their own channels are ignored, not mixed into
    // host 0's message. (Continuations forged on host 0's channel cannot be told apart: the
    // channel ID is CTAPHID's only notion of a sender, on USB as over UDP.)
    let ping: Vec<u8> = (0..1000).map(|_| rng.gen()).collect();
    let reports = packet::fragment(cids[0], Command::PING, &ping).unwrap();
    hosts[0].send(&reports[0]);
    for (h, &cid) in hosts.iter().zip(&cids).skip(1) {
        h.send(&init_packet(cid, Command::PING, 100, b"intruder"));
        h.expect_error(cid, HidError::ChannelBusy);
        h.send(&cont_packet(cid, 0, b"stray continuation"));
    }
    for r in &reports[1..] {
        hosts[0].send(r);
    }
    let (cid, cmd, echoed) = hosts[0].recv_message();
    assert_eq!((cid, cmd), (cids[0], Command::PING));
    assert_eq!(echoed, ping, "the ping came back whole and unmixed");

    // A CANCEL storm: thousands of CANCELs on every channel, idle or not, interleaved with
    // requests. CANCEL is never answered; requests still are.
    for round in 0..20 {
        for (h, &cid) in hosts.iter().zip(&cids) {
            for _ in 0..50 {
                h.send(&init_packet(cid, Command::CANCEL, 0, &[]));
            }
        }
        let i = round % hosts.len();
        hosts[i].get_info_ok(cids[i]);
    }
    // Every host's channel still works, and nothing unanswered is left in the sockets.
    for (h, &cid) in hosts.iter().zip(&cids) {
        h.get_info_ok(cid);
    }
    let mut client = dev.client();
    let made = make_verified(&mut client, &request(RP, "after-storm", true));
    assert!(made.auth_data.flags.user_present());
}

#[test]
fn oversized_truncated_and_out_of_sequence_messages_are_refused() {
    let dev = fresh();
    let host = Raw::connect(&dev.sim);
    let cid = host.init();

    // Longer than CTAPHID can carry.
    host.send(&init_packet(
        cid,
        Command::CBOR,
        (MAX_MESSAGE_SIZE + 1) as u16,
        &[0x04],
    ));
    host.expect_error(cid, HidError::InvalidLen);
    host.send(&init_packet(cid, Command::PING, u16::MAX, &[]));
    host.expect_error(cid, HidError::InvalidLen);
    // A message whose continuation never comes: MSG_TIMEOUT, then the device serves again.
    host.send(&init_packet(cid, Command::PING, 200, b"half"));
    host.expect_error(cid, HidError::MsgTimeout);
    // Out of sequence.
    host.send(&init_packet(cid, Command::PING, 200, b"seq"));
    host.send(&cont_packet(cid, 3, b"skipped 0..2"));
    host.expect_error(cid, HidError::InvalidSeq);
    // An empty CBOR message and an unknown channel.
    host.send(&init_packet(cid, Command::CBOR, 0, &[]));
    host.expect_error(cid, HidError::InvalidLen);
    host.send(&init_packet(ChannelId(0x0bad_cafe), Command::PING, 1, b"x"));
    host.expect_error(ChannelId(0x0bad_cafe), HidError::InvalidChannel);
    host.get_info_ok(cid);

    // Every truncation of real CTAP requests is answered with a CTAP error, never a crash
    // or a hang, and leaves nothing behind.
    let mut client = dev.client();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let t = token(&mut client, PinProtocol::Two, Permission::MC, Some(RP));
    let mut req = request(RP, "truncated", true);
    req.pin_uv_auth = Some(t.authenticate(&req.client_data_hash));
    let make = [&[0x01u8][..], &req.to_cbor()].concat();
    let get = get_assertion_message(RP, &random32(), Some(&[7u8; 64]));
    for message in [&make, &get] {
        for len in 2..message.len() {
            let response = client.send_raw(&message[..len]).expect("an answer");
            assert_ne!(
                response[0], 0x00,
                "a truncated request succeeded ({len} bytes)"
            );
        }
    }
    // Nothing was stored by any of them: the full request is the first discoverable one.
    let cm = token(&mut client, PinProtocol::Two, Permission::CM, None);
    assert_eq!(
        client
            .creds_metadata(&cm)
            .unwrap()
            .existing_resident_credentials,
        0
    );
    // (the CM token above retired the MC token the truncated requests carried)
    let t = token(&mut client, PinProtocol::Two, Permission::MC, Some(RP));
    req.pin_uv_auth = Some(t.authenticate(&req.client_data_hash));
    let make = [&[0x01u8][..], &req.to_cbor()].concat();
    assert_eq!(client.send_raw(&make).unwrap()[0], 0x00);
    let cm = token(&mut client, PinProtocol::Two, Permission::CM, None);
    assert_eq!(
        client
            .creds_metadata(&cm)
            .unwrap()
            .existing_resident_credentials,
        1
    );
}

#[test]
fn pin_brute_force_needs_power_cycles_and_blocks_at_eight() {
    let dir = tempfile::tempdir().unwrap();
    let sim = with_sensor(dir.path(), "200");
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let mut rng = StdRng::seed_from_u64(seed());
    let guess = |rng: &mut StdRng, c: &mut Client<CtapHid>| {
        let wrong = loop {
            let g = format!("{:04}", rng.gen_range(0..10_000));
            if g != PIN {
                break g;
            }
        };
        c.get_pin_uv_auth_token(PinProtocol::Two, &wrong, Permission::MC, Some(RP))
    };
    let mut attempts = 0u8;
    while attempts < 8 {
        attempts += 1;
        let result = guess(&mut rng, &mut client);
        let left = 8 - attempts;
        if left == 0 {
            expect_ctap(result, CtapError::PinBlocked);
        } else if attempts.is_multiple_of(3) {
            expect_ctap(result, CtapError::PinAuthBlocked);
            // Locked until a power cycle: even the right PIN and more guesses are refused,
            // and they cost no retries.
            expect_ctap(
                client.get_pin_uv_auth_token(PinProtocol::Two, PIN, Permission::MC, Some(RP)),
                CtapError::PinAuthBlocked,
            );
            expect_ctap(guess(&mut rng, &mut client), CtapError::PinAuthBlocked);
            assert_eq!(client.pin_retries().unwrap().retries, left);
            client.simulated_power_cycle().unwrap();
        } else {
            expect_ctap(result, CtapError::PinInvalid);
        }
        assert_eq!(client.pin_retries().unwrap().retries, left);
    }
    // Blocked: neither the right PIN, nor a power cycle, nor a restart brings it back.
    client.simulated_power_cycle().unwrap();
    expect_ctap(
        client.get_pin_uv_auth_token(PinProtocol::Two, PIN, Permission::MC, Some(RP)),
        CtapError::PinBlocked,
    );
    drop(client);
    drop(sim);
    let sim = with_sensor(dir.path(), "200");
    let mut client = sim.client().unwrap();
    assert_eq!(client.pin_retries().unwrap().retries, 0);
    expect_ctap(
        client.change_pin(PinProtocol::Two, PIN, "9999"),
        CtapError::PinBlocked,
    );
}

#[test]
fn uv_brute_force_with_random_palms_blocks_uv_after_five() {
    let dir = tempfile::tempdir().unwrap();
    let sim = with_sensor(dir.path(), "1500");
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let be = token(&mut client, PinProtocol::Two, Permission::BE, None);
    client
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: MEMBER })
        .unwrap();
    client
        .bio_enrollment()
        .unwrap()
        .enroll(&be, Some("M-0110"), |_| {})
        .expect("enrollment");
    let mut req = request(RP, "member", true);
    req.user_verification = Some(true);
    let made = client
        .make_credential(&req)
        .expect("palm-verified registration");
    assert!(made.auth_data.flags.user_verified());

    let mut rng = StdRng::seed_from_u64(seed());
    let login = |c: &mut Client<CtapHid>| {
        let mut ga = GetAssertionRequest::new(RP, random32());
        ga.user_verification = Some(true);
        c.get_assertion(&ga)
    };
    // The member's palm works before the attack (a natural sample may be falsely rejected:
    // up to 3 tries, then the PIN restores the retries).
    let member_login = |c: &mut Client<CtapHid>| {
        let mut last = None;
        for _ in 0..3 {
            match login(c) {
                Ok(a) => return a,
                Err(e) => last = Some(e),
            }
        }
        panic!("the enrolled member's palm fails UV 3 times: {last:?}")
    };
    assert!(member_login(&mut client).auth_data.flags.user_verified());
    token(&mut client, PinProtocol::Two, Permission::GA, Some(RP));
    for left in (0..MAX_UV_RETRIES).rev() {
        // a stranger: a synthetic identity far from the enrolled one
        let identity = rng.gen_range(10_000..1_000_000u64);
        client
            .set_simulated_hand(&SimulatedHand::Synthetic { identity })
            .unwrap();
        let expected = if left == 0 {
            CtapError::UvBlocked
        } else {
            CtapError::UvInvalid
        };
        expect_ctap(login(&mut client), expected);
        assert_eq!(client.uv_retries().unwrap(), left);
    }
    // Blocked for everyone, the enrolled member too, across power cycles and restarts;
    // a palm-UV token is refused as well.
    for _ in 0..3 {
        let identity = rng.gen_range(10_000..1_000_000u64);
        client
            .set_simulated_hand(&SimulatedHand::Synthetic { identity })
            .unwrap();
        expect_ctap(login(&mut client), CtapError::UvBlocked);
    }
    client
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: MEMBER })
        .unwrap();
    expect_ctap(login(&mut client), CtapError::UvBlocked);
    expect_ctap(
        client.get_uv_token(PinProtocol::Two, Permission::GA, Some(RP)),
        CtapError::UvBlocked,
    );
    client.simulated_power_cycle().unwrap();
    expect_ctap(login(&mut client), CtapError::UvBlocked);
    drop(client);
    drop(sim);
    let sim = with_sensor(dir.path(), "1500");
    let mut client = sim.client().unwrap();
    assert_eq!(client.uv_retries().unwrap(), 0, "UV retries persist");
    client
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: MEMBER })
        .unwrap();
    expect_ctap(login(&mut client), CtapError::UvBlocked);
    // The PIN unblocks it, and then the member's palm works again.
    token(&mut client, PinProtocol::Two, Permission::GA, Some(RP));
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES);
    let a = member_login(&mut client);
    assert!(a.auth_data.flags.user_verified());
}

#[test]
fn replayed_pin_uv_auth_params_and_scope_violations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sim = with_sensor(dir.path(), "200");
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::Two, PIN).unwrap();

    // A param is a MAC over one clientDataHash: replayed with another request it fails.
    let t = token(&mut client, PinProtocol::Two, Permission::MC, Some(RP));
    let mut first = request(RP, "first", true);
    first.pin_uv_auth = Some(t.authenticate(&first.client_data_hash));
    make_verified(&mut client, &first);
    let mut replay = request(RP, "replay", true);
    replay.pin_uv_auth = first.pin_uv_auth.clone();
    expect_ctap(client.make_credential(&replay), CtapError::PinAuthInvalid);

    // A newer token retires the old one; so does a power cycle.
    let t2 = token(&mut client, PinProtocol::Two, Permission::MC, Some(RP));
    let mut old = request(RP, "old-token", true);
    old.pin_uv_auth = Some(t.authenticate(&old.client_data_hash));
    expect_ctap(client.make_credential(&old), CtapError::PinAuthInvalid);
    client.simulated_power_cycle().unwrap();
    let mut after = request(RP, "after-power-cycle", true);
    after.pin_uv_auth = Some(t2.authenticate(&after.client_data_hash));
    expect_ctap(client.make_credential(&after), CtapError::PinAuthInvalid);

    // A token for one RP used on another, for makeCredential and getAssertion.
    let mc = token(&mut client, PinProtocol::Two, Permission::MC, Some(RP));
    let mut other = request("other.example", "cross-rp", true);
    other.pin_uv_auth = Some(mc.authenticate(&other.client_data_hash));
    expect_ctap(client.make_credential(&other), CtapError::PinAuthInvalid);
    let ga = token(&mut client, PinProtocol::Two, Permission::GA, Some(RP));
    let cdh = random32();
    let mut get = GetAssertionRequest::new("other.example", cdh);
    get.pin_uv_auth = Some(ga.authenticate(&cdh));
    expect_ctap(client.get_assertion(&get), CtapError::PinAuthInvalid);

    // A bio-enrollment token used for credential management and for makeCredential.
    let be = token(&mut client, PinProtocol::Two, Permission::BE, None);
    expect_ctap(client.creds_metadata(&be), CtapError::PinAuthInvalid);
    expect_ctap(client.enumerate_rps(&be), CtapError::PinAuthInvalid);
    let mut with_be = request(RP, "be-token", true);
    with_be.pin_uv_auth = Some(be.authenticate(&with_be.client_data_hash));
    expect_ctap(client.make_credential(&with_be), CtapError::PinAuthInvalid);
    // A credential-management token used for bio enrollment.
    let cm = token(&mut client, PinProtocol::Two, Permission::CM, None);
    expect_ctap(
        client.bio_enrollment().unwrap().enumerate(&cm),
        CtapError::PinAuthInvalid,
    );
    // None of it changed anything: exactly the first credential exists.
    assert_eq!(
        client
            .creds_metadata(&cm)
            .unwrap()
            .existing_resident_credentials,
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Tamper, end to end

/// A device (`ROOT/state`, key file `ROOT/master.key`) with a PIN, a discoverable credential
/// and an enrolled person: hot state, enrollment gallery and rollback anchor (counter
/// ceiling) on disk.
fn provisioned(root: &Path) {
    let key = root.join(KEY_FILE);
    let sim = with_sensor_and(
        &root.join("state"),
        "1500",
        &["--key-file", key.to_str().unwrap()],
    );
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let be = token(&mut client, PinProtocol::Two, Permission::BE, None);
    client
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: MEMBER })
        .unwrap();
    client
        .bio_enrollment()
        .unwrap()
        .enroll(&be, Some("M-0110"), |_| {})
        .expect("enrollment");
    let t = token(&mut client, PinProtocol::Two, Permission::MC, Some(RP));
    let mut req = request(RP, "tamper", true);
    req.pin_uv_auth = Some(t.authenticate(&req.client_data_hash));
    make_verified(&mut client, &req);
}

const KEY_FILE: &str = "master.key";

/// Every file of a device under `root` (paths relative to it), and which of them are the
/// stored state worth tampering with: all but the lock file and the master key itself (a
/// different key is a different device, not a tampered one).
fn device_files(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut all = Vec::new();
    for sub in ["", "state"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let path = e.unwrap().path();
            if path.is_file() {
                all.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    all.sort();
    let stored = all
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".sealed") || name.ends_with(".anchor")
        })
        .cloned()
        .collect();
    (all, stored)
}

#[derive(Debug, Clone, Copy)]
enum Tamper {
    FlipBit,
    Truncate,
    SwapBytes,
    Append,
}

fn tamper(bytes: &mut Vec<u8>, how: Tamper, rng: &mut StdRng) {
    let at = rng.gen_range(0..bytes.len());
    match how {
        Tamper::FlipBit => bytes[at] ^= 1 << rng.gen_range(0..8),
        Tamper::Truncate => bytes.truncate(at),
        Tamper::SwapBytes => loop {
            let other = rng.gen_range(0..bytes.len());
            if bytes[other] != bytes[at] {
                bytes.swap(at, other);
                break;
            }
        },
        Tamper::Append => bytes.extend_from_slice(&[0u8; 16]),
    }
}

#[test]
fn tampered_files_are_detected_and_the_device_refuses_service() {
    let cases: usize = std::env::var("PALMKEY_TAMPER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed = seed();
    eprintln!("tamper test: {cases} cases, PALMKEY_ABUSE_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let pristine = tempfile::tempdir().unwrap();
    provisioned(pristine.path());
    let (all, files) = device_files(pristine.path());
    let has = |prefix: &str| {
        files
            .iter()
            .any(|f| f.file_name().unwrap().to_string_lossy().starts_with(prefix))
    };
    assert!(
        has("state.sealed") && has("enrollments.") && has("master.key.anchor"),
        "hot state, enrollment gallery and rollback anchor on disk: {files:?}"
    );
    let kinds = [
        Tamper::FlipBit,
        Tamper::Truncate,
        Tamper::SwapBytes,
        Tamper::Append,
    ];
    let mut detected = 0;
    let mut per_file = std::collections::BTreeMap::<String, usize>::new();
    for case in 0..cases {
        let file = &files[case % files.len()];
        let how = kinds[(case / files.len()) % kinds.len()];
        // A copy of the pristine device with one file tampered with.
        let copy = tempfile::tempdir().unwrap();
        std::fs::create_dir(copy.path().join("state")).unwrap();
        for f in &all {
            std::fs::copy(pristine.path().join(f), copy.path().join(f)).unwrap();
        }
        let target = copy.path().join(file);
        let mut bytes = std::fs::read(&target).unwrap();
        tamper(&mut bytes, how, &mut rng);
        std::fs::write(&target, &bytes).unwrap();

        let events = copy.path().join("events.jsonl");
        let key = copy.path().join(KEY_FILE);
        let sim = Simulator::start(
            binary(),
            &copy.path().join("state"),
            &[
                "--events",
                events.to_str().unwrap(),
                "--key-file",
                key.to_str().unwrap(),
            ],
        )
        .expect("a tampered device still starts");
        let mut dev = CtapHid::connect_udp(sim.addr()).unwrap();
        let what = format!("case {case}: {how:?} of {}", file.display());
        assert_eq!(
            dev.cbor(&[0x04]).unwrap()[0],
            0x00,
            "{what}: getInfo answers"
        );
        // makeCredential, getAssertion, clientPIN getRetries, credentialManagement metadata,
        // bio enrollment enumerate, selection: all refused with INTEGRITY_FAILURE.
        let mut client = Client::new(dev);
        let make = [&[0x01u8][..], &request(RP, "x", true).to_cbor()].concat();
        let first = client.send_raw(&make).unwrap();
        // No exception for the rollback anchor: it is fsynced before its rename, so no crash
        // leaves it short or torn, and any edit of it is tamper like an edit of the state
        // (store/anchor.rs).
        let refused = [
            Ok(first),
            client.send_raw(&get_assertion_message(RP, &random32(), None)),
            client.send_raw(&[0x06, 0xa2, 0x01, 0x02, 0x02, 0x01]),
            client.send_raw(&[0x0a, 0xa1, 0x01, 0x01]),
            client.send_raw(&[0x09, 0xa1, 0x02, 0x04]),
            client.send_raw(&[0x0b]),
        ];
        for (i, r) in refused.into_iter().enumerate() {
            assert_eq!(r.unwrap(), vec![0x3d], "{what}: command #{i} not refused");
        }
        let log = std::fs::read_to_string(&events).unwrap_or_default();
        assert!(log.contains("tamper"), "{what}: no tamper event: {log}");
        // Reset (within 10 s of power-up) is the way out: a working, empty device.
        client.reset().expect("reset of a tampered device");
        let info = client.get_info().unwrap();
        assert!(!info.pin_is_set());
        make_verified(&mut client, &request(RP, "after-reset", true));
        detected += 1;
        let name = file.file_name().unwrap().to_string_lossy();
        // The gallery's name carries its revision; count it as one kind of file.
        let kind = name.split('.').next().unwrap_or_default().to_owned();
        *per_file.entry(kind).or_default() += 1;
    }
    eprintln!("tamper test: {detected} of {cases} tampered files detected; by file {per_file:?}");
    assert_eq!(detected, cases);
}

#[test]
fn cancel_during_a_palm_capture_storm_keeps_retries() {
    // CANCELs arriving while a UV capture waits for a hand: each request ends with
    // KEEPALIVE_CANCEL and no UV retry is charged.
    let dir = tempfile::tempdir().unwrap();
    let sim = with_sensor(dir.path(), "5000");
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let be = token(&mut client, PinProtocol::Two, Permission::BE, None);
    client
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: MEMBER })
        .unwrap();
    client
        .bio_enrollment()
        .unwrap()
        .enroll(&be, None, |_| {})
        .expect("enrollment");
    client.set_simulated_hand(&SimulatedHand::None).unwrap();
    for i in 0..10u64 {
        let cancel = client.transport().cancel_token();
        let started = Instant::now();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20 + 13 * i));
            cancel.cancel();
        });
        let mut ga = GetAssertionRequest::new(RP, random32());
        ga.user_verification = Some(true);
        expect_ctap(client.get_assertion(&ga), CtapError::KeepaliveCancel);
        canceller.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(4));
    }
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES);
}
