#!/usr/bin/env bash
# python-fido2 conformance suite against a real `palmkey serve` over the UDP simulator transport.
#   tests/conformance/run.sh [pytest args...]
# Creates (and caches) tests/conformance/.venv, builds palmkey, starts one shared server on a
# free port, runs pytest, always stops the server, and exits with pytest's status.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
profile="${PALMKEY_PROFILE:-debug}"

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "run.sh: python3 is required" >&2; exit 2; }
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "run.sh: creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi

if [ -z "${PALMKEY_BIN:-}" ]; then
  if [ "$profile" = release ]; then
    (cd "$repo" && cargo build --release --locked -p palmkey --bin palmkey)
  else
    (cd "$repo" && cargo build --locked -p palmkey --bin palmkey)
  fi
  PALMKEY_BIN="${CARGO_TARGET_DIR:-$repo/target}/$profile/palmkey"
fi
export PALMKEY_BIN

state="$(mktemp -d)"
log="$(mktemp)"
port="$("$venv/bin/python" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$PALMKEY_BIN" serve --state "$state" --udp "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$state" "$log"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  grep -q "^palmkey ready udp=" "$log" && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "run.sh: palmkey serve exited early:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! grep -q "^palmkey ready udp=" "$log"; then
  echo "run.sh: palmkey serve did not become ready in 30 s:" >&2
  cat "$log" >&2
  exit 1
fi

export PALMKEY_UDP="127.0.0.1:$port"
set +e
(cd "$here" && "$venv/bin/python" -m pytest -p no:cacheprovider "$@")
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "run.sh: shared server log (tail):" >&2
  tail -n 50 "$log" >&2 || true
fi
exit "$status"
