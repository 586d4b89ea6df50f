//! Bio enrollment and palm UV through the CTAP command interface, with a fake sensor serving
//! synthetic palms (the real engine judges them: quality, PAD, 1:N identification).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::*;
use crate::ctap::cbor::{self, MapBuilder};
use crate::ctap::pin::testing::Platform;
use crate::ctap::pin::PinProtocol;
use crate::ctap::test_support::*;
use crate::ctap::user::{KeepaliveStatus, NoInteraction};
use crate::events::EventSink;
use crate::palm::capture::Capture;
use crate::palm::synth::Identity;
use crate::sensor::{PalmSensor, SensorError};
use crate::uv::PalmUv;

const SEED: u64 = 4242;

/// What is on the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Hand {
    Palm(u64),
    Photo(u64),
    /// An image without a hand (a failure to acquire).
    Blank,
    /// Nobody: the sensor times out.
    Nothing,
}

/// Captures are deterministic: render each once for all tests.
fn rendered(hand: Hand, k: u32) -> Capture {
    type Renders = Mutex<HashMap<(u8, u64, u32), Capture>>;
    static CACHE: OnceLock<Renders> = OnceLock::new();
    let key = match hand {
        Hand::Palm(id) => (0, id, k),
        Hand::Photo(id) => (1, id, k),
        Hand::Blank => (2, 0, 0),
        Hand::Nothing => unreachable!(),
    };
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap().get(&key) {
        return c.clone();
    }
    let capture = match hand {
        Hand::Palm(id) => Identity::new(SEED, id).sample(k),
        Hand::Photo(id) => Identity::new(SEED, id).photo_attack(k),
        _ => {
            let mut c = Identity::new(SEED, 0).sample(0);
            for image in [c.print.as_mut(), c.vein.as_mut()].into_iter().flatten() {
                image.iter_mut().for_each(|p| *p = 120);
            }
            c
        }
    };
    cache.lock().unwrap().insert(key, capture.clone());
    capture
}

/// Whether the engine codes this capture as a bona fide palm (cached).
fn usable(hand: Hand, k: u32, capture: &Capture) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<(Hand, u32), bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(&ok) = cache.lock().unwrap().get(&(hand, k)) {
        return ok;
    }
    let ok = matches!(
        crate::uv::PalmMatcher::new().judge(capture),
        crate::uv::matcher::Judged::Template(_)
    );
    cache.lock().unwrap().insert((hand, k), ok);
    ok
}

/// A fake sensor the test controls: each capture of a palm is its next natural sample.
#[derive(Clone)]
struct FakeSensor {
    hand: Arc<Mutex<Hand>>,
    next_sample: Arc<AtomicU32>,
}

impl FakeSensor {
    fn new() -> Self {
        FakeSensor {
            hand: Arc::new(Mutex::new(Hand::Nothing)),
            next_sample: Arc::new(AtomicU32::new(0)),
        }
    }

    fn show(&self, hand: Hand) {
        *self.hand.lock().unwrap() = hand;
    }
}

impl PalmSensor for FakeSensor {
    fn capture(&mut self, io: &dyn Interaction) -> Result<Capture, SensorError> {
        io.set_status(KeepaliveStatus::UpNeeded);
        if io.is_cancelled() {
            return Err(SensorError::Cancelled);
        }
        let hand = *self.hand.lock().unwrap();
        if hand == Hand::Nothing {
            return Err(SensorError::NoHand);
        }
        // A person's natural samples include some the engine refuses (closed hand, band-aid);
        // the fake serves the usable ones so the tests say which failure they mean.
        loop {
            let k = self.next_sample.fetch_add(1, Ordering::Relaxed) % 40;
            let capture = rendered(hand, k);
            if !matches!(hand, Hand::Palm(_)) || usable(hand, k, &capture) {
                return Ok(capture);
            }
        }
    }
}

/// An interaction that records statuses and can be cancelled.
#[derive(Default)]
struct Recorder {
    cancelled: AtomicBool,
    statuses: Mutex<Vec<KeepaliveStatus>>,
}

