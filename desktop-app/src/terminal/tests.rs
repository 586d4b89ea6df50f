//! The command layer against a real authenticator: palmkey's CTAP core in this process behind
//! its real CTAPHID-over-UDP transport, so every request crosses the same wire a simulator
//! or USB key would. (Bio enrollment needs the simulated sensor: see tests/e2e.rs.)

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use palmkey::client::{Client, MakeCredentialRequest, Permission, PinProtocol, RelyingParty, User};
use palmkey::ctap::{self, user::AutoApprove, Authenticator};
use palmkey::hid::{self, CtapApp, SharedApp, UdpTransport};
use palmkey::sensor::sim::{self, SimConfig, SimControl};
use palmkey::store::{MasterKey, Store};
use palmkey::uv::PalmUv;
use tempfile::TempDir;

use super::*;

/// An authenticator serving CTAPHID over UDP on a free port, stopped on drop.
pub(crate) struct Device {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _state: TempDir,
}

impl Device {
    pub fn start() -> Device {
        Self::serve(|auth| Arc::new(Mutex::new(auth)))
    }

    /// With the simulated palm sensor as built-in UV and bio enrollment, as `palmkey serve
    /// --sensor sim` runs it (vendor 0x51 sets the hand); captures give up after `timeout`.
    pub fn start_with_sensor(timeout: Duration) -> Device {
        Self::serve(|mut auth| {
            let control = SimControl::new(SimConfig {
                seed: sim::DEFAULT_SEED,
                capture_timeout: timeout,
                dataset: None,
            })
            .unwrap();
            auth.set_builtin_uv(Box::new(PalmUv::new(Box::new(control.sensor()))));
            Arc::new(Mutex::new(
                CtapApp::new(auth).with_simulated_sensor(control),
            ))
        })
    }

    fn serve(app: impl FnOnce(Authenticator) -> SharedApp) -> Device {
        let state = TempDir::new().unwrap();
        let store = Store::open(state.path(), MasterKey::generate(&mut rand_core::OsRng)).unwrap();
        let auth = Authenticator::new(store, Box::new(AutoApprove), ctap::Config::default());
        let app = app(auth);
        let udp = UdpTransport::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = udp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            udp.serve(app, hid::Config::default(), &flag).unwrap();
        });
        Device {
            addr,
            stop,
            thread: Some(thread),
            _state: state,
        }
    }

    pub fn id(&self) -> String {
        format!("udp:{}", self.addr)
    }

    /// Another platform on the same authenticator (a browser, say).
    pub fn other_platform(&self) -> Client<palmkey::client::transport::CtapHid> {
        Client::connect_udp(self.addr).unwrap()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn terminal(dir: &TempDir, idle: Duration) -> Terminal {
    let mut config = TerminalConfig::new(dir.path().to_owned());
    config.simulators = vec![];
    config.idle_timeout = idle;
    let vault = PinVault::with_store(keyring_core::mock::Store::new().unwrap(), "mock keyring");
    Terminal::with_vault(config, vault).unwrap()
}

fn audit_types(t: &Terminal) -> Vec<String> {
    let mut types: Vec<String> = t
        .audit_log(100)
        .unwrap()
        .iter()
        .map(|e| {
            e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches(audit::TYPE_PREFIX)
                .to_owned()
        })
        .collect();
    types.reverse();
    types
}

const PIN: &str = "24681357";

#[test]
fn set_pin_unlocks_lock_needs_the_typed_pin_and_change_pin_works() {
    let dev = Device::start();
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_secs(600));
    assert!(matches!(t.device_info(), Err(AppError::NotConnected)));
    let s = t.connect(&dev.id()).unwrap();
    assert!(s.connected && !s.pin_set && !s.unlocked && s.simulator);
    assert!(matches!(t.unlock(PIN, false), Err(AppError::PinNotSet)));

    let s = t.set_pin(PIN, true).unwrap();
    assert!(s.pin_set && s.unlocked && s.pin_remembered);
    assert!(matches!(
        t.set_pin("99999999", false),
        Err(AppError::Invalid(_))
    ));
    assert_eq!(t.credentials().unwrap().len(), 0);

    assert!(!t.lock().unlocked);
    assert!(matches!(t.credentials(), Err(AppError::Locked)));
    let wrong = t.unlock("11111111", true).unwrap_err();
    assert!(wrong.is_ctap(CtapError::PinInvalid), "{wrong}");
    assert!(!t.status().unlocked);
    assert_eq!(t.device_info().unwrap().pin_retries, Some(7));

    assert!(t.unlock(PIN, false).unwrap().unlocked);
    assert!(
        !t.status().pin_remembered,
        "unlocking without 'remember' forgets the PIN"
    );
    let s = t.change_pin(PIN, "13572468", true).unwrap();
    assert!(s.unlocked && s.pin_remembered);
    t.lock();
    assert!(t
        .unlock(PIN, false)
        .unwrap_err()
        .is_ctap(CtapError::PinInvalid));
    assert!(t.unlock("13572468", false).is_ok());

    let types = audit_types(&t);
    assert_eq!(
        types,
        [
            "device.connected",
            "pin.set",
            "session.locked",
            "session.unlocked",
            "pin.changed",
            "session.locked",
            "session.unlocked"
        ]
    );
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        !log.contains(PIN) && !log.contains("13572468"),
        "no PIN in the audit log"
    );
}

