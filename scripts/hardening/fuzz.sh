#!/usr/bin/env bash
# Build palmkey's libFuzzer targets (fuzz/, cargo-fuzz on nightly) and run each for a bounded
# time or number of executions. Prints one line per target:
#   fuzz <target> execs=<N> seconds=<S> execs_per_s=<R> crashes=0
# and fails on the first crash (the reproducer is left in $FUZZ_ARTIFACTS).
#
#   scripts/hardening/fuzz.sh [--seconds S] [--runs N] [--jobs J] [target...]
# Corpora live in $FUZZ_CORPUS (default /tmp/hardening/corpus/<target>) and grow across runs;
# fuzz/seeds/<target> (when present) seeds them.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=10 runs=-1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(ctaphid ctap_process vendor cose_key sealed_state palm_image)
corpus_root=${FUZZ_CORPUS:-/tmp/hardening/corpus}
artifacts=${FUZZ_ARTIFACTS:-/tmp/hardening/artifacts}
mkdir -p "$artifacts"
# Sanitizer off: the targets' code is safe Rust (a panic is the crash signal); this doubles
# the executions per second on the shared 2-core machine. Debug assertions stay on.
(cd fuzz && cargo +nightly fuzz build -s none --debug-assertions >&2)
bin=fuzz/target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
  mkdir -p "$corpus_root/$t"
  seeds=(); [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
  log="$artifacts/$t.log"
  start=$(date +%s.%N)
  if ! "$bin/$t" "$corpus_root/$t" "${seeds[@]}" -max_total_time="$seconds" -runs="$runs" \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
      -artifact_prefix="$artifacts/$t-" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz $t: CRASH (reproducer in $artifacts/$t-*)" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  awk -v t="$t" -v n="$execs" -v a="$start" -v b="$end" \
    'BEGIN { s = b - a; printf "fuzz %s execs=%d seconds=%.0f execs_per_s=%.0f crashes=0\n", t, n, s, n / s }'
done
