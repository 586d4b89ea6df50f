//! End-to-end tests: `palmkey serve` over CTAPHID/UDP, driven by `palmkey::client`.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use palmkey::client::{
    command, ClientError, ConfigCommand, GetAssertionRequest, HmacSecretSalts, Permission,
    PinProtocol, User,
};
use palmkey::ctap::CtapError;
use sha2::{Digest, Sha256};

const PROTOCOLS: [PinProtocol; 2] = [PinProtocol::One, PinProtocol::Two];

fn expect_ctap<T: std::fmt::Debug>(result: Result<T, ClientError>, code: CtapError) {
    match result {
        Err(ClientError::Ctap(status)) => assert_eq!(status, code, "got {status}"),
        other => panic!("expected CTAP error {code:?}, got {other:?}"),
    }
}

#[test]
fn get_info_describes_a_ctap21_authenticator() {
    let dev = fresh();
    let info = dev.client().get_info().unwrap();
    assert!(info.versions.iter().any(|v| v == "FIDO_2_1"));
    assert!(info.versions.iter().any(|v| v == "FIDO_2_0"));
    assert_eq!(info.pin_uv_auth_protocols, [2, 1]);
    assert!(info.algorithms.iter().any(|a| a.alg == -7));
    assert_eq!(info.option("rk"), Some(true));
    assert_eq!(info.option("clientPin"), Some(false));
    assert_eq!(info.option("credMgmt"), Some(true));
    assert!(info.firmware_version.is_some());
    assert!(info.max_msg_size.unwrap_or(0) >= 1024);
    assert!(info.remaining_discoverable_credentials.unwrap_or(0) > 0);
    for ext in ["credProtect", "hmac-secret", "credBlob", "minPinLength"] {
        assert!(info.supports_extension(ext), "{ext}");
    }
}

#[test]
fn register_and_authenticate_with_signature_checks() {
    let dev = fresh();
    let mut client = dev.client();
    let aaguid = client.get_info().unwrap().aaguid;
    let req = request("example.com", "alice", false);
    let made = make_verified(&mut client, &req);
    let cred = made.credential().clone();
    assert_eq!(cred.aaguid, aaguid);
    assert!(made.auth_data.flags.user_present());
    assert!(!made.auth_data.flags.user_verified());

    let mut last = made.auth_data.sign_count;
    for _ in 0..3 {
        let req = assertion_request("example.com", &cred.credential_id);
        let a = client.get_assertion(&req).unwrap();
        a.verify(&cred.public_key, "example.com", &req.client_data_hash)
            .unwrap();
        assert_eq!(a.credential.id, cred.credential_id);
        assert!(a.auth_data.flags.user_present());
        assert!(a.auth_data.sign_count > last, "counter must increase");
        last = a.auth_data.sign_count;
        // the signature covers the client data hash
        assert!(a
            .verify(&cred.public_key, "example.com", &random32())
            .is_err());
    }
}

#[test]
fn discoverable_credentials_newest_first_with_get_next_assertion() {
    let dev = fresh();
    let mut client = dev.client();
    let made: Vec<_> = ["u0", "u1", "u2"]
        .iter()
        .map(|u| make_verified(&mut client, &request("rk.example", u, true)))
        .collect();
    let req = GetAssertionRequest::new("rk.example", random32());
    let all = client.get_assertions(&req).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].number_of_credentials, Some(3));
    assert_eq!(all[0].credential.id, made[2].credential().credential_id);
    for a in &all {
        let m = made
            .iter()
            .find(|m| m.credential().credential_id == a.credential.id)
            .expect("assertion for a made credential");
        a.verify(
            &m.credential().public_key,
            "rk.example",
            &req.client_data_hash,
        )
        .unwrap();
        let user = a.user.as_ref().expect("user in discoverable assertion");
        assert!(user.id.starts_with(b"u"));
    }
    expect_ctap(client.get_next_assertion(), CtapError::NotAllowed);
    expect_ctap(
        client.get_assertion(&GetAssertionRequest::new("nobody.example", random32())),
        CtapError::NoCredentials,
    );
}

