//! Store behaviour: round trip, atomic update semantics, counters, reset, and every kind of
//! tamper the sealed state must reveal.

use std::num::NonZeroU32;
use std::path::PathBuf;

use super::*;
use crate::store::state::{CredentialRecord, SecretKey};

struct Device {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key_file: PathBuf,
}

impl Device {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let key_file = tmp.path().join("keys/master.key");
        Device {
            _tmp: tmp,
            dir,
            key_file,
        }
    }

    fn source(&self) -> KeySource {
        KeySource::File(self.key_file.clone())
    }

    fn open(&self) -> Result<Store, StoreError> {
        Store::open_with(&self.dir, &self.source())
    }

    fn state_file(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }
}

pub(crate) fn credential(created: u64) -> CredentialRecord {
    CredentialRecord {
        id: created.to_be_bytes().to_vec(),
        rp_id: "example.com".into(),
        rp_name: Some("Example".into()),
        user_id: vec![7; 16],
        user_name: Some("alice".into()),
        user_display_name: None,
        private_key: SecretKey([created as u8; 32]),
        cred_protect: 1,
        hmac_secret: None,
        cred_blob: None,
        created,
        owner: Some(b"member-42".to_vec()),
    }
}

fn integrity(result: Result<Store, StoreError>) -> IntegrityError {
    match result {
        Err(StoreError::Integrity(why)) => why,
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

#[test]
fn new_dir_is_factory_fresh_and_updates_survive_reopen() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    assert!(store.state().credentials.is_empty());
    assert_eq!(store.state().pin.retries, 8);
    for path in [dev.dir.clone(), dev.state_file()] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is private", path.display());
    }
    let wrap_key = store.state().device.credential_wrap_key.clone();
    let n = store
        .update(|s| {
            s.credentials.push(credential(1));
            s.pin.retries = 5;
            s.credentials.len()
        })
        .unwrap();
    assert_eq!(n, 1);
    drop(store);

    let store = dev.open().unwrap();
    assert_eq!(store.state().credentials.len(), 1);
    assert_eq!(store.state().credentials[0].rp_id, "example.com");
    assert_eq!(store.state().pin.retries, 5);
    assert_eq!(store.state().device.credential_wrap_key, wrap_key);
}

#[test]
fn state_file_does_not_contain_secrets_in_clear() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.update(|s| s.credentials.push(credential(9))).unwrap();
    let bytes = std::fs::read(dev.state_file()).unwrap();
    let needle = b"example.com";
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    assert!(!bytes.windows(32).any(|w| w == [9u8; 32]));
}

#[test]
fn failed_write_leaves_memory_and_disk_unchanged() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.update(|s| s.pin.retries = 7).unwrap();
    let counter = store.next_signature_counter().unwrap(); // reserves a block
    let generation = store.generation();
    // A directory where the temporary file must go makes the write fail (even for root).
    std::fs::create_dir(dev.dir.join(format!(".{STATE_FILE}.tmp"))).unwrap();
    let err = store.update(|s| s.pin.retries = 1).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert_eq!(store.state().pin.retries, 7);
    assert_eq!(store.generation(), generation);
    // Counters still come from the block reserved before the failure.
    assert_eq!(store.next_signature_counter().unwrap(), counter + 1);
    std::fs::remove_dir(dev.dir.join(format!(".{STATE_FILE}.tmp"))).unwrap();
    drop(store);
    assert_eq!(dev.open().unwrap().state().pin.retries, 7);
}

#[test]
fn an_update_that_changes_nothing_writes_nothing() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    let generation = store.generation();
    store.update(|s| s.pin.retries = 8).unwrap();
    assert_eq!(store.generation(), generation);
    store.update(|s| s.pin.retries = 7).unwrap();
    assert_eq!(store.generation(), generation + 1);
    drop(store);
    let mut store = dev.open().unwrap();
    store.update(|s| s.pin.retries = 7).unwrap();
    assert_eq!(store.generation(), generation + 1, "known after reopen too");
}

