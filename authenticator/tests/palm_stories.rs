//! Issue 4's shared-terminal stories through `palmkey::client` over UDP, against a real
//! `palmkey serve --sensor sim`: three people enrolled with member IDs through the bio
//! enrollment API, discoverable credentials owned by whoever presented their palm, usernameless
//! logins that see only the caller's account, and the failure paths. Every assertion's
//! signature is verified.
//!
//! One device runs the stories in order (they build on each other: enrolment, then
//! registration, then logins), in a single test so the order is guaranteed.

use std::path::Path;
use std::time::{Duration, Instant};

use palmkey::client::transport::CtapHid;
use palmkey::client::{
    Assertion, BioCommand, BioEnrollment, Client, ClientError, CoseKeyBytes, GetAssertionRequest,
    MakeCredentialRequest, Permission, PinProtocol, PinUvAuthToken, RelyingParty, SampleStatus,
    SimulatedHand, Simulator, User,
};
use palmkey::ctap::CtapError;
use rand::RngCore;

const PIN: &str = "4821";
const RP_ID: &str = "pharmacy.example";
const MAX_UV_RETRIES: u8 = 5;
/// The simulated sensor's wait for a hand: short, so "no hand" stories finish fast.
const CAPTURE_TIMEOUT_MS: &str = "1500";
const STRANGER: u64 = 999;
/// Synthetic identities (sim seed 1) of the three members, chosen when PAD still rejected many
/// bona fide captures as people whose first 10 captures it accepted. PAD now rejects about 0.4 %
/// of bona fide captures on this seed (docs/palm-report.md), so the choice no longer matters;
/// the fixed identities keep the stories reproducible. They test the CTAP semantics, not the
/// engine's accuracy (`palmkey palm eval`).
const MEMBERS: [u64; 3] = [110, 115, 118];
/// The same kind of identities for the single-step enrollment test, and a second person.
const ENROLLEE: u64 = 29;
const ANOTHER: u64 = 17;
const THIRD: u64 = 42;

