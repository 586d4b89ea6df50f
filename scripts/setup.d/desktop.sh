# desktop-app (Tauri 2): the WebKitGTK stack it links against, and what its end-to-end test
# drives it with (Xvfb, WebKitWebDriver, tauri-driver, ImageMagick's `import` for screenshots,
# keyutils for a session keyring under `keyctl session -`).
pkgs+=(
  pkg-config libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev
  xvfb xauth webkit2gtk-driver imagemagick keyutils fonts-dejavu-core
)

# tauri-driver: the WebDriver proxy between a test client and WebKitWebDriver (cargo tool;
# skipped when already installed).
setup_desktop() {
  if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
    echo "installing tauri-driver (cargo install, a few minutes)"
    cargo install tauri-driver --locked --quiet
  fi
}
