#!/usr/bin/env bash
# The stats line (fuzz.sh's format) of a campaign that is still running, from its libFuzzer
# log: executions so far (the last status line's #N), seconds since the log was created,
# `crashes=1` when the log already reports a crash, leak, timeout or OOM, and `running=yes`
# (`interrupted=yes` once the run was stopped early with SIGINT).
# For reports written while a long run goes on (figures.sh prints "no crash so far").
#
#   scripts/hardening/fuzz-progress.sh <target> <libFuzzer log> [goal]
set -euo pipefail
target=$1 log=$2 goal=${3:-}
execs=$(grep -ao '^#[0-9]*' "$log" | tail -1 | tr -d '#')
# Until now, or until the log's last write once the run has stopped.
end=$(date +%s)
grep -aq 'libFuzzer: run interrupted' "$log" && end=$(stat -c %Y "$log")
seconds=$((end - $(stat -c %W "$log")))
crashes=0
grep -aqE '==[0-9]+== ERROR: libFuzzer|deadly signal|ALARM: working on the last Unit|out-of-memory' "$log" && crashes=1
line=$(awk -v t="$target" -v n="${execs:-0}" -v s="$seconds" -v c="$crashes" \
  'BEGIN { printf "fuzz %s execs=%d seconds=%d execs_per_s=%.0f crashes=%d", t, n, s, n / s, c }')
if grep -aq 'libFuzzer: run interrupted' "$log"; then
  line="$line interrupted=yes"
  # The final stats of an interrupted run are exact; its lifetime ends at the interrupt.
  n=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  [ -z "$n" ] || line=${line/execs=${execs:-0} /execs=$n }
else
  line="$line running=yes"
fi
line="$line date=$(date -u +%F)"
[ -z "$goal" ] || line="$line goal=$goal reached=$([ "${execs:-0}" -ge "$goal" ] && [ "$crashes" = 0 ] && echo yes || echo no)"
echo "$line"
