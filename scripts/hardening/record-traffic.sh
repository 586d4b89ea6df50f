#!/usr/bin/env bash
# Seed corpora from real traffic (issue 8): run the python-fido2 conformance suite
# (tests/conformance/run.sh) with every `palmkey serve` recording its CTAPHID reports
# (PALMKEY_UDP_RECORD, a test tool: authenticator/src/hid/udp.rs), then turn the recordings
# into per-target seeds (scripts/hardening/fuzz-seeds.py), plus a real sealed state for
# sealed_state and a few small synthetic palm captures (`palmkey palm synth`, no real
# person's biometrics) for palm_image.
#
#   scripts/hardening/record-traffic.sh [--out DIR] [pytest args...]
#
# DIR (default /tmp/hardening/seeds) gets one folder per target. To refresh the committed
# seeds, minimise into fuzz/corpus/<target> with `cargo fuzz cmin` (fuzz/README.md).
# The recordings stay in $PALMKEY_RECORDINGS (default: a fresh /tmp/palmkey-record.*).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=/tmp/hardening/seeds
if [ "${1:-}" = "--out" ]; then out=$2; shift 2; fi
rec=${PALMKEY_RECORDINGS:-$(mktemp -d /tmp/palmkey-record.XXXXXX)}
mkdir -p "$rec" "$out"

# A failing test still produced traffic worth keeping: report it, keep going.
if ! PALMKEY_UDP_RECORD="$rec" tests/conformance/run.sh "$@" >"$rec/pytest.log" 2>&1; then
  tail -5 "$rec/pytest.log" >&2
  echo "record-traffic: the conformance suite had failures (recordings kept)" >&2
fi
bin=${PALMKEY_BIN:-target/debug/palmkey}
python=tests/conformance/.venv/bin/python

# A factory-fresh device's sealed state, as `serve` writes it at start-up.
state=$(mktemp -d)
"$bin" serve --state "$state" --udp 127.0.0.1:0 >"$rec/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do grep -q '^palmkey ready' "$rec/serve.log" && break; sleep 0.1; done
kill "$server"; wait "$server" 2>/dev/null || true

"$python" scripts/hardening/fuzz-seeds.py "$rec" "$out" --state-file "$state/state.sealed"
rm -rf "$state"

# palm_image: flags byte (bit 0 whole-hand finder, bit 1 also as vein) + a synthetic image.
synth=$(mktemp -d)
"$bin" palm synth --out "$synth/roi" --identities 1 --samples 1 --seed 7 >/dev/null
"$bin" palm synth --out "$synth/hand" --identities 1 --samples 1 --seed 7 --full-hand >/dev/null
mkdir -p "$out/palm_image"
n=0
while IFS= read -r -d '' img; do
  case "$img" in */hand/*) flags='\x01' ;; *) flags='\x02' ;; esac
  { printf "$flags"; cat "$img"; } >"$out/palm_image/synth-$n"
  n=$((n + 1))
done < <(find "$synth" -type f \( -name '*.png' -o -name '*.bmp' -o -name '*.jpg' \) -print0 | sort -z)
rm -rf "$synth"
echo "palm_image: $n synthetic captures"
echo "record-traffic: recordings in $rec, seeds in $out"
