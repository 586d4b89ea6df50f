#!/usr/bin/env bash
# The stats line (fuzz.sh's format) of a campaign from its libFuzzer log while it still runs
# (`running=yes`, executions so far, seconds until now) or after it was stopped early with
# SIGINT (`interrupted=yes`, its final count, seconds until the log's last write);
# `crashes=1` when the log reports a crash, leak, timeout or OOM. For reports written while a
# long run goes on (figures.sh prints "no crash so far" / "stopped early").
#
#   scripts/hardening/fuzz-progress.sh <target> <libFuzzer log> [goal]
set -euo pipefail
. "$(dirname "$0")/libfuzzer-log.sh"
target=$1 log=$2 goal=${3:-}
execs=$(log_executions "$log")
if log_interrupted "$log"; then
  state=interrupted end=$(stat -c %Y "$log")
else
  state=running end=$(date +%s)
fi
seconds=$((end - $(stat -c %W "$log")))
crashes=0
grep -aqE '==[0-9]+== ERROR: libFuzzer|deadly signal|ALARM: working on the last Unit|out-of-memory' "$log" && crashes=1
line=$(awk -v t="$target" -v n="$execs" -v s="$seconds" -v c="$crashes" \
  'BEGIN { printf "fuzz %s execs=%d seconds=%d execs_per_s=%.0f crashes=%d", t, n, s, n / s, c }')
line="$line $state=yes date=$(date -u +%F)"
[ -z "$goal" ] || line="$line goal=$goal reached=$([ "$execs" -ge "$goal" ] && [ "$crashes" = 0 ] && echo yes || echo no)"
echo "$line"
