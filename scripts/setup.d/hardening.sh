# hardening (fuzz/, scripts/hardening/): libFuzzer targets built by cargo-fuzz on the nightly
# toolchain. No apt packages beyond the base set (cargo-fuzz builds libFuzzer with the C++
# compiler the Rust toolchain image already has).
setup_hardening() {
  # The fuzz smoke run and fuzz-long.sh need nightly (sanitizer flags) and cargo-fuzz.
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
}