#[test]
fn the_idle_lock_drops_the_token() {
    let dev = Device::start();
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_millis(300));
    t.connect(&dev.id()).unwrap();
    t.set_pin(PIN, true).unwrap();
    assert!(t.touch().unlocked);
    std::thread::sleep(Duration::from_millis(400));
    assert!(!t.status().unlocked);
    // The remembered PIN does not undo an idle lock.
    assert!(matches!(t.credentials(), Err(AppError::Locked)));
    assert!(t.audit_log(1).unwrap()[0]["data"]["reason"] == "idle");
    assert!(t.set_idle_timeout(5).is_err());
    assert_eq!(t.set_idle_timeout(60).unwrap().idle_timeout_secs, 60);
}

#[test]
fn a_token_taken_by_another_platform_is_renewed_from_the_remembered_pin() {
    let dev = Device::start();
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_secs(600));
    t.connect(&dev.id()).unwrap();
    t.set_pin(PIN, true).unwrap();
    let mut browser = dev.other_platform();
    browser.get_pin_token(PinProtocol::Two, PIN).unwrap();
    assert!(t.credentials().is_ok(), "renewed with the keyring PIN");
    assert!(t.status().unlocked);

    t.forget_pin().unwrap();
    browser.get_pin_token(PinProtocol::Two, PIN).unwrap();
    assert!(matches!(t.credentials(), Err(AppError::Locked)));
    assert!(!t.status().unlocked);
}

#[test]
fn credentials_are_listed_per_rp_and_deleted() {
    let dev = Device::start();
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_secs(600));
    t.connect(&dev.id()).unwrap();
    t.set_pin(PIN, false).unwrap();
    let mut browser = dev.other_platform();
    for (rp, user) in [
        ("bank.example", "alice"),
        ("bank.example", "bob"),
        ("mail.example", "alice"),
    ] {
        let token = browser
            .get_pin_uv_auth_token(PinProtocol::Two, PIN, Permission::MC, Some(rp))
            .unwrap();
        let cdh = [9u8; 32];
        let mut req = MakeCredentialRequest::new(
            cdh,
            RelyingParty::new(rp),
            User::named(user.as_bytes().to_vec(), user, &user.to_uppercase()),
        );
        req.resident_key = true;
        req.pin_uv_auth = Some(token.authenticate(&cdh));
        browser.make_credential(&req).unwrap();
    }
    // The browser's tokens invalidated ours; without a remembered PIN: unlock again.
    t.unlock(PIN, false).unwrap();
    let rps = t.credentials().unwrap();
    let bank = rps.iter().find(|r| r.rp_id == "bank.example").unwrap();
    assert_eq!(bank.credentials.len(), 2);
    assert_eq!(rps.iter().map(|r| r.credentials.len()).sum::<usize>(), 3);
    let bob = bank
        .credentials
        .iter()
        .find(|c| c.user_name.as_deref() == Some("bob"))
        .unwrap();
    assert_eq!(bob.display_name.as_deref(), Some("BOB"));
    let rps = t
        .delete_credential("bank.example", &bob.credential_id)
        .unwrap();
    assert_eq!(rps.iter().map(|r| r.credentials.len()).sum::<usize>(), 2);
    assert!(t.delete_credential("bank.example", "zz").is_err());
    let last = t.audit_log(1).unwrap();
    assert_eq!(last[0]["data"]["rpId"], "bank.example");
    assert_eq!(last[0]["data"]["credentialId"], bob.credential_id);
}