#[test]
fn exclude_list_and_rp_binding() {
    let dev = fresh();
    let mut client = dev.client();
    let made = make_verified(&mut client, &request("example.com", "bob", false));
    let id = made.credential().credential_id.clone();
    let mut again = request("example.com", "bob", false);
    again.exclude_list = vec![palmkey::client::CredentialDescriptor::new(id.clone())];
    expect_ctap(
        client.make_credential(&again),
        CtapError::CredentialExcluded,
    );
    expect_ctap(
        client.get_assertion(&assertion_request("evil.example", &id)),
        CtapError::NoCredentials,
    );
    let mut tampered = id.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    expect_ctap(
        client.get_assertion(&assertion_request("example.com", &tampered)),
        CtapError::NoCredentials,
    );
}

#[test]
fn pin_set_change_and_tokens_for_both_protocols() {
    for protocol in PROTOCOLS {
        let dev = fresh();
        let mut client = dev.client();
        client.set_pin(protocol, PIN).unwrap();
        assert!(client.get_info().unwrap().pin_is_set());
        assert_eq!(client.pin_retries().unwrap().retries, 8);
        expect_ctap(client.set_pin(protocol, "9999"), CtapError::NotAllowed);

        let t = token(&mut client, protocol, Permission::MC, Some("example.com"));
        let mut req = request("example.com", "carol", false);
        req.pin_uv_auth = Some(t.authenticate(&req.client_data_hash));
        let made = make_verified(&mut client, &req);
        assert!(made.auth_data.flags.user_verified());

        let t = token(&mut client, protocol, Permission::GA, Some("example.com"));
        let mut ga = assertion_request("example.com", &made.credential().credential_id);
        ga.pin_uv_auth = Some(t.authenticate(&ga.client_data_hash));
        let a = client.get_assertion(&ga).unwrap();
        a.verify(
            &made.credential().public_key,
            "example.com",
            &ga.client_data_hash,
        )
        .unwrap();
        assert!(a.auth_data.flags.user_verified());

        // legacy getPinToken works too
        client.get_pin_token(protocol, PIN).unwrap();

        client.change_pin(protocol, PIN, "736251").unwrap();
        expect_ctap(
            client.get_pin_uv_auth_token(protocol, PIN, Permission::MC, Some("example.com")),
            CtapError::PinInvalid,
        );
        assert_eq!(client.pin_retries().unwrap().retries, 7);
        client
            .get_pin_uv_auth_token(protocol, "736251", Permission::MC, Some("example.com"))
            .unwrap();
        assert_eq!(client.pin_retries().unwrap().retries, 8);
        expect_ctap(client.set_pin(protocol, "12"), CtapError::NotAllowed);
    }
}

#[test]
fn short_pin_is_a_policy_violation() {
    let dev = fresh();
    let mut client = dev.client();
    expect_ctap(
        client.set_pin(PinProtocol::Two, "123"),
        CtapError::PinPolicyViolation,
    );
    assert!(!client.get_info().unwrap().pin_is_set());
}

#[test]
fn three_wrong_pins_block_until_power_cycle_and_retries_persist() {
    let mut dev = fresh();
    let mut client = dev.client();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let wrong = |c: &mut palmkey::client::Client<_>| {
        c.get_pin_uv_auth_token(
            PinProtocol::Two,
            "0000",
            Permission::MC,
            Some("example.com"),
        )
    };
    expect_ctap(wrong(&mut client), CtapError::PinInvalid);
    expect_ctap(wrong(&mut client), CtapError::PinInvalid);
    expect_ctap(wrong(&mut client), CtapError::PinAuthBlocked);
    expect_ctap(
        client.get_pin_uv_auth_token(PinProtocol::Two, PIN, Permission::MC, Some("example.com")),
        CtapError::PinAuthBlocked,
    );
    assert_eq!(client.pin_retries().unwrap().retries, 5);

    // a real power cycle: kill the process, start it again on the same state
    dev.sim.kill();
    dev.sim = start_in(dev.dir.path());
    let mut client = dev.client();
    assert_eq!(client.pin_retries().unwrap().retries, 5, "retries persist");
    client
        .get_pin_uv_auth_token(PinProtocol::Two, PIN, Permission::MC, Some("example.com"))
        .unwrap();
    assert_eq!(client.pin_retries().unwrap().retries, 8);
}

