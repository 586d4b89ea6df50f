"""Shared guest helpers: opening palmkey's hidraw node with python-fido2 (reads bounded in time,
so a lost report fails a check instead of hanging it), and the simulated palm sensor's control
(DESIGN.md, `--sensor sim`: CTAPHID vendor command 0x51 with a CBOR map payload, sent on the
device's own hidraw node like any other CTAPHID command)."""

from __future__ import annotations

import select

from fido2 import cbor
from fido2.hid import CtapHidDevice
from fido2.hid.linux import LinuxCtapHidConnection, get_descriptor

SENSOR_CONTROL = 0x51
# Longer than any palm capture wait (10 s) plus keep-alive gaps under emulation.
READ_TIMEOUT = 60.0


class BoundedHidrawConnection(LinuxCtapHidConnection):
    """python-fido2's Linux hidraw connection, with a time limit on each report read."""

    def read_packet(self) -> bytes:
        ready, _, _ = select.select([self.handle], [], [], READ_TIMEOUT)
        if not ready:
            raise OSError(f"no report from {self.descriptor.path} in {READ_TIMEOUT:.0f} s")
        return super().read_packet()


def open_hidraw(path: str) -> CtapHidDevice:
    """A CTAPHID channel on the hidraw node at `path` (CTAPHID_INIT on a fresh open file)."""
    descriptor = get_descriptor(path)
    return CtapHidDevice(descriptor, BoundedHidrawConnection(descriptor))


def set_hand(dev: CtapHidDevice, hand: dict) -> None:
    """Put a simulated hand on the sensor, e.g. {"mode": "synthetic", "identity": 1}."""
    echo = dev.call(SENSOR_CONTROL, cbor.encode(hand))
    if echo != b"":
        raise RuntimeError(f"sensor control answered {echo!r}, expected an empty echo")


def set_hand_on(path: str, hand: dict) -> None:
    """Open the hidraw node on a fresh channel, set the hand, close."""
    dev = open_hidraw(path)
    try:
        set_hand(dev, hand)
    finally:
        dev.close()