#[test]
fn reset_needs_the_typed_confirmation_and_wipes_pin_and_records() {
    let dev = Device::start();
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_secs(600));
    t.connect(&dev.id()).unwrap();
    t.set_pin(PIN, true).unwrap();
    assert!(matches!(t.reset("reset"), Err(AppError::Invalid(_))));
    assert!(t.status().pin_set);
    let s = t.reset(" RESET ").unwrap();
    assert!(!s.pin_set && !s.unlocked && !s.pin_remembered);
    assert!(!t.device_info().unwrap().pin_set);
    assert_eq!(audit_types(&t).last().unwrap(), "device.reset");
}

#[test]
fn device_info_reports_versions_options_and_slots() {
    let dev = Device::start();
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_secs(600));
    t.connect(&dev.id()).unwrap();
    let info = t.device_info().unwrap();
    assert!(info.versions.iter().any(|v| v == "FIDO_2_1"));
    assert_eq!(info.aaguid.len(), 36);
    assert!(info
        .options
        .iter()
        .any(|o| o.name == "clientPin" && !o.value));
    assert!(info.remaining_credentials.is_some());
    assert!(info.pin_protocols.contains(&2));
    assert_eq!(info.pin_retries, None, "no PIN, no retries to show");
    let found = discover(&[dev.addr]);
    assert!(found
        .devices
        .iter()
        .any(|d| d.id == dev.id() && d.kind == "simulator"));
}

#[test]
fn enrollment_requests_fail_cleanly_before_anything_is_connected_or_unlocked() {
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_secs(600));
    assert!(matches!(t.enroll_begin("M-1"), Err(AppError::NotConnected)));
    assert!(matches!(
        t.enroll_begin("  "),
        Err(AppError::InvalidMemberId(_))
    ));
    assert!(matches!(t.enroll_next(), Err(AppError::NoEnrollment)));
    assert!(matches!(t.enroll_cancel(), Err(AppError::NoEnrollment)));
    let dev = Device::start();
    t.connect(&dev.id()).unwrap();
    assert!(matches!(t.enroll_begin("M-1"), Err(AppError::Locked)));
    assert!(t.simulate_hand("wave", None).is_err());
}

/// Capture every sample of the enrollment begun with `first`.
fn finish(t: &Terminal, first: EnrollProgress) -> EnrollProgress {
    let mut p = first;
    while p.state == EnrollState::Capturing {
        p = t.enroll_next().unwrap();
    }
    p
}