#[test]
fn wrong_pin_uv_auth_is_rejected() {
    let dev = fresh();
    let mut client = dev.client();
    client.set_pin(PinProtocol::One, PIN).unwrap();
    for protocol in PROTOCOLS {
        // a MAC under a key the authenticator never issued
        let mut req = request("example.com", "dave", false);
        req.pin_uv_auth = Some(palmkey::client::PinUvAuthParam {
            protocol: protocol.version(),
            param: protocol.authenticate(&random32(), &req.client_data_hash),
        });
        expect_ctap(client.make_credential(&req), CtapError::PinAuthInvalid);
        // a real token without the mc permission
        let t = token(&mut client, protocol, Permission::GA, Some("example.com"));
        let mut req = request("example.com", "dave", false);
        req.pin_uv_auth = Some(t.authenticate(&req.client_data_hash));
        expect_ctap(client.make_credential(&req), CtapError::PinAuthInvalid);
        // a token bound to another RP
        let t = token(&mut client, protocol, Permission::MC, Some("other.example"));
        let mut req = request("example.com", "dave", false);
        req.pin_uv_auth = Some(t.authenticate(&req.client_data_hash));
        expect_ctap(client.make_credential(&req), CtapError::PinAuthInvalid);
    }
}

#[test]
fn credential_management_lists_updates_and_deletes() {
    let dev = fresh();
    let mut client = dev.client();
    let protocol = PinProtocol::Two;
    client.set_pin(protocol, PIN).unwrap();
    let mut made = Vec::new();
    for (rp, user) in [
        ("a.example", "a0"),
        ("a.example", "a1"),
        ("b.example", "b0"),
    ] {
        let t = token(&mut client, protocol, Permission::MC, Some(rp));
        let mut req = request(rp, user, true);
        req.pin_uv_auth = Some(t.authenticate(&req.client_data_hash));
        made.push(make_verified(&mut client, &req));
    }

    let cm = token(&mut client, protocol, Permission::CM, None);
    let meta = client.creds_metadata(&cm).unwrap();
    assert_eq!(meta.existing_resident_credentials, 3);
    assert!(meta.max_possible_remaining_resident_credentials > 0);

    let mut rps: Vec<_> = client
        .enumerate_rps(&cm)
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(r.rp_id_hash[..], Sha256::digest(r.rp.id.as_bytes())[..]);
            r.rp.id
        })
        .collect();
    rps.sort();
    assert_eq!(rps, ["a.example", "b.example"]);

    let a_hash: [u8; 32] = Sha256::digest(b"a.example").into();
    let creds = client.enumerate_credentials(&cm, a_hash).unwrap();
    assert_eq!(creds.len(), 2);
    for c in &creds {
        let m = made
            .iter()
            .find(|m| m.credential().credential_id == c.credential_id)
            .expect("listed credential was made");
        assert_eq!(
            c.public_key.es256().unwrap(),
            m.credential().public_key.es256().unwrap()
        );
    }

    let target = made[2].credential().credential_id.clone();
    let renamed = User::named(b"b0".to_vec(), "renamed", "Renamed");
    client.update_user(&cm, &target, &renamed).unwrap();
    let b_hash: [u8; 32] = Sha256::digest(b"b.example").into();
    let listed = client.enumerate_credentials(&cm, b_hash).unwrap();
    assert_eq!(listed[0].user.name.as_deref(), Some("renamed"));

    client.delete_credential(&cm, &target).unwrap();
    assert_eq!(
        client
            .creds_metadata(&cm)
            .unwrap()
            .existing_resident_credentials,
        2
    );
    assert!(client
        .enumerate_credentials(&cm, b_hash)
        .unwrap()
        .is_empty());
    expect_ctap(
        client.delete_credential(&cm, &target),
        CtapError::NoCredentials,
    );

    // a token without the cm permission, or a forged one, is refused
    let mc = token(&mut client, protocol, Permission::MC, Some("example.com"));
    expect_ctap(client.creds_metadata(&mc), CtapError::PinAuthInvalid);
}

