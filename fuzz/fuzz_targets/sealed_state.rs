//! Stored-state decoding: `Store::open` on a state folder whose `state.sealed` is
//! (a) arbitrary bytes (header, version, length and AEAD checks must refuse without panicking), or
//! (b) a genuine sealed file under the fuzz key with fuzzer-chosen bit flips, byte swaps,
//! truncations and overwrites. In (b) a file that differs from the genuine one and still opens
//! is a tamper that went undetected: the target fails.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use palmkey::store::{MasterKey, Store, StoreError, STATE_FILE};
use palmkey_fuzz::{scratch_root, FUZZ_KEY};

/// A genuine sealed state (a factory-fresh device's), made once per process.
fn genuine() -> &'static [u8] {
    static GENUINE: OnceLock<Vec<u8>> = OnceLock::new();
    GENUINE.get_or_init(|| {
        let dir = tempfile::tempdir_in(scratch_root()).unwrap();
        drop(Store::open(dir.path(), MasterKey::from_bytes(FUZZ_KEY)).unwrap());
        std::fs::read(dir.path().join(STATE_FILE)).unwrap()
    })
}

/// Apply the mutation program `ops` (3 bytes per step) to `file`.
fn mutate(file: &mut Vec<u8>, ops: &[u8]) {
    for op in ops.chunks_exact(3) {
        if file.is_empty() {
            return;
        }
        let at = (usize::from(op[1]) << 8 | usize::from(op[2])) % file.len();
        match op[0] % 4 {
            0 => file[at] ^= 1 << (op[2] % 8),
            1 => file.truncate(at),
            2 => {
                let other = (at * 7 + usize::from(op[0])) % file.len();
                file.swap(at, other);
            }
            _ => file[at] = op[0],
        }
    }
}

fn open(bytes: &[u8]) -> Result<Store, StoreError> {
    let dir = tempfile::tempdir_in(scratch_root()).unwrap();
    std::fs::write(dir.path().join(STATE_FILE), bytes).unwrap();
    Store::open(dir.path(), MasterKey::from_bytes(FUZZ_KEY))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let _ = open(rest);
        return;
    }
    let mut file = genuine().to_vec();
    mutate(&mut file, rest);
    let opened = open(&file);
    if file != genuine() {
        assert!(
            opened.is_err(),
            "a modified sealed state opened: tamper not detected"
        );
    } else {
        opened.expect("the genuine state opens");
    }
});