impl Interaction for Recorder {
    fn set_status(&self, status: KeepaliveStatus) {
        self.statuses.lock().unwrap().push(status);
    }
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

struct Terminal {
    h: Harness,
    sensor: FakeSensor,
    /// A `be` token from the administrator's PIN.
    token: Vec<u8>,
    events: crate::events::EventRecorder,
}

fn terminal() -> Terminal {
    let mut h = Harness::new();
    let sensor = FakeSensor::new();
    h.auth
        .set_builtin_uv(Box::new(PalmUv::new(Box::new(sensor.clone()))));
    let (sink, events) = EventSink::recorder();
    h.auth.events = sink;
    let token = h.pin_token(Permission::BE);
    Terminal {
        h,
        sensor,
        token,
        events,
    }
}

impl Terminal {
    fn bio_with(
        &mut self,
        sub: u8,
        params: Option<Value>,
        io: &dyn Interaction,
    ) -> Result<Value, CtapError> {
        let mut message = vec![MODALITY, sub];
        if let Some(p) = &params {
            message.extend(cbor::encode(p.clone()));
        }
        let request = MapBuilder::new()
            .insert(0x01, MODALITY)
            .insert(0x02, sub)
            .insert_opt(0x03, params)
            .insert(0x04, 2)
            .insert(0x05, pin_auth(&self.token, &message))
            .build();
        let mut raw = vec![0x09];
        raw.extend(cbor::encode(request));
        status_and_body(&self.h.auth.process(&raw, io))
    }

    fn bio(&mut self, sub: u8, params: Option<Value>) -> Result<Value, CtapError> {
        self.bio_with(sub, params, &NoInteraction)
    }

    /// A sample: (templateId if begin, status, remaining).
    fn sample(&mut self, begin_or_id: Option<&[u8]>) -> (Option<Vec<u8>>, u8, u8) {
        let response = match begin_or_id {
            None => self.bio(0x01, None),
            Some(id) => self.bio(
                0x02,
                Some(
                    MapBuilder::new()
                        .insert(0x01, cbor::bytes(id.to_vec()))
                        .build(),
                ),
            ),
        }
        .expect("sample");
        let map = cbor::as_map(&response).unwrap();
        (
            map.optional(0x04u64, cbor::as_bytes)
                .unwrap()
                .map(<[u8]>::to_vec),
            map.required(0x05u64, cbor::as_u8).unwrap(),
            map.required(0x06u64, cbor::as_u8).unwrap(),
        )
    }

    /// Enroll palm `id` with `member`; returns the templateId.
    fn enroll(&mut self, id: u64, member: &str) -> Vec<u8> {
        self.sensor.show(Hand::Palm(id));
        let (template, status, mut remaining) = self.sample(None);
        assert_eq!((status, remaining), (0, 2), "first sample of palm {id}");
        let template = template.unwrap();
        while remaining > 0 {
            let (none, status, left) = self.sample(Some(&template));
            assert_eq!((none, status), (None, 0));
            assert_eq!(left, remaining - 1);
            remaining = left;
        }
        self.bio(
            0x05,
            Some(
                MapBuilder::new()
                    .insert(0x01, cbor::bytes(template.clone()))
                    .insert(0x02, member)
                    .build(),
            ),
        )
        .expect("setFriendlyName");
        template
    }

    fn enrollments(&mut self) -> Vec<(Vec<u8>, Option<String>)> {
        let response = match self.bio(0x04, None) {
            Err(CtapError::InvalidOption) => return Vec::new(),
            other => other.unwrap(),
        };
        cbor::as_map(&response)
            .unwrap()
            .required(0x07u64, cbor::as_array)
            .unwrap()
            .iter()
            .map(|info| {
                let m = cbor::as_map(info).unwrap();
                (
                    m.required(0x01u64, cbor::as_bytes).unwrap().to_vec(),
                    m.optional(0x02u64, cbor::as_text)
                        .unwrap()
                        .map(str::to_owned),
                )
            })
            .collect()
    }

    /// makeCredential under palm UV.
    fn register(&mut self, user_id: &[u8], rk: bool) -> Result<Made, CtapError> {
        let params =
            make_credential_params(user_id).insert(0x07, options(&[("rk", rk), ("uv", true)]));
        self.h
            .call(0x01, Some(params.build()))
            .map(|r| check_attestation(&r))
    }

