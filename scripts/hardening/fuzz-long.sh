#!/usr/bin/env bash
# The long fuzz campaign of issue 8: each target in turn (one at a time, `nice -n 10`, the
# machine is shared) until 10 million executions or a time cap per target, whichever comes
# first. Goal: 10 M executions per target with no crash, no hang (10 s per input) and no
# allocation over 1 GiB.
#
#   scripts/hardening/fuzz-long.sh [--hours H] [--runs N] [target...]
#
# Defaults: 10,000,000 runs, cap 8 h per target, all seven targets in the order below (fastest
# first, so a campaign cut short has the most targets done). The binaries are built once and
# copied aside, so rebuilding fuzz/ during a campaign does not change what it runs;
# FUZZ_NO_BUILD=1 skips the build and takes the binaries already in fuzz/target.
# Results: one line per finished target in $FUZZ_STATS_OUT (default
# /tmp/hardening/fuzz-stats.txt; format in /work/notes/fuzz.md, read by figures.sh with
# FUZZ_STATS=<file>):
#   fuzz <target> execs=<N> seconds=<S> execs_per_s=<R> crashes=<0|1> goal=<N> reached=<yes|no>
# Corpora grow in /tmp/hardening/corpus/<target> (kept for the next run); a crash is
# recorded (crashes=1, reproducer in /tmp/hardening/artifacts/<target>-*) and the campaign
# goes on with the next target. Measured rates on the shared 2-core machine are in
# fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
hours=8 runs=10000000
while [ $# -gt 0 ]; do
  case "$1" in
    --hours) hours=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || set -- ctaphid ctap_decode cose_key sealed_state palm_image vendor ctap_process
stats=${FUZZ_STATS_OUT:-/tmp/hardening/fuzz-stats.txt}
mkdir -p "$(dirname "$stats")"
if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  (cd fuzz && RUSTC_WRAPPER="$PWD/rustc-wrapper.sh" nice -n 10 cargo +nightly fuzz build -s none --debug-assertions >&2)
fi
bins=$(mktemp -d /tmp/hardening/bin.XXXXXX)
cp fuzz/target/x86_64-unknown-linux-gnu/release/{ctaphid,ctap_decode,ctap_process,vendor,cose_key,sealed_state,palm_image} "$bins/"
echo "fuzz-long: $* (goal $runs runs, cap $hours h each), stats in $stats" >&2
exec nice -n 10 scripts/hardening/fuzz.sh --no-build --bin-dir "$bins" --keep-going \
  --stats "$stats" --goal "$runs" --runs "$runs" --seconds $((hours * 3600)) "$@"
