# Sourced by fuzz.sh and fuzz-progress.sh: what a libFuzzer log says about its run.

# The executions of the run: the final stats' count, else (a crash, or a run still going)
# the last status line's #N.
log_executions() {
  local n
  n=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$1" | grep -o '[0-9]*$' || true)
  [ -n "$n" ] || n=$(grep -ao '^#[0-9]*' "$1" | tail -1 | tr -d '#' || true)
  echo "${n:-0}"
}

# Whether the run was stopped early on purpose (SIGINT).
log_interrupted() {
  grep -aq 'libFuzzer: run interrupted' "$1"
}