    /// getAssertion under palm UV: (user ids returned, numberOfCredentials).
    fn login(&mut self, allow: Option<&[&[u8]]>) -> Result<(Vec<u8>, Option<u64>), CtapError> {
        let mut params = get_assertion_params().insert(0x05, options(&[("uv", true)]));
        if let Some(ids) = allow {
            params = params.insert(
                0x03,
                Value::Array(ids.iter().map(|id| descriptor(id)).collect()),
            );
        }
        let response = self.h.call(0x02, Some(params.build()))?;
        let map = cbor::as_map(&response).unwrap();
        let user = map
            .optional(0x04u64, cbor::as_map)
            .unwrap()
            .map(|u| u.required("id", cbor::as_bytes).unwrap().to_vec())
            .unwrap_or_default();
        let id = map
            .required(0x01u64, cbor::as_map)
            .unwrap()
            .required("id", cbor::as_bytes)
            .unwrap()
            .to_vec();
        let flags = parse_auth_data(map.required(0x02u64, cbor::as_bytes).unwrap()).flags;
        assert_eq!(flags & 0x04, 0x04, "UV flag set");
        Ok((
            if user.is_empty() { id } else { user },
            map.optional(0x05u64, cbor::as_uint).unwrap(),
        ))
    }
}

fn options_map(t: &mut Terminal) -> Vec<(String, bool)> {
    let info = t.h.call(0x04, None).unwrap();
    cbor::as_map(&info)
        .unwrap()
        .required(0x04u64, cbor::as_map)
        .unwrap()
        .text_entries()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| ["uv", "bioEnroll", "uvBioEnroll", "uvAcfg", "alwaysUv"].contains(k))
        .map(|(k, v)| (k.to_owned(), cbor::as_bool(v).unwrap()))
        .collect()
}

#[test]
fn modality_sensor_info_and_get_info() {
    let mut t = terminal();
    let modality =
        t.h.call(0x09, Some(MapBuilder::new().insert(0x06, true).build()))
            .unwrap();
    assert_eq!(
        cbor::as_map(&modality)
            .unwrap()
            .required(0x01u64, cbor::as_u8),
        Ok(1)
    );
    // 0x40 (2.1-PRE) is the same command.
    let info =
        t.h.call(
            0x40,
            Some(MapBuilder::new().insert(0x01, 1).insert(0x02, 0x07).build()),
        )
        .unwrap();
    let info = cbor::as_map(&info).unwrap();
    assert_eq!(info.required(0x02u64, cbor::as_u8), Ok(1), "touch kind");
    assert_eq!(info.required(0x03u64, cbor::as_u8), Ok(3));
    assert_eq!(info.required(0x08u64, cbor::as_u8), Ok(64));
    assert_eq!(
        t.h.call(
            0x09,
            Some(MapBuilder::new().insert(0x01, 2).insert(0x02, 0x07).build())
        ),
        Err(CtapError::InvalidParameter),
        "unknown modality"
    );
    let get_info = t.h.call(0x04, None).unwrap();
    assert_eq!(
        cbor::as_map(&get_info)
            .unwrap()
            .required(0x12u64, cbor::as_uint),
        Ok(0x100),
        "uvModality handprint"
    );
    let mut expected = vec![
        ("alwaysUv".to_owned(), false),
        ("uv".to_owned(), false),
        ("bioEnroll".to_owned(), false),
        ("uvBioEnroll".to_owned(), false),
        ("uvAcfg".to_owned(), false),
    ];
    expected.sort();
    let mut got = options_map(&mut t);
    got.sort();
    assert_eq!(got, expected);
    t.enroll(1, "M-1");
    let got: HashMap<_, _> = options_map(&mut t).into_iter().collect();
    assert!(got["uv"]);
    assert!(got["bioEnroll"]);
    // Without a palm there is no bio enrollment.
    let mut plain = Harness::new();
    assert_eq!(
        plain.call(
            0x09,
            Some(MapBuilder::new().insert(0x01, 1).insert(0x02, 0x07).build())
        ),
        Err(CtapError::InvalidCommand)
    );
}