#[test]
fn hmac_secret_outputs_are_stable_per_salt() {
    for protocol in PROTOCOLS {
        let dev = fresh();
        let mut client = dev.client();
        let mut req = request("example.com", "erin", false);
        req.extensions.hmac_secret = true;
        let made = make_verified(&mut client, &req);
        assert_eq!(
            made.auth_data.extension_outputs().hmac_secret_created,
            Some(true)
        );
        let id = made.credential().credential_id.clone();
        let (s1, s2) = (random32(), random32());
        let get = |c: &mut palmkey::client::Client<_>, salt2: Option<[u8; 32]>| {
            let mut ga = assertion_request("example.com", &id);
            ga.extensions.hmac_secret = Some(HmacSecretSalts {
                salt1: s1,
                salt2,
                protocol: Some(protocol),
            });
            let a = c.get_assertion(&ga).unwrap();
            a.verify(
                &made.credential().public_key,
                "example.com",
                &ga.client_data_hash,
            )
            .unwrap();
            a.hmac_secret.expect("hmac-secret output")
        };
        let one = get(&mut client, None);
        assert_eq!(one.len(), 32);
        assert_eq!(get(&mut client, None), one);
        let two = get(&mut client, Some(s2));
        assert_eq!(two.len(), 64);
        assert_eq!(two[..32], one[..]);
        assert_ne!(two[32..], one[..]);
    }
}

#[test]
fn cred_blob_and_cred_protect() {
    let dev = fresh();
    let mut client = dev.client();
    let mut req = request("blob.example", "frank", true);
    req.extensions.cred_blob = Some(b"a small secret".to_vec());
    req.extensions.cred_protect = Some(3);
    let made = make_verified(&mut client, &req);
    let out = made.auth_data.extension_outputs();
    assert_eq!(out.cred_blob_stored, Some(true));
    assert_eq!(out.cred_protect, Some(3));
    let id = made.credential().credential_id.clone();
    // credProtect 3: invisible without UV, even when named
    expect_ctap(
        client.get_assertion(&assertion_request("blob.example", &id)),
        CtapError::NoCredentials,
    );

    let mut req = request("blob.example", "gina", true);
    req.extensions.cred_blob = Some(b"second".to_vec());
    let made = make_verified(&mut client, &req);
    let mut ga = assertion_request("blob.example", &made.credential().credential_id);
    ga.extensions.cred_blob = true;
    let a = client.get_assertion(&ga).unwrap();
    assert_eq!(
        a.auth_data.extension_outputs().cred_blob.as_deref(),
        Some(&b"second"[..])
    );
}

#[test]
fn config_set_min_pin_length_and_always_uv() {
    let dev = fresh();
    let mut client = dev.client();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let t = token(&mut client, PinProtocol::Two, Permission::ACFG, None);
    client
        .config(
            Some(&t),
            &ConfigCommand::SetMinPinLength {
                new_min_pin_length: Some(6),
                min_pin_length_rp_ids: vec![],
                force_change_pin: false,
            },
        )
        .unwrap();
    let info = client.get_info().unwrap();
    assert_eq!(info.min_pin_length, Some(6));
    assert!(
        info.force_pin_change,
        "a 4-digit PIN is below the new minimum"
    );
    expect_ctap(
        client.change_pin(PinProtocol::Two, PIN, "12345"),
        CtapError::PinPolicyViolation,
    );
    client.change_pin(PinProtocol::Two, PIN, "123456").unwrap();

    let t = client
        .get_pin_uv_auth_token(PinProtocol::Two, "123456", Permission::ACFG, None)
        .unwrap();
    client
        .config(Some(&t), &ConfigCommand::ToggleAlwaysUv)
        .unwrap();
    assert_eq!(client.get_info().unwrap().option("alwaysUv"), Some(true));
    expect_ctap(
        client.make_credential(&request("example.com", "hank", false)),
        CtapError::PinRequired,
    );
    // config without a token once a PIN exists
    expect_ctap(
        client.config(None, &ConfigCommand::ToggleAlwaysUv),
        CtapError::PinRequired,
    );
}

