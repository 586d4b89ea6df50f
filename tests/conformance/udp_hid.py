"""CTAPHID over UDP for python-fido2: the simulator convention palmkey serves
(one 64-byte HID report per datagram, no report-ID byte, replies to the sender)."""

from __future__ import annotations

import socket

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

REPORT_SIZE = 64


class UdpCtapHidConnection(CtapHidConnection):
    """A CtapHidConnection whose reports travel as UDP datagrams."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))

    def write_packet(self, data: bytes) -> None:
        if len(data) != REPORT_SIZE:
            raise ValueError(f"report must be {REPORT_SIZE} bytes, got {len(data)}")
        self.sock.send(data)

    def read_packet(self) -> bytes:
        data = self.sock.recv(4096)
        if len(data) != REPORT_SIZE:
            raise OSError(f"datagram of {len(data)} bytes is not a 64-byte report")
        return data

    def close(self) -> None:
        self.sock.close()


def descriptor(host: str, port: int) -> HidDescriptor:
    return HidDescriptor(
        path=f"udp:{host}:{port}",
        vid=0,
        pid=0,
        report_size_in=REPORT_SIZE,
        report_size_out=REPORT_SIZE,
        product_name="palmkey simulator",
        serial_number=None,
    )


def open_device(host: str, port: int) -> CtapHidDevice:
    """CTAPHID_INIT a new channel on the simulator at host:port."""
    return CtapHidDevice(descriptor(host, port), UdpCtapHidConnection(host, port))
