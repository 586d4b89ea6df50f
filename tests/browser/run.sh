#!/usr/bin/env bash
# Real-browser tests of the relying-party demo: builds the server (debug), starts it on free
# loopback ports with throw-away data folders, runs tests/browser/*.test.mjs with Node's test
# runner against headless Chromium, and stops the servers. Screenshots: tests/browser/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/browser
command -v chromium >/dev/null || { echo "chromium is missing: bash -c '. scripts/setup.sh'"; exit 1; }
command -v node >/dev/null || { echo "node is missing (Node.js 20+)"; exit 1; }

# RP_SERVER: an already built server binary (skips the build).
server=${RP_SERVER:-}
if [ -z "$server" ]; then
  cargo build --quiet -p relying-party-demo --bin relying-party-demo
  target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
  server="$target_dir/debug/relying-party-demo"
fi

work=$(mktemp -d /tmp/rp-browser-run.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start NAME [extra flags...]: starts a server, sets `url` once it listens.
start() {
  local name=$1; shift
  local port; port=$(free_port)
  "$server" --listen "127.0.0.1:$port" --origin "http://localhost:$port" --rp-id localhost \
    --data-dir "$work/$name-data" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "listening on" "$work/$name.out" 2>/dev/null && { url="http://localhost:$port"; return; }
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "relying-party-demo ($name) did not start:" >&2; cat "$work/$name.err" >&2; return 1
}

# The suite makes a few dozen ceremonies a minute from one address: above the default limit.
start main --ceremony-rate-limit 1000; export RP_URL=$url
# A second instance whose challenges expire after 2 s (the expired-challenge case).
export RP_SHORT_TTL_SECONDS=2
start short-ttl --ceremony-rate-limit 1000 --challenge-ttl "$RP_SHORT_TTL_SECONDS"; export RP_SHORT_TTL_URL=$url
export ARTIFACTS="$here/artifacts"
rm -rf "$ARTIFACTS"; mkdir -p "$ARTIFACTS"

status=0
timeout --kill-after=10 300 node --test --test-concurrency=1 --test-timeout=120000 \
  --test-reporter=spec "$here"/*.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (main) ---"; tail -n 40 "$work/main.err" || true
  echo "--- server log (short-ttl) ---"; tail -n 20 "$work/short-ttl.err" || true
fi
echo "screenshots: $ARTIFACTS"
exit "$status"