struct Member {
    identity: u64,
    member_id: String,
    template_id: Vec<u8>,
    user_id: Vec<u8>,
    credential_id: Vec<u8>,
    public_key: Option<CoseKeyBytes>,
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_palmkey"))
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn hand(client: &mut Client<CtapHid>, identity: u64) {
    client
        .set_simulated_hand(&SimulatedHand::Synthetic { identity })
        .expect("0x51 synthetic");
}

fn expect_ctap<T: std::fmt::Debug>(result: Result<T, ClientError>, code: CtapError) {
    match result {
        Err(e) if e.is(code) => {}
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

fn uv_login(
    client: &mut Client<CtapHid>,
    allow: Option<&[u8]>,
) -> Result<(Vec<Assertion>, [u8; 32]), ClientError> {
    let cdh = random32();
    let mut req = GetAssertionRequest::new(RP_ID, cdh);
    req.user_verification = Some(true);
    if let Some(id) = allow {
        req = req.allow([id.to_vec()]);
    }
    Ok((client.get_assertions(&req)?, cdh))
}

/// A usernameless login with the palm: exactly one account, the member's own, signed by
/// their key.
fn login_as(client: &mut Client<CtapHid>, member: &Member) {
    hand(client, member.identity);
    let (assertions, cdh) = uv_login(client, None).expect("palm login");
    assert_eq!(
        assertions.len(),
        1,
        "{} saw other accounts",
        member.member_id
    );
    let a = &assertions[0];
    assert_eq!(a.credential.id, member.credential_id);
    assert_eq!(
        a.user.as_ref().map(|u| u.id.clone()),
        Some(member.user_id.clone())
    );
    assert!(a.auth_data.flags.user_verified());
    a.verify(member.public_key.as_ref().unwrap(), RP_ID, &cdh)
        .expect("assertion signature");
}

fn pin_token(client: &mut Client<CtapHid>, permissions: Permission) -> PinUvAuthToken {
    let rp = permissions.needs_rp_id().then_some(RP_ID);
    client
        .get_pin_uv_auth_token(PinProtocol::Two, PIN, permissions, rp)
        .expect("PIN token")
}

#[test]
fn shared_terminal_stories() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(
        binary(),
        dir.path(),
        &[
            "--sensor",
            "sim",
            "--sim-capture-timeout-ms",
            CAPTURE_TIMEOUT_MS,
        ],
    )
    .expect("start palmkey serve --sensor sim");
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::Two, PIN).unwrap();

    // --- The administrator enrolls three people with their member IDs. ---
    let info = client.get_info().unwrap();
    assert_eq!(info.option("bioEnroll"), Some(false));
    assert_eq!(info.uv_modality, Some(0x100), "handprint");
    let be = pin_token(&mut client, Permission::BE);
    let mut members: Vec<Member> = Vec::new();
    for identity in MEMBERS {
        hand(&mut client, identity);
        let member_id = format!("M-{identity:04}");
        let mut feedback = Vec::new();
        let mut bio = client.bio_enrollment().unwrap();
        let template_id = bio
            .enroll(&be, Some(&member_id), |f| feedback.push(f))
            .expect("enrollment");
        assert_eq!(feedback.last().unwrap().remaining_samples, 0);
        assert!(
            feedback.iter().all(|f| f.status == SampleStatus::Good),
            "{feedback:?}"
        );
        members.push(Member {
            identity,
            member_id,
            template_id,
            user_id: format!("user-{identity}").into_bytes(),
            credential_id: Vec::new(),
            public_key: None,
        });
    }
    let mut listed = client.bio_enrollment().unwrap().enumerate(&be).unwrap();
    listed.sort_by(|a, b| a.friendly_name.cmp(&b.friendly_name));
    assert_eq!(listed.len(), 3);
    for (t, m) in listed.iter().zip(&members) {
        assert_eq!(t.template_id, m.template_id);
        assert_eq!(t.friendly_name.as_deref(), Some(m.member_id.as_str()));
    }
    let info = client.get_info().unwrap();
    assert_eq!(info.option("bioEnroll"), Some(true));
    assert_eq!(info.option("uv"), Some(true));

    // Enrolling an enrolled palm again is refused (and cancelled, nothing half-made stays).
    hand(&mut client, MEMBERS[1]);
    let mut seen = Vec::new();
    let refused = client
        .bio_enrollment()
        .unwrap()
        .enroll(&be, Some("M-dup"), |f| seen.push(f.status));
    assert!(
        matches!(refused, Err(ClientError::Enrollment(SampleStatus::Exists))),
        "{refused:?}"
    );
    assert_eq!(
        client
            .bio_enrollment()
            .unwrap()
            .enumerate(&be)
            .unwrap()
            .len(),
        3
    );

    // --- Each registers a discoverable credential for the same RP under palm UV. ---
    for m in &mut members {
        hand(&mut client, m.identity);
        let cdh = random32();
        let mut req = MakeCredentialRequest::new(
            cdh,
            RelyingParty::new(RP_ID),
            User::named(m.user_id.clone(), &m.member_id, &m.member_id),
        );
        req.resident_key = true;
        req.user_verification = Some(true);
        let made = client.make_credential(&req).expect("makeCredential");
        made.verify(RP_ID, &cdh).expect("attestation");
        assert!(made.auth_data.flags.user_verified());
        m.credential_id = made.credential().credential_id.clone();
        m.public_key = Some(made.credential().public_key.clone());
    }

    // --- Each logs in usernameless and gets only their own account. ---
    for m in &members {
        login_as(&mut client, m);
    }

    // --- B with an allowList holding only A's credential: NO_CREDENTIALS. ---
    hand(&mut client, members[1].identity);
    expect_ctap(
        uv_login(&mut client, Some(&members[0].credential_id)),
        CtapError::NoCredentials,
    );
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES);