#[test]
fn reset_within_ten_seconds_wipes_everything() {
    let dev = fresh();
    let mut client = dev.client();
    let made = make_verified(&mut client, &request("reset.example", "ivy", true));
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    client.reset().unwrap();
    assert!(!client.get_info().unwrap().pin_is_set());
    expect_ctap(
        client.get_assertion(&assertion_request(
            "reset.example",
            &made.credential().credential_id,
        )),
        CtapError::NoCredentials,
    );
}

// ---- error paths ----

/// The status byte for a raw CBOR message.
fn raw_status(
    client: &mut palmkey::client::Client<palmkey::client::transport::CtapHid>,
    msg: &[u8],
) -> u8 {
    client.send_raw(msg).expect("a CTAP response")[0]
}

#[test]
fn malformed_cbor_and_unknown_commands() {
    let dev = fresh();
    let mut client = dev.client();
    let invalid_cbor = CtapError::InvalidCbor as u8;
    // truncated map
    assert_eq!(
        raw_status(
            &mut client,
            &[command::MAKE_CREDENTIAL, 0xa2, 0x01, 0x58, 0x20]
        ),
        invalid_cbor
    );
    // reserved additional information
    assert_eq!(
        raw_status(&mut client, &[command::GET_ASSERTION, 0xbc]),
        invalid_cbor
    );
    // parameters that are not a map
    assert_eq!(
        raw_status(&mut client, &[command::MAKE_CREDENTIAL, 0x80]),
        CtapError::CborUnexpectedType as u8
    );
    // only clientDataHash
    let mut msg = vec![command::MAKE_CREDENTIAL, 0xa1, 0x01, 0x58, 0x20];
    msg.extend_from_slice(&[0; 32]);
    assert_eq!(
        raw_status(&mut client, &msg),
        CtapError::MissingParameter as u8
    );
    // unknown CTAP2 command
    assert_eq!(
        raw_status(&mut client, &[0x3f]),
        CtapError::InvalidCommand as u8
    );
    // unknown clientPIN subcommand
    let msg = [command::CLIENT_PIN, 0xa2, 0x01, 0x02, 0x02, 0x18, 0x42];
    assert_eq!(
        raw_status(&mut client, &msg),
        CtapError::InvalidSubcommand as u8
    );
    // the connection still works
    client.get_info().unwrap();
}

/// Minimal raw CTAPHID over UDP for framing errors the typed client cannot produce.
struct RawHid {
    sock: UdpSocket,
    cid: [u8; 4],
}

impl RawHid {
    fn open(addr: std::net::SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut raw = RawHid {
            sock,
            cid: [0xff; 4],
        };
        let nonce = random32();
        raw.init(0x86, 8, &nonce[..8]);
        let resp = raw.read();
        assert_eq!(resp[4], 0x86);
        assert_eq!(&resp[7..15], &nonce[..8]);
        raw.cid.copy_from_slice(&resp[15..19]);
        raw
    }

    fn init(&self, cmd: u8, bcnt: u16, data: &[u8]) {
        let mut r = [0u8; 64];
        r[..4].copy_from_slice(&self.cid);
        r[4] = cmd;
        r[5..7].copy_from_slice(&bcnt.to_be_bytes());
        r[7..7 + data.len()].copy_from_slice(data);
        self.sock.send(&r).unwrap();
    }

