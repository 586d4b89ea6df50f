#!/usr/bin/env bash
# The end-to-end demo on a fresh machine with no hardware:
#   a simulated palm terminal (the palmkey authenticator with its simulated palm sensor and palm
#   UV) and the relying-party demo shop start; three synthetic people enroll their palm under a
#   member ID, create a passkey on the shop by palm, sign in by palm without a username and pay
#   in store by palm at the shared POS terminal, with palmkey's CTAP client acting as the
#   browser; a person's palm is refused for another person's account, a stranger and a photo
#   are refused; a table shows every step and its time. Then the shop keeps serving on
#   http://localhost:8080 (and, where /dev/uhid is usable, the terminal is a USB security key a
#   browser on this machine can use) until Ctrl-C.
#
#   bash scripts/demo.sh             # the demo, then keep serving
#   bash scripts/demo.sh --no-serve  # the demo only (exit status 1 if a step misbehaved)
#   bash scripts/demo.sh --measure   # first: palm engine on a synthetic set + CTAP latency
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

measure=0
demo_args=()
for arg in "$@"; do
  case "$arg" in
    --measure) measure=1 ;;
    *) demo_args+=("$arg") ;;
  esac
done

cargo build --release --locked -p relying-party-demo --bin relying-party-demo
if [ "$measure" = 1 ]; then
  cargo build --release --locked -p palmkey --bin palmkey
  palmkey=target/release/palmkey
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  printf '\n=== palm engine on a synthetic set (100 identities x 6 samples, seed 20261127) ===\n'
  "$palmkey" palm synth --out "$work/palms" --identities 100 --samples 6 --seed 20261127 --attacks
  "$palmkey" palm eval --dataset "$work/palms"
  printf '\n=== CTAP 2.1 over CTAPHID/UDP: end-to-end latency ===\n'
  "$palmkey" bench
fi

printf '\n=== palm terminal + demo shop, end to end ===\n'
exec target/release/relying-party-demo demo "${demo_args[@]}"