#[test]
fn be_permission_and_pin_uv_auth_param_are_checked() {
    let mut t = terminal();
    let bare = MapBuilder::new().insert(0x01, 1).insert(0x02, 0x04).build();
    assert_eq!(t.h.call(0x09, Some(bare)), Err(CtapError::PinRequired));
    t.token = vec![0x55; 32];
    assert_eq!(t.bio(0x04, None), Err(CtapError::PinAuthInvalid), "bad MAC");
    t.token = t.h.pin_token(Permission::GA);
    assert_eq!(
        t.bio(0x04, None),
        Err(CtapError::PinAuthInvalid),
        "token without be"
    );
    t.token = t.h.pin_token(Permission::BE);
    assert_eq!(
        t.bio(0x04, None),
        Err(CtapError::InvalidOption),
        "nobody enrolled"
    );
    assert_eq!(t.bio(0x09, None), Err(CtapError::InvalidSubcommand));
    // cancel needs no token, and says when nothing was in progress.
    let cancel = MapBuilder::new().insert(0x01, 1).insert(0x02, 0x03).build();
    assert_eq!(t.h.call(0x09, Some(cancel)), Err(CtapError::InvalidOption));
}

#[test]
fn enroll_name_enumerate_refuse_duplicates_and_remove() {
    let mut t = terminal();
    let a = t.enroll(1, "M-1");
    let b = t.enroll(2, "M-2");
    assert_eq!(a.len(), 16);
    assert_ne!(a, b);
    assert_eq!(
        t.enrollments(),
        vec![
            (a.clone(), Some("M-1".into())),
            (b.clone(), Some("M-2".into()))
        ]
    );
    // The same palm again: refused sample by sample with FP_EXISTS.
    t.sensor.show(Hand::Palm(1));
    let (pending, status, remaining) = t.sample(None);
    assert_eq!((status, remaining), (0x0B, 3));
    let pending = pending.unwrap();
    let (_, status, remaining) = t.sample(Some(&pending));
    assert_eq!((status, remaining), (0x0B, 3));
    // Cancelling ends it; the template ID is then unknown.
    let cancel = MapBuilder::new().insert(0x01, 1).insert(0x02, 0x03).build();
    t.h.call(0x09, Some(cancel)).unwrap();
    t.sensor.show(Hand::Palm(3));
    let next = t.bio(
        0x02,
        Some(MapBuilder::new().insert(0x01, cbor::bytes(pending)).build()),
    );
    assert_eq!(next, Err(CtapError::InvalidParameter));
    // Member IDs are unique and bounded.
    let rename = |id: &[u8], name: &str| {
        Some(
            MapBuilder::new()
                .insert(0x01, cbor::bytes(id.to_vec()))
                .insert(0x02, name)
                .build(),
        )
    };
    assert_eq!(t.bio(0x05, rename(&b, "M-1")), Err(CtapError::NotAllowed));
    assert_eq!(
        t.bio(0x05, rename(&b, &"x".repeat(65))),
        Err(CtapError::InvalidParameter)
    );
    assert_eq!(
        t.bio(0x05, rename(&[9; 16], "M-9")),
        Err(CtapError::InvalidOption)
    );
    t.bio(0x05, rename(&b, "M-22")).unwrap();
    // Remove A.
    let remove = |id: &[u8]| {
        Some(
            MapBuilder::new()
                .insert(0x01, cbor::bytes(id.to_vec()))
                .build(),
        )
    };
    t.bio(0x06, remove(&a)).unwrap();
    assert_eq!(t.bio(0x06, remove(&a)), Err(CtapError::InvalidOption));
    assert_eq!(t.enrollments(), vec![(b, Some("M-22".into()))]);
    let types = t.events.types();
    assert_eq!(
        types
            .iter()
            .filter(|e| **e == "dev.palmkey.enrollment.completed")
            .count(),
        2
    );
    assert!(types.contains(&"dev.palmkey.enrollment.removed"));
    // A palm enrolled again after removal is a new person with a new template ID.
    let again = t.enroll(1, "M-1");
    assert_ne!(again, a);
}