#[test]
fn counters_increase_and_resume_above_everything_handed_out() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.set_counter_block(NonZeroU32::new(4).unwrap());
    let first: Vec<u32> = (0..10)
        .map(|_| store.next_signature_counter().unwrap())
        .collect();
    assert_eq!(first, (1..=10).collect::<Vec<_>>());
    drop(store); // like a crash: the in-memory position is lost
    let mut store = dev.open().unwrap();
    let next = store.next_signature_counter().unwrap();
    assert!(next > 10, "resumed at {next}");
    assert!(next <= 10 + 4, "skips at most one block, resumed at {next}");
}

#[test]
fn only_one_draw_per_block_writes_the_state() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    let before = store.generation();
    for _ in 0..DEFAULT_COUNTER_BLOCK {
        store.next_signature_counter().unwrap();
    }
    assert_eq!(store.generation(), before + 1);
    store.next_signature_counter().unwrap();
    assert_eq!(store.generation(), before + 2);
}

#[test]
fn updates_top_up_a_half_used_counter_reservation() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.set_counter_block(NonZeroU32::new(8).unwrap());
    let draw = |store: &mut Store, n| {
        for _ in 0..n {
            store.next_signature_counter().unwrap();
        }
    };
    draw(&mut store, 2); // reserves 1..9, hands out 1 and 2
    store.update(|s| s.pin.retries = 7).unwrap(); // 6 left: no top-up
    draw(&mut store, 3); // 3 left
    let generation = store.generation();
    store.update(|s| s.pin.retries = 6).unwrap(); // tops up to 6 + 8
    assert_eq!(store.generation(), generation + 1);
    draw(&mut store, 8); // 6..=13 come from the topped-up block: no write
    assert_eq!(store.generation(), generation + 1);
    draw(&mut store, 1);
    assert_eq!(store.generation(), generation + 2);
    drop(store);
    let mut store = dev.open().unwrap();
    assert!(store.next_signature_counter().unwrap() > 14);
}

#[test]
fn reset_makes_new_device_keys_and_keeps_counters_monotonic() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store
        .update(|s| {
            s.credentials.push(credential(1));
            s.pin.pin_hash = Some([1; 16]);
        })
        .unwrap();
    let wrap_key = store.state().device.credential_wrap_key.clone();
    let before = store.next_signature_counter().unwrap();
    store.reset().unwrap();
    assert!(store.state().credentials.is_empty());
    assert!(store.state().pin.pin_hash.is_none());
    assert_ne!(store.state().device.credential_wrap_key, wrap_key);
    assert!(store.next_signature_counter().unwrap() > before);
    drop(store);
    let mut store = dev.open().unwrap();
    assert!(store.state().credentials.is_empty());
    assert!(store.next_signature_counter().unwrap() > before);
}

#[test]
fn a_second_process_cannot_open_the_same_folder() {
    let dev = Device::new();
    let _store = dev.open().unwrap();
    let err = dev.open().unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)), "{err}");
}

fn sealed_device() -> (Device, Vec<u8>) {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.update(|s| s.credentials.push(credential(3))).unwrap();
    drop(store);
    let bytes = std::fs::read(dev.state_file()).unwrap();
    (dev, bytes)
}

#[test]
fn every_bit_flip_in_the_state_file_is_tamper() {
    let (dev, good) = sealed_device();
    for bit in 0..good.len() * 8 {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(dev.state_file(), &bad).unwrap();
        integrity(dev.open());
    }
    std::fs::write(dev.state_file(), &good).unwrap();
    assert!(dev.open().is_ok(), "the untouched file still opens");
}

#[test]
fn every_truncation_and_extension_is_tamper() {
    let (dev, good) = sealed_device();
    for len in 0..good.len() {
        std::fs::write(dev.state_file(), &good[..len]).unwrap();
        integrity(dev.open());
    }
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 3]);
    std::fs::write(dev.state_file(), &longer).unwrap();
    integrity(dev.open());
}

