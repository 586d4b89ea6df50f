#!/usr/bin/env bash
# Builds the hid-vm test guest: a Debian bookworm minbase root file system with the real FIDO
# clients (libfido2's fido2-token, python-fido2, Chromium) and Debian's stock kernel (uhid as a
# module), packed as an ext4 image with `mke2fs -d` (no loop mount), plus the kernel and initrd
# to boot it with `qemu -kernel`.
#   tests/hid-vm/build-image.sh OUT_DIR
# Writes OUT_DIR/{rootfs.ext4,vmlinuz,initrd.img,manifest.txt}. Needs root (mmdebstrap's root
# mode runs the packages' maintainer scripts, including update-initramfs). run.sh calls this
# only when its cache (keyed by a hash of this file, guest-init and pip-requirements.txt) is cold.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build-image.sh OUT_DIR}"
suite=bookworm
mirror="${PALMKEY_HIDVM_MIRROR:-http://deb.debian.org/debian}"

[ "$(id -u)" -eq 0 ] || { echo "build-image.sh: needs root (mmdebstrap root mode)" >&2; exit 2; }
for tool in mmdebstrap mke2fs; do
  command -v "$tool" >/dev/null || { echo "build-image.sh: $tool missing (scripts/setup.sh installs it)" >&2; exit 2; }
done

# The guest's packages. Chromium without Recommends still has everything headless needs;
# fonts so pages render text; kmod for modprobe uhid/9p; procps for debugging by hand.
packages=(
  linux-image-amd64 initramfs-tools kmod procps
  python3 fido2-tools
  chromium fonts-dejavu-core
)

work="$(mktemp -d /tmp/hid-vm-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$out"

# python-fido2 and its wheels, built for the host's CPython 3.11 (= bookworm's python3).
pyroot="$work/pyfido2"
pip_python="${PYTHON:-python3}"
"$pip_python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "build-image.sh: need a CPython 3.11 on the host to fetch wheels for bookworm's python3" >&2
  exit 2
}
"$pip_python" -m pip install --quiet --disable-pip-version-check --no-compile \
  --only-binary=:all: --target "$pyroot" -r "$here/pip-requirements.txt"

echo "build-image.sh: mmdebstrap $suite minbase (${packages[*]})"
mmdebstrap --mode=root --variant=minbase \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --customize-hook='echo palmkey-hidvm > "$1/etc/hostname"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb' \
  "$suite" "$root" "$mirror" >"$work/mmdebstrap.log" 2>&1 || {
    tail -n 40 "$work/mmdebstrap.log" >&2
    exit 1
  }

install -D -m 0755 "$here/guest-init" "$root/sbin/hidvm-init"
mkdir -p "$root/opt" "$root/mnt/share"
cp -a "$pyroot" "$root/opt/pyfido2"

kernel="$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)"
initrd="$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)"
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

# Room for the tests' scratch files (palmkey state, Chromium profile), then the image.
used_mb="$(du -sm "$root" | cut -f1)"
size_mb=$((used_mb + used_mb / 4 + 512))
mke2fs -q -F -t ext4 -L hidvm -E root_owner=0:0 -d "$root" "$work/rootfs.ext4" "${size_mb}M"

{
  echo "suite=$suite"
  echo "kernel=$(basename "$kernel")"
  echo "rootfs_mb=$size_mb used_mb=$used_mb"
  chroot "$root" dpkg-query -W -f '${Package}=${Version}\n' linux-image-amd64 fido2-tools libfido2-1 chromium python3
  ls "$pyroot" | grep -i dist-info
} >"$work/manifest.txt"

mv "$work/rootfs.ext4" "$work/vmlinuz" "$work/initrd.img" "$work/manifest.txt" "$out/"
echo "build-image.sh: guest in $out ($(du -sh "$out/rootfs.ext4" | cut -f1) on disk)"