    fn read(&self) -> [u8; 64] {
        loop {
            let mut r = [0u8; 64];
            let n = self.sock.recv(&mut r).expect("a report from the device");
            assert_eq!(n, 64, "reports are 64 bytes");
            if r[4] != 0xbb {
                return r; // skip KEEPALIVE
            }
        }
    }

    fn expect_error(&self, code: u8) {
        let r = self.read();
        assert_eq!(&r[..4], &self.cid);
        assert_eq!(r[4], 0xbf, "expected CTAPHID_ERROR, got {:#04x}", r[4]);
        assert_eq!(r[7], code, "CTAPHID error code");
    }
}

#[test]
fn oversized_and_unknown_ctaphid_messages() {
    let dev = fresh();
    let raw = RawHid::open(dev.sim.addr());
    // one byte over the 7609 bytes CTAPHID can carry
    raw.init(0x90, 7610, &[0x04]);
    raw.expect_error(0x03); // ERR_INVALID_LEN
                            // an undefined CTAPHID command
    raw.init(0x80 | 0x33, 0, &[]);
    raw.expect_error(0x01); // ERR_INVALID_CMD
                            // a continuation packet that starts nothing is ignored; PING still works
    raw.init(0x81, 4, b"ping");
    let r = raw.read();
    assert_eq!(r[4], 0x81);
    assert_eq!(&r[7..11], b"ping");

    // the largest message is accepted (PING echo of 7609 bytes)
    let mut client = dev.client();
    let big = vec![0x5a; 7609];
    assert_eq!(client.transport_mut().ping(&big).unwrap(), big);
}

#[test]
fn eight_wrong_pins_block_the_pin_until_reset() {
    let mut dev = fresh();
    let mut client = dev.client();
    client.set_pin(PinProtocol::One, PIN).unwrap();
    let mut attempts = 0;
    // three mismatches in a row need a power cycle: restart the process each time
    while attempts < 8 {
        let r = client.get_pin_uv_auth_token(
            PinProtocol::One,
            "0000",
            Permission::MC,
            Some("example.com"),
        );
        attempts += 1;
        match r {
            Err(e) if e.is(CtapError::PinInvalid) => {}
            Err(e) if e.is(CtapError::PinAuthBlocked) && attempts % 3 == 0 => {
                dev.sim.kill();
                dev.sim = start_in(dev.dir.path());
                client = dev.client();
            }
            Err(e) if e.is(CtapError::PinBlocked) && attempts == 8 => {}
            other => panic!("attempt {attempts}: unexpected {other:?}"),
        }
        assert_eq!(client.pin_retries().unwrap().retries, 8 - attempts);
    }
    expect_ctap(
        client.get_pin_uv_auth_token(PinProtocol::One, PIN, Permission::MC, Some("example.com")),
        CtapError::PinBlocked,
    );
    // only a reset (within 10 s of power-up) brings the device back
    dev.sim.kill();
    dev.sim = start_in(dev.dir.path());
    let mut client = dev.client();
    client.reset().unwrap();
    assert!(!client.get_info().unwrap().pin_is_set());
    client.set_pin(PinProtocol::One, PIN).unwrap();
    assert_eq!(client.pin_retries().unwrap().retries, 8);
}

#[test]
fn two_applications_at_once() {
    let dev = fresh();
    let addr = dev.sim.addr();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            std::thread::spawn(move || {
                let mut client = palmkey::client::Client::connect_udp(addr).unwrap();
                let rp = format!("app{w}.example");
                let made = make_verified(&mut client, &request(&rp, "user", w == 0));
                let cred = made.credential().clone();
                let mut last = made.auth_data.sign_count;
                for _ in 0..25 {
                    let req = assertion_request(&rp, &cred.credential_id);
                    let a = client.get_assertion(&req).unwrap();
                    a.verify(&cred.public_key, &rp, &req.client_data_hash)
                        .unwrap();
                    assert!(a.auth_data.sign_count > last);
                    last = a.auth_data.sign_count;
                    make_verified(&mut client, &request(&rp, "other", false));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker succeeded");
    }
}