#[test]
fn swapping_in_an_older_sealed_state_is_detected_as_rollback() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.update(|s| s.pin.retries = 8).unwrap();
    let old = std::fs::read(dev.state_file()).unwrap();
    store.update(|s| s.pin.retries = 2).unwrap();
    drop(store);
    std::fs::write(dev.state_file(), &old).unwrap();
    assert!(matches!(
        integrity(dev.open()),
        IntegrityError::RolledBack { .. }
    ));
}

#[test]
fn another_devices_state_or_the_anchor_in_its_place_is_tamper() {
    let (dev, _) = sealed_device();
    let (other, other_bytes) = sealed_device();
    std::fs::write(dev.state_file(), &other_bytes).unwrap();
    assert_eq!(integrity(dev.open()), IntegrityError::Authentication);
    // The anchor is sealed under the same key but labelled as another kind of file.
    let anchor = std::fs::read(other.key_file.with_extension("key.anchor")).unwrap();
    std::fs::write(other.state_file(), &anchor).unwrap();
    assert_eq!(integrity(other.open()), IntegrityError::WrongKind);
}

#[test]
fn wrong_key_is_tamper_but_missing_key_is_key_unavailable() {
    let (dev, _) = sealed_device();
    let wrong = MasterKey::from_bytes([0x55; 32]);
    assert_eq!(
        integrity(Store::open(&dev.dir, wrong)),
        IntegrityError::Authentication
    );
    std::fs::remove_file(&dev.key_file).unwrap();
    let err = dev.open().unwrap_err();
    assert!(matches!(err, StoreError::KeyUnavailable(_)), "{err}");
}

#[test]
fn a_tampered_anchor_is_tamper_and_a_lagging_one_is_raised() {
    let (dev, _) = sealed_device();
    let anchor_path = dev.key_file.with_extension("key.anchor");
    let good_anchor = std::fs::read(&anchor_path).unwrap();
    let mut bad = good_anchor.clone();
    bad[10] ^= 1;
    std::fs::write(&anchor_path, &bad).unwrap();
    integrity(dev.open());
    // The anchor is fsynced before its rename, so no crash leaves it empty or torn: a short
    // one is an edit, i.e. tamper (anchor.rs).
    for torn in [&good_anchor[..0], &good_anchor[..20]] {
        std::fs::write(&anchor_path, torn).unwrap();
        integrity(dev.open());
    }

    // An anchor behind the state (crash between the two writes) is fine and catches up.
    std::fs::write(&anchor_path, &good_anchor).unwrap();
    let generation = dev.open().unwrap().generation();
    let key = MasterKey::load(&dev.source(), &dev.dir).unwrap();
    let home = key.anchor().unwrap();
    let lagging = home.read(&key).unwrap().unwrap();
    assert_eq!(lagging.generation, generation);
    home.write(
        &key,
        anchor::Anchored {
            generation: generation - 1,
            ..lagging
        },
    )
    .unwrap();
    let store = dev.open().unwrap();
    assert_eq!(store.generation(), generation);
    assert_eq!(home.read(&key).unwrap(), Some(lagging));
}

#[test]
fn a_new_key_for_a_fresh_folder_ignores_an_anchor_left_by_an_old_key() {
    let (dev, _) = sealed_device();
    std::fs::remove_file(&dev.key_file).unwrap();
    std::fs::remove_file(dev.state_file()).unwrap();
    let store = dev.open().unwrap();
    assert!(store.state().credentials.is_empty());
}