#[test]
fn bad_samples_get_feedback_and_do_not_count() {
    let mut t = terminal();
    t.sensor.show(Hand::Blank);
    let (id, status, remaining) = t.sample(None);
    assert_eq!((status, remaining), (0x0D, 3), "no hand in the image");
    let id = id.unwrap();
    t.sensor.show(Hand::Photo(5));
    let (_, status, remaining) = t.sample(Some(&id));
    assert_eq!((status, remaining), (0x07, 3), "photo refused");
    t.sensor.show(Hand::Palm(5));
    assert_eq!(t.sample(Some(&id)).1, 0);
    t.sensor.show(Hand::Palm(6));
    let (_, status, remaining) = t.sample(Some(&id));
    assert_eq!(
        (status, remaining),
        (0x0A, 2),
        "another palm: merge failure"
    );
    // Nobody at the sensor: a timeout, the enrollment stays open.
    t.sensor.show(Hand::Nothing);
    let timeout = Some(
        MapBuilder::new()
            .insert(0x01, cbor::bytes(id.clone()))
            .insert(0x03, 50)
            .build(),
    );
    assert_eq!(t.bio(0x02, timeout), Err(CtapError::UserActionTimeout));
    // Cancel mid-capture.
    t.sensor.show(Hand::Palm(5));
    let cancelled = Recorder::default();
    cancelled.cancelled.store(true, Ordering::Relaxed);
    let params = Some(
        MapBuilder::new()
            .insert(0x01, cbor::bytes(id.clone()))
            .build(),
    );
    assert_eq!(
        t.bio_with(0x02, params, &cancelled),
        Err(CtapError::KeepaliveCancel)
    );
    assert_eq!(t.sample(Some(&id)).2, 1);
    assert_eq!(t.sample(Some(&id)).2, 0);
    assert_eq!(t.enrollments().len(), 1);
}

#[test]
fn palm_uv_identifies_the_owner_and_counts_only_real_failures() {
    let mut t = terminal();
    let a = t.enroll(1, "M-1");
    let b = t.enroll(2, "M-2");
    // Each person registers a discoverable credential for the same RP.
    t.sensor.show(Hand::Palm(1));
    let made_a = t.register(b"user-a", true).unwrap();
    t.sensor.show(Hand::Palm(2));
    let made_b = t.register(b"user-b", true).unwrap();
    let owners: Vec<_> =
        t.h.state()
            .credentials
            .iter()
            .map(|c| c.owner.clone())
            .collect();
    assert_eq!(owners, vec![Some(a.clone()), Some(b.clone())]);
    // Usernameless login: each sees only their own account.
    let io = Recorder::default();
    t.sensor.show(Hand::Palm(1));
    let params = get_assertion_params().insert(0x05, options(&[("uv", true)]));
    let mut raw = vec![0x02];
    raw.extend(cbor::encode(params.build()));
    status_and_body(&t.h.auth.process(&raw, &io)).unwrap();
    let statuses = io.statuses.lock().unwrap().clone();
    // UPNEEDED while waiting for the hand, then PROCESSING while matching.
    assert_eq!(statuses.first(), Some(&KeepaliveStatus::UpNeeded));
    assert_eq!(statuses.last(), Some(&KeepaliveStatus::Processing));
    assert_eq!(t.login(None).unwrap(), (b"user-a".to_vec(), None));
    t.sensor.show(Hand::Palm(2));
    assert_eq!(t.login(None).unwrap(), (b"user-b".to_vec(), None));
    // B's palm with an allowList holding only A's credential: nothing.
    assert_eq!(t.login(Some(&[&made_a.id])), Err(CtapError::NoCredentials));
    assert_eq!(
        t.login(Some(&[&made_a.id, &made_b.id])).unwrap().0,
        b"user-b".to_vec()
    );
    assert_eq!(t.h.state().uv_retries, 5);
    let succeeded = t
        .events
        .types()
        .iter()
        .filter(|e| e.ends_with("authentication.succeeded"))
        .count();
    assert!(succeeded >= 5);

    // An unenrolled palm fails and costs a retry; a photo attack too; failures to acquire
    // and cancel do not.
    t.sensor.show(Hand::Palm(9));
    assert_eq!(t.login(None), Err(CtapError::UvInvalid));
    assert_eq!(t.h.state().uv_retries, 4);
    t.sensor.show(Hand::Photo(1));
    assert_eq!(t.login(None), Err(CtapError::UvInvalid));
    assert_eq!(t.h.state().uv_retries, 3);
    t.sensor.show(Hand::Blank);
    assert_eq!(t.login(None), Err(CtapError::UserActionTimeout));
    t.sensor.show(Hand::Nothing);
    assert_eq!(t.login(None), Err(CtapError::UserActionTimeout));
    assert_eq!(t.h.state().uv_retries, 3);
    // A match restores the retries.
    t.sensor.show(Hand::Palm(1));
    t.login(None).unwrap();
    assert_eq!(t.h.state().uv_retries, 5);
}

