#!/usr/bin/env bash
# Build palmkey's libFuzzer targets (fuzz/, cargo-fuzz on nightly) and run each for a bounded
# time or number of executions. Prints one line per target:
#   fuzz <target> execs=<N> seconds=<S> execs_per_s=<R> crashes=<0|1>
# (the format scripts/hardening/figures.sh reads; /work/notes/fuzz.md) and fails on the first
# crash (the reproducer is left in $FUZZ_ARTIFACTS).
#
#   scripts/hardening/fuzz.sh [--seconds S] [--runs N] [--no-build] [--bin-dir DIR]
#                             [--stats FILE] [--keep-going] [--jobs N] [target...]
#
# Before fuzzing, every saved crash in fuzz/regressions/<target>/ is replayed: a regression
# fails the run. The committed seeds fuzz/corpus/<target>/ (real python-fido2 traffic, see
# scripts/hardening/record-traffic.sh) are read but never written; the working corpus lives
# in $FUZZ_CORPUS (default /tmp/hardening/corpus/<target>) and grows across runs.
# --stats FILE appends each target's line to FILE (--goal N adds `goal=N reached=yes|no`; every
# line ends with the run's `date=YYYY-MM-DD`, UTC);
# --keep-going records a crash as crashes=1 and goes on with the next target (long runs).
# --jobs N runs N libFuzzer processes per target side by side on the one working corpus (each
# picks up the others' new units from it, libFuzzer's -reload), each doing 1/N of --runs; the
# line reports their summed executions and `jobs=N`.
# Limits per input: 10 s (a hang), 1 GiB per allocation and 2 GiB RSS (unbounded allocation).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/hardening/libfuzzer-log.sh
seconds=10 runs=-1 build=1 bin=fuzz/target/x86_64-unknown-linux-gnu/release stats="" keep_going=0
goal="" jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --bin-dir) bin=$2; shift 2 ;;
    --stats) stats=$2; shift 2 ;;
    --goal) goal=$2; shift 2 ;;
    --keep-going) keep_going=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(ctaphid ctap_decode ctap_process vendor cose_key sealed_state palm_image)
corpus_root=${FUZZ_CORPUS:-/tmp/hardening/corpus}
artifacts=${FUZZ_ARTIFACTS:-/tmp/hardening/artifacts}
mkdir -p "$artifacts"
# Sanitizer off: the targets' code is safe Rust (a panic is the crash signal); this doubles
# the executions per second on the shared 2-core machine. Debug assertions stay on.
# fuzz/rustc-wrapper.sh builds the RustCrypto crates (P-256, ECDSA, AEADs, hashes) without
# coverage instrumentation: they are not what we fuzz and were most of ctap_process's time.
if [ "$build" = 1 ]; then
  (cd fuzz && RUSTC_WRAPPER="$PWD/rustc-wrapper.sh" cargo +nightly fuzz build -s none --debug-assertions >&2)
fi
status=0
for t in "${targets[@]}"; do
  mkdir -p "$corpus_root/$t"
  log="$artifacts/$t.log"
  # Regressions first: each saved crash must now pass.
  if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
    if ! "$bin/$t" fuzz/regressions/"$t"/* -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -timeout=10 >"$artifacts/$t.regressions.log" 2>&1; then
      tail -40 "$artifacts/$t.regressions.log" >&2
      echo "fuzz $t: REGRESSION (a saved crash in fuzz/regressions/$t fails again)" >&2
      exit 1
    fi
  fi
  seeds=(); [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  job_runs=$runs
  [ "$runs" -lt 0 ] || job_runs=$(((runs + jobs - 1) / jobs))
  logs=()
  for ((k = 1; k <= jobs; k++)); do
    if [ "$jobs" = 1 ]; then logs+=("$log"); else logs+=("$artifacts/$t.job$k.log"); fi
  done
  crashes=0
  start=$(date +%s.%N)
  pids=()
  for l in "${logs[@]}"; do
    "$bin/$t" "$corpus_root/$t" "${seeds[@]}" -max_total_time="$seconds" -runs="$job_runs" \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
      -artifact_prefix="$artifacts/$t-" -print_final_stats=1 >"$l" 2>&1 &
    pids+=($!)
  done
  execs=0 interrupted=0
  for k in "${!pids[@]}"; do
    l=${logs[$k]}
    if ! wait "${pids[$k]}"; then
      if log_interrupted "$l"; then
        # Stopped early on purpose (SIGINT): not a crash; the line says so.
        interrupted=1
      else
        tail -40 "$l" >&2
        echo "fuzz $t: CRASH (reproducer in $artifacts/$t-*, log $l)" >&2
        crashes=1
      fi
    fi
    execs=$((execs + $(log_executions "$l")))
  done
  end=$(date +%s.%N)
  line=$(awk -v t="$t" -v n="$execs" -v a="$start" -v b="$end" -v c="$crashes" \
    'BEGIN { s = b - a; printf "fuzz %s execs=%d seconds=%.0f execs_per_s=%.0f crashes=%d", t, n, s, n / s, c }')
  [ "$jobs" = 1 ] || line="$line jobs=$jobs"
  [ "$interrupted" = 0 ] || line="$line interrupted=yes"
  line="$line date=$(date -u +%F)"
  if [ -n "$goal" ]; then
    reached=no; [ "$execs" -ge "$goal" ] && [ "$crashes" = 0 ] && reached=yes
    line="$line goal=$goal reached=$reached"
  fi
  echo "$line"
  if [ -n "$stats" ]; then
    # One line per target: replace an older line of the same target.
    touch "$stats"
    { grep -v "^fuzz $t " "$stats" || true; echo "$line"; } >"$stats.tmp" && mv "$stats.tmp" "$stats"
  fi
  if [ "$crashes" = 1 ]; then
    status=1
    [ "$keep_going" = 1 ] || exit 1
  fi
done
exit "$status"