#[test]
fn reset_recovers_from_a_forged_anchor_that_plain_open_rejects() {
    let (dev, _) = sealed_device();
    let anchor_path = dev.key_file.with_extension("key.anchor");
    let mut forged = std::fs::read(&anchor_path).unwrap();
    forged[30] ^= 1;
    std::fs::write(&anchor_path, &forged).unwrap();
    integrity(dev.open());
    std::fs::rename(dev.state_file(), dev.dir.join("set-aside-by-caller")).unwrap();
    integrity(dev.open());
    let store = Store::open_for_reset_with(&dev.dir, &dev.source()).unwrap();
    assert!(store.state().credentials.is_empty());
    drop(store);
    dev.open().unwrap();
}

#[test]
fn a_future_state_version_is_rejected() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.update(|s| s.version = 99).unwrap();
    drop(store);
    assert_eq!(integrity(dev.open()), IntegrityError::WrongStateVersion(99));
}

#[test]
fn deleting_the_state_starts_a_fresh_device_that_keeps_counting_up() {
    let (dev, _) = sealed_device();
    let mut store = dev.open().unwrap();
    let counter = store.next_signature_counter().unwrap();
    let before = store.generation();
    drop(store);
    std::fs::remove_file(dev.state_file()).unwrap();
    let mut store = dev.open().unwrap();
    assert!(store.state().credentials.is_empty());
    assert!(store.generation() > before);
    assert!(store.next_signature_counter().unwrap() > counter);
}

#[test]
fn reset_after_tamper_keeps_the_bad_file_aside_and_counters_rising() {
    let dev = Device::new();
    let mut store = dev.open().unwrap();
    store.update(|s| s.credentials.push(credential(1))).unwrap();
    let counter = store.next_signature_counter().unwrap();
    drop(store);
    let mut bad = std::fs::read(dev.state_file()).unwrap();
    bad[40] ^= 0x80;
    std::fs::write(dev.state_file(), &bad).unwrap();
    integrity(dev.open());

    let mut store = Store::open_for_reset_with(&dev.dir, &dev.source()).unwrap();
    assert!(store.state().credentials.is_empty());
    assert!(store.next_signature_counter().unwrap() > counter);
    assert_eq!(std::fs::read(dev.dir.join(TAMPERED_FILE)).unwrap(), bad);
    drop(store);
    let store = dev.open().unwrap();
    assert!(store.state().credentials.is_empty());
}

/// Median latency of `update` and `next_signature_counter` on this disk. Run with
/// `cargo test -p palmkey --lib store::tests::latency_report -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints timings, asserts none"]
fn latency_report() {
    let dir = std::env::var_os("PALMKEY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::tempdir_in(&dir).unwrap();
    // With a key file each write also raises the rollback anchor, as in production; the
    // in-memory key shows the cost of the state write alone.
    let with_anchor = KeySource::File(tmp.path().join("master.key"));
    let mut stores = [
        (
            "key file + anchor",
            Store::open_with(&tmp.path().join("a"), &with_anchor).unwrap(),
        ),
        (
            "in-memory key, no anchor",
            Store::open(&tmp.path().join("b"), MasterKey::from_bytes([1; 32])).unwrap(),
        ),
    ];
    let percentiles = |mut v: Vec<std::time::Duration>| {
        v.sort();
        (v[v.len() / 2], v[v.len() * 99 / 100])
    };
    let time = |f: &mut dyn FnMut()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed()
    };
    for (label, store) in &mut stores {
        store
            .update(|s| s.credentials.extend((0..20).map(credential)))
            .unwrap();
        let updates: Vec<_> = (0..200)
            .map(|i| time(&mut || store.update(|s| s.pin.retries = (i % 8) as u8).unwrap()))
            .collect();
        let counters: Vec<_> = (0..20_000)
            .map(|_| {
                time(&mut || {
                    store.next_signature_counter().unwrap();
                })
            })
            .collect();
        let (u50, u99) = percentiles(updates);
        let (c50, c99) = percentiles(counters);
        println!(
            "store latency on {} (20 credentials, {label}): update median {u50:?} p99 {u99:?}; \
             next_signature_counter median {c50:?} p99 {c99:?} (block {DEFAULT_COUNTER_BLOCK})",
            dir.display()
        );
    }
}
