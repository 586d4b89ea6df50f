# tests/hid-vm (uhid in a QEMU guest with real FIDO clients): QEMU's x86 system emulator and
# mmdebstrap + e2fsprogs to build the bookworm guest image without loop mounts.
pkgs+=(qemu-system-x86 mmdebstrap e2fsprogs)
