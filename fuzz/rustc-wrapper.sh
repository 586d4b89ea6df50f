#!/usr/bin/env bash
# RUSTC_WRAPPER for the fuzz build (scripts/hardening/fuzz.sh and fuzz-long.sh set it):
# compiles the third-party cryptography crates below WITHOUT libFuzzer's coverage
# instrumentation (sancov edge counters and compare hooks) and without debug assertions.
# The palm engine (palmkey_palm) keeps its edge counters but loses only the compare hooks.
# Everything else, palmkey's code, the CBOR and image decoders, is built exactly as
# cargo-fuzz asks.
#
# Why: ctap_process spends most of its time in P-256 (key-agreement keys at every power-up,
# credential keys, ECDSA, ECDH); with instrumentation every field operation also calls
# __sanitizer_cov_trace_cmp*. These crates are not what we fuzz, libFuzzer gains nothing from
# their edges (constant-time code has few input-dependent branches), and the build is -s none
# already. Trade-off: no coverage feedback from inside these crates, and code of theirs that is
# monomorphised or inlined into palmkey's crates is still instrumented there.
#
# Why the palm engine has no compare hooks: palm_image spent over half its time in
# __sanitizer_cov_trace_cmp* called from per-pixel float loops (box blur, ROI search,
# resampling); those compares steer nothing a mutation can use, while the decoders that parse
# the input's bytes (png, jpeg, bmp) keep theirs. Edge coverage of the engine stays.
set -euo pipefail
rustc=$1
shift
name=""
prev=""
for arg in "$@"; do
  [ "$prev" = --crate-name ] && name=$arg
  prev=$arg
done
if [ "$name" = palmkey_palm ]; then
  args=()
  for arg in "$@"; do
    [ "$arg" = -Cllvm-args=-sanitizer-coverage-trace-compares ] || args+=("$arg")
  done
  exec "$rustc" "${args[@]}"
fi
case " p256 primeorder elliptic_curve crypto_bigint ecdsa ff group rfc6979 sha2 hmac hkdf aes cbc chacha20 chacha20poly1305 poly1305 universal_hash cipher subtle digest block_buffer rand_chacha rand_core " in
  *" $name "*) ;;
  *) exec "$rustc" "$@" ;;
esac
args=()
for arg in "$@"; do
  case "$arg" in
    -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage-* | -Cdebug-assertions | -Cdebug-assertions=*) ;;
    *) args+=("$arg") ;;
  esac
done
exec "$rustc" "${args[@]}"
