# Sourced by the top-level scripts: installs the system packages palmkey's build and tests need
# on a fresh Debian machine (idempotent; a no-op when everything is present).
# Each part of the project lists its own packages in scripts/setup.d/<part>.sh by appending to
# `pkgs`; a part that needs more than apt (a cargo tool, a Python venv) defines a function
# named `setup_<part>` there, and it runs after the apt step.
pkgs=(keyutils)
for part in scripts/setup.d/*.sh; do
  [ -e "$part" ] && . "$part"
done
need_pkgs=()
for pkg in "${pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "installing system packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
for step in $(declare -F | awk '$3 ~ /^setup_/ {print $3}'); do
  "$step"
done
command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
