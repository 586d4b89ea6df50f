#!/usr/bin/env bash
# The end-to-end demo on a fresh machine with no hardware:
#   1. synthetic palms: generate a small paired print + vein set (with photo attacks) and
#      measure the engine on it (ISO/IEC 19795-1 terms);
#   2. the authenticator: measure makeCredential / getAssertion over the CTAPHID UDP transport;
#   3. keep a simulated authenticator serving on 127.0.0.1:8111 (Ctrl-C stops it) for
#      python-fido2, the desktop app or your own client.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

cargo build --release --locked -p palmkey --bin palmkey
palmkey=target/release/palmkey
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

printf '\n=== 1. palm engine on a synthetic set (100 identities x 6 samples, seed 20261127) ===\n'
"$palmkey" palm synth --out "$work/palms" --identities 100 --samples 6 --seed 20261127 --attacks
"$palmkey" palm eval --dataset "$work/palms"

printf '\n=== 2. CTAP 2.1 over CTAPHID/UDP: end-to-end latency ===\n'
"$palmkey" bench

printf '\n=== 3. simulated authenticator on 127.0.0.1:8111 (state in %s; Ctrl-C stops) ===\n' "$work/state"
"$palmkey" serve --state "$work/state" --udp 127.0.0.1:8111 --key-file "$work/master.key"
