#!/usr/bin/env bash
# desktop-app end-to-end test: the real window under Xvfb, driven by tauri-driver and
# WebKitWebDriver against a `palmkey serve --sensor sim` simulator. Installs what it needs
# (scripts/setup.sh), builds palmkey and the app, runs tests/e2e.rs; screenshots land in
# desktop-app/tests/artifacts/ and the enrollment screen is copied to docs/images/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --locked -p palmkey --bin palmkey -p palmkey-desktop --bin palmkey-desktop
export PALMKEY_BIN="$CARGO_TARGET_DIR/debug/palmkey"
export PALMKEY_DESKTOP_BIN="$CARGO_TARGET_DIR/debug/palmkey-desktop"
export TAURI_DRIVER="$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")"
# A private X server; software rendering keeps WebKitGTK happy without a GPU.
export WEBKIT_DISABLE_DMABUF_RENDERER=1 LIBGL_ALWAYS_SOFTWARE=1
# A private session keyring for the PIN vault; where keyutils is unavailable (containers
# whose seccomp profile blocks keyctl) the app falls back to its 0600 file and says so.
keyring=(keyctl session -)
if ! keyctl session - true >/dev/null 2>&1; then
  echo "keyutils unavailable: the app will keep the PIN in its file fallback"
  keyring=()
fi
exec xvfb-run -a -s "-screen 0 1280x860x24" \
  "${keyring[@]}" \
  cargo test --locked -p palmkey-desktop --test e2e -- --ignored --nocapture
