# relying-party-demo real-browser tests (tests/browser/): Debian's Chromium, driven over the
# DevTools protocol on a pipe by Node's own test runner (Node.js is on the machine image), and
# fonts so the screenshots show text.
pkgs+=(chromium fonts-dejavu-core)
