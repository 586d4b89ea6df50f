#!/usr/bin/env bash
# Every test palmkey has, runnable on a fresh Debian machine: installs what it needs first.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

section() { printf '\n=== %s ===\n' "$*"; }

section "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

section "Rust unit and integration tests"
cargo test --workspace --locked

section "python-fido2 conformance suite"
bash tests/conformance/run.sh

section "real-browser tests (relying-party demo in headless Chromium)"
bash tests/browser/run.sh

section "desktop app end-to-end (real window under Xvfb: tauri-driver + WebKitWebDriver)"
bash desktop-app/tests/e2e.sh

section "fuzz smoke run (cargo fuzz, 5 s per target; long runs: scripts/hardening/fuzz-long.sh)"
scripts/hardening/fuzz.sh --seconds 5

section "uhid in a QEMU guest: libfido2, python-fido2 and Chromium over hidraw"
bash tests/hid-vm/run.sh