    // --- An unenrolled palm fails UV and counts a retry. ---
    hand(&mut client, STRANGER);
    expect_ctap(uv_login(&mut client, None), CtapError::UvInvalid);
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES - 1);

    // --- Five failures block UV; the PIN unblocks it. ---
    for left in (0..MAX_UV_RETRIES - 1).rev() {
        let expected = if left == 0 {
            CtapError::UvBlocked
        } else {
            CtapError::UvInvalid
        };
        expect_ctap(uv_login(&mut client, None), expected);
        assert_eq!(client.uv_retries().unwrap(), left);
    }
    hand(&mut client, members[0].identity);
    expect_ctap(uv_login(&mut client, None), CtapError::UvBlocked);
    pin_token(&mut client, Permission::GA);
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES);
    login_as(&mut client, &members[0]);

    // --- A photo attack never verifies. ---
    for m in &members {
        client
            .set_simulated_hand(&SimulatedHand::PhotoAttack {
                identity: m.identity,
            })
            .unwrap();
        let result = uv_login(&mut client, None);
        assert!(
            matches!(&result, Err(e) if e.is(CtapError::UvInvalid)),
            "photo of {}: {result:?}",
            m.member_id
        );
    }
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES - 3);
    pin_token(&mut client, Permission::GA);

    // --- Cancel during capture (no hand): KEEPALIVE_CANCEL, nothing charged. ---
    client.set_simulated_hand(&SimulatedHand::None).unwrap();
    let cancel = client.transport().cancel_token();
    let started = Instant::now();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.cancel();
    });
    expect_ctap(uv_login(&mut client, None), CtapError::KeepaliveCancel);
    canceller.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "cancelled before the timeout"
    );
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES);

    // --- Nobody presents a palm: USER_ACTION_TIMEOUT, nothing charged. ---
    expect_ctap(uv_login(&mut client, None), CtapError::UserActionTimeout);
    assert_eq!(client.uv_retries().unwrap(), MAX_UV_RETRIES);

    // --- A palm-UV token acts for the person who presented it. ---
    hand(&mut client, members[2].identity);
    let token = client
        .get_uv_token(PinProtocol::Two, Permission::GA, Some(RP_ID))
        .expect("token via palm UV");
    let cdh = random32();
    let mut req = GetAssertionRequest::new(RP_ID, cdh);
    req.pin_uv_auth = Some(token.authenticate(&cdh));
    let assertions = client.get_assertions(&req).unwrap();
    assert_eq!(assertions.len(), 1);
    assert_eq!(assertions[0].credential.id, members[2].credential_id);
    assertions[0]
        .verify(members[2].public_key.as_ref().unwrap(), RP_ID, &cdh)
        .unwrap();

    // --- Removing a person: their palm and their credential stop working. ---
    let be = pin_token(&mut client, Permission::BE);
    client
        .bio_enrollment()
        .unwrap()
        .remove(&be, &members[2].template_id)
        .unwrap();
    hand(&mut client, members[2].identity);
    expect_ctap(uv_login(&mut client, None), CtapError::UvInvalid);
    let ga = pin_token(&mut client, Permission::GA);
    let cdh = random32();
    let mut req = GetAssertionRequest::new(RP_ID, cdh).allow([members[2].credential_id.clone()]);
    req.pin_uv_auth = Some(ga.authenticate(&cdh));
    expect_ctap(client.get_assertion(&req), CtapError::NoCredentials);
    login_as(&mut client, &members[0]);
    login_as(&mut client, &members[1]);
}