#[test]
fn a_person_is_enrolled_listed_renamed_and_removed_and_duplicates_are_refused() {
    let dev = Device::start_with_sensor(Duration::from_secs(5));
    let dir = TempDir::new().unwrap();
    let t = terminal(&dir, Duration::from_secs(600));
    t.connect(&dev.id()).unwrap();
    assert!(t.status().bio_enrollment);
    t.set_pin(PIN, true).unwrap();
    assert!(t.people().unwrap().is_empty());

    t.simulate_hand("synthetic", Some(11)).unwrap();
    let done = finish(&t, t.enroll_begin(" M-1001\r\n").unwrap());
    assert_eq!(done.state, EnrollState::Done);
    assert_eq!(done.remaining, 0);
    assert!(done.captured >= 1 && done.captured == done.total);
    let people = t.people().unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].member_id.as_deref(), Some("M-1001"));
    assert!(
        people[0].enrolled_at.is_some(),
        "the local record gives the time"
    );
    assert!(!t.status().enrollment_in_progress);

    // The same member ID, in any case, is refused before any capture.
    assert!(matches!(
        t.enroll_begin("m-1001"),
        Err(AppError::AlreadyEnrolled(_))
    ));
    // The same palm under a new member ID: the authenticator says it exists.
    let p = finish(&t, t.enroll_begin("M-1002").unwrap());
    assert_eq!(p.state, EnrollState::Failed);
    assert_eq!(p.title, "This palm is already enrolled");
    assert_eq!(t.people().unwrap().len(), 1);

    // A second person, then a rename onto their ID is refused; a fresh one works.
    t.simulate_hand("synthetic", Some(12)).unwrap();
    assert_eq!(
        finish(&t, t.enroll_begin("M-2001").unwrap()).state,
        EnrollState::Done
    );
    let first = t.people().unwrap()[0].template_id.clone();
    assert!(matches!(
        t.rename(&first, "m-2001"),
        Err(AppError::AlreadyEnrolled(_))
    ));
    let people = t.rename(&first, "M-3001").unwrap();
    let ids: Vec<_> = people.iter().filter_map(|p| p.member_id.clone()).collect();
    assert_eq!(ids, ["M-2001", "M-3001"]);
    let renamed = people.iter().find(|p| p.template_id == first).unwrap();
    assert!(
        renamed.enrolled_at.is_some(),
        "the record follows the rename"
    );

    let people = t.remove_person(&first).unwrap();
    assert_eq!(people.len(), 1);
    let records = std::fs::read_to_string(dir.path().join("enrollments.json")).unwrap();
    assert!(!records.contains("M-3001") && records.contains("M-2001"));
    let types = audit_types(&t);
    for kind in [
        "enrollment.completed",
        "enrollment.renamed",
        "enrollment.removed",
        "simulator.hand",
    ] {
        assert!(types.iter().any(|t| t == kind), "{kind} in {types:?}");
    }
}

#[test]
fn cancel_interrupts_a_capture_waiting_for_a_hand() {
    let dev = Device::start_with_sensor(Duration::from_secs(20));
    let dir = TempDir::new().unwrap();
    let t = Arc::new(terminal(&dir, Duration::from_secs(600)));
    t.connect(&dev.id()).unwrap();
    t.set_pin(PIN, true).unwrap();
    t.simulate_hand("synthetic", Some(21)).unwrap();
    let first = t.enroll_begin("M-4001").unwrap();
    assert_eq!(first.state, EnrollState::Capturing);
    // The person walks away: the next capture waits for a hand until cancelled.
    t.simulate_hand("none", None).unwrap();
    let waiting = Arc::clone(&t);
    let started = std::time::Instant::now();
    let capture = std::thread::spawn(move || waiting.enroll_next());
    std::thread::sleep(Duration::from_millis(600));
    t.enroll_cancel().unwrap();
    let result = capture.join().unwrap();
    assert!(
        matches!(result, Err(AppError::EnrollmentCancelled)),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelled, not timed out"
    );
    assert!(!t.status().enrollment_in_progress);
    assert!(
        t.people().unwrap().is_empty(),
        "nothing half-made stays behind"
    );
    assert_eq!(audit_types(&t).last().unwrap(), "enrollment.cancelled");
    // A new enrollment starts cleanly afterwards.
    t.simulate_hand("synthetic", Some(21)).unwrap();
    assert_eq!(
        finish(&t, t.enroll_begin("M-4001").unwrap()).state,
        EnrollState::Done
    );
}
