#!/usr/bin/env bash
# The long fuzz run of issue 8: every target until 10 million executions (or a time cap per
# target, default 8 h), corpora kept in /tmp/hardening/corpus for the next run. On the shared
# 2-core machine ctap_process runs ~1,000 execs/s (a fresh sealed store per input), so its 10 M
# takes ~3 h; the parsers without a store run 10-150 k execs/s.
#   scripts/hardening/fuzz-long.sh [--hours H] [target...]
set -euo pipefail
cd "$(dirname "$0")/../.."
hours=8
if [ "${1:-}" = "--hours" ]; then hours=$2; shift 2; fi
exec scripts/hardening/fuzz.sh --runs 10000000 --seconds $((hours * 3600)) "$@"