/// The bio enrollment API's single steps, statuses and errors.
#[test]
fn bio_enrollment_api_steps() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(
        binary(),
        dir.path(),
        &[
            "--sensor",
            "sim",
            "--sim-capture-timeout-ms",
            CAPTURE_TIMEOUT_MS,
        ],
    )
    .unwrap();
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::One, PIN).unwrap();
    // A token without `be` is refused like a bad MAC (CTAP 2.1 §6.7). (Each new token
    // replaces the previous one, so this comes first.)
    let cm = client
        .get_pin_uv_auth_token(PinProtocol::One, PIN, Permission::CM, None)
        .unwrap();
    expect_ctap(
        client.bio_enrollment().unwrap().enumerate(&cm),
        CtapError::PinAuthInvalid,
    );
    let be = client
        .get_pin_uv_auth_token(PinProtocol::One, PIN, Permission::BE, None)
        .unwrap();

    let mut bio: BioEnrollment<'_, CtapHid> = client.bio_enrollment().unwrap();
    assert_eq!(bio.modality(), palmkey::client::MODALITY_FINGERPRINT);
    assert_eq!(bio.get_modality().unwrap(), bio.modality());
    let sensor = bio.sensor_info().unwrap();
    assert_eq!(sensor.fingerprint_kind, 1);
    assert!(sensor.max_capture_samples_required_for_enroll >= 1);
    assert!(bio.enumerate(&be).unwrap().is_empty());
    // The CTAP 2.1 preview command (0x40) is the same command.
    let prototype = bio
        .client()
        .bio_enrollment_with(BioCommand::Prototype, palmkey::client::MODALITY_FINGERPRINT)
        .sensor_info()
        .unwrap();
    assert_eq!(prototype, sensor);

    // Step by step, with a stranger's palm in the middle (MERGE_FAILURE, not counted).
    bio.client()
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: ENROLLEE })
        .unwrap();
    let start = bio.enroll_begin(&be, None).unwrap();
    let required = sensor.max_capture_samples_required_for_enroll;
    assert_eq!(start.feedback.status, SampleStatus::Good);
    assert_eq!(start.feedback.remaining_samples, required - 1);
    bio.client()
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: ANOTHER })
        .unwrap();
    let merge = bio
        .enroll_capture_next(&be, &start.template_id, None)
        .unwrap();
    assert_eq!(merge.status, SampleStatus::MergeFailure);
    assert_eq!(merge.remaining_samples, required - 1);
    bio.client()
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: ENROLLEE })
        .unwrap();
    let mut remaining = merge.remaining_samples;
    while remaining > 0 {
        let f = bio
            .enroll_capture_next(&be, &start.template_id, None)
            .unwrap();
        assert_eq!(f.status, SampleStatus::Good);
        assert_eq!(f.remaining_samples, remaining - 1);
        remaining = f.remaining_samples;
    }
    bio.set_friendly_name(&be, &start.template_id, "M-0029")
        .unwrap();
    let listed = bio.enumerate(&be).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].friendly_name.as_deref(), Some("M-0029"));

    // No hand: the capture times out after timeoutMilliseconds; cancel drops the enrollment.
    bio.client()
        .set_simulated_hand(&SimulatedHand::None)
        .unwrap();
    let started = Instant::now();
    expect_ctap(
        bio.enroll_begin(&be, Some(Duration::from_millis(200))),
        CtapError::UserActionTimeout,
    );
    assert!(started.elapsed() < Duration::from_millis(1400));
    bio.client()
        .set_simulated_hand(&SimulatedHand::Synthetic { identity: THIRD })
        .unwrap();
    let start = bio.enroll_begin(&be, None).unwrap();
    bio.cancel().unwrap();
    expect_ctap(
        bio.enroll_capture_next(&be, &start.template_id, None),
        CtapError::InvalidParameter,
    );

    // Remove; unknown templates are refused.
    expect_ctap(bio.remove(&be, &[0u8; 16]), CtapError::InvalidOption);
    bio.remove(&be, &listed[0].template_id).unwrap();
    assert!(bio.enumerate(&be).unwrap().is_empty());
}

/// Vendor commands through the client: power cycle clears tokens.
#[test]
fn power_cycle_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(binary(), dir.path(), &["--sensor", "sim"]).unwrap();
    let mut client = sim.client().unwrap();
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let token = pin_token(&mut client, Permission::CM);
    client.creds_metadata(&token).unwrap();
    client.simulated_power_cycle().unwrap();
    expect_ctap(client.creds_metadata(&token), CtapError::PinAuthInvalid);
    // Without --sensor sim the vendor commands do not exist.
    let dir = tempfile::tempdir().unwrap();
    let plain = Simulator::start(binary(), dir.path(), &[]).unwrap();
    let mut client = plain.client().unwrap();
    let err = client
        .set_simulated_hand(&SimulatedHand::None)
        .expect_err("no simulated sensor");
    assert!(
        matches!(err, ClientError::Transport(_)),
        "CTAPHID ERROR INVALID_CMD expected, got {err:?}"
    );
}