#[test]
fn five_failures_block_uv_until_the_pin_is_used() {
    let mut t = terminal();
    t.enroll(1, "M-1");
    let p = Platform::new(PinProtocol::Two);
    p.set_pin(&mut t.h.auth, "123456").unwrap_err(); // a PIN hash is already set by the harness
    t.h.update(|s| s.pin.pin_hash = None);
    p.set_pin(&mut t.h.auth, "123456").unwrap();
    t.sensor.show(Hand::Palm(9));
    for left in (1..5).rev() {
        assert_eq!(t.login(None), Err(CtapError::UvInvalid));
        assert_eq!(t.h.state().uv_retries, left);
    }
    assert_eq!(t.login(None), Err(CtapError::UvBlocked));
    assert!(t.events.types().contains(&"dev.palmkey.uv.blocked"));
    // Blocked: even the right palm is not tried.
    t.sensor.show(Hand::Palm(1));
    assert_eq!(t.login(None), Err(CtapError::UvBlocked));
    assert_eq!(
        p.get_token_using_uv(&mut t.h.auth, Permission::GA, Some(TEST_RP)),
        Err(CtapError::UvBlocked)
    );
    p.get_token(&mut t.h.auth, "123456", Permission::GA, Some(TEST_RP))
        .unwrap();
    assert_eq!(t.h.state().uv_retries, 5);
    t.register(b"user-a", true).unwrap();
}

#[test]
fn a_palm_token_acts_for_its_person_and_never_for_enrollment() {
    let mut t = terminal();
    let a = t.enroll(1, "M-1");
    t.enroll(2, "M-2");
    t.sensor.show(Hand::Palm(1));
    t.register(b"user-a", true).unwrap();
    t.sensor.show(Hand::Palm(2));
    t.register(b"user-b", true).unwrap();
    let p = Platform::new(PinProtocol::Two);
    for forbidden in [Permission::BE, Permission::ACFG, Permission::CM] {
        assert_eq!(
            p.get_token_using_uv(&mut t.h.auth, forbidden | Permission::GA, Some(TEST_RP)),
            Err(CtapError::UnauthorizedPermission)
        );
    }
    t.sensor.show(Hand::Palm(1));
    let token = p
        .get_token_using_uv(
            &mut t.h.auth,
            Permission::MC | Permission::GA,
            Some(TEST_RP),
        )
        .unwrap();
    // makeCredential with the token: owned by A.
    let made = make(
        &mut t.h,
        make_credential_params(b"user-a2")
            .insert(0x07, options(&[("rk", true)]))
            .insert(0x08, cbor::bytes(p.auth(&token, &CDH)))
            .insert(0x09, 2),
    );
    let owner =
        t.h.state()
            .credentials
            .iter()
            .find(|c| c.id == made.id)
            .unwrap()
            .owner
            .clone();
    assert_eq!(owner, Some(a));
}

#[test]
fn removing_a_person_retires_their_credentials() {
    let mut t = terminal();
    let a = t.enroll(1, "M-1");
    t.sensor.show(Hand::Palm(1));
    t.register(b"user-a", true).unwrap();
    let kept = t.register(b"user-a", false).unwrap();
    assert_eq!(t.h.state().credentials.len(), 1);
    // makeCredential consumed the token's permissions (CTAP 2.1): a fresh one.
    t.token = t.h.pin_token(Permission::BE);
    let remove = Some(MapBuilder::new().insert(0x01, cbor::bytes(a)).build());
    t.bio(0x06, remove).unwrap();
    assert!(t.h.state().credentials.is_empty(), "discoverable deleted");
    // The non-discoverable one is dead even for the administrator's PIN.
    let token = t.h.pin_token(Permission::GA);
    let allow = Value::Array(vec![descriptor(&kept.id)]);
    let params = get_assertion_params()
        .insert(0x03, allow)
        .insert(
            0x06,
            cbor::bytes(PinProtocol::Two.authenticate(&token, &CDH)),
        )
        .insert(0x07, 2);
    assert_eq!(
        t.h.call(0x02, Some(params.build())),
        Err(CtapError::NoCredentials)
    );
}
