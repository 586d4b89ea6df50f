"""Helpers for the palm tests: a `palmkey serve --sensor sim` server, the simulated sensor's
vendor commands (DESIGN.md "Simulated sensor control"), and bio enrollment through
python-fido2's low-level `Ctap2.bio_enrollment`, with pinUvAuthParam computed here from the
`be` token (authenticate(token, modality || subCommand || subCommandParams)).

The low-level call is used rather than `FPBioEnrollment`, whose constructor accepts only the
fingerprint modality and whose enrollment helper raises on the first bad sample; the tests
need to see every status."""

from __future__ import annotations

import struct
from contextlib import contextmanager

from fido2 import cbor
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin

from helpers import PIN, PROTOCOLS
from server import PalmkeyServer
from udp_hid import open_device

SENSOR_CONTROL = 0x51
POWER_CYCLE = 0x52

# Short enough that "no hand" tests finish fast, long enough for a slow CI machine.
CAPTURE_TIMEOUT_MS = 1500
SIM_ARGS = ("--sensor", "sim", "--sim-capture-timeout-ms", str(CAPTURE_TIMEOUT_MS))


class Bio:
    """authenticatorBioEnrollment subcommands (CTAP 2.1 §6.7)."""

    ENROLL_BEGIN = 0x01
    ENROLL_CAPTURE_NEXT = 0x02
    CANCEL = 0x03
    ENUMERATE = 0x04
    SET_NAME = 0x05
    REMOVE = 0x06
    SENSOR_INFO = 0x07

    # response keys
    MODALITY = 0x01
    KIND = 0x02
    MAX_SAMPLES = 0x03
    TEMPLATE_ID = 0x04
    LAST_STATUS = 0x05
    REMAINING = 0x06
    TEMPLATE_INFOS = 0x07
    MAX_NAME = 0x08

    # lastEnrollSampleStatus
    GOOD = 0x00
    EXISTS = 0x0B
    NO_USER_ACTIVITY = 0x0D


def write_bmp(path, width: int, height: int, pixel) -> None:
    """An 8-bit gray BMP (one of the dataset layout's formats) from pixel(x, y) -> 0..255."""
    row = (width + 3) & ~3
    data = bytearray()
    for y in range(height - 1, -1, -1):  # bottom-up rows
        data += bytes(pixel(x, y) for x in range(width)) + b"\0" * (row - width)
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 0, len(data), 2835, 2835, 256, 0)
    with open(path, "wb") as f:
        f.write(header + info + palette + data)


def hand_payload(mode: str, **fields) -> bytes:
    return cbor.encode({"mode": mode, **fields})


def set_hand(device, mode: str, **fields) -> None:
    """Vendor 0x51; the device echoes the command with an empty payload."""
    assert device.call(SENSOR_CONTROL, hand_payload(mode, **fields)) == b""


def person(device, identity: int) -> None:
    set_hand(device, "synthetic", identity=identity)


def power_cycle(device) -> None:
    assert device.call(POWER_CYCLE, b"") == b""


def expect_ctap(code, fn, *args, **kwargs):
    try:
        result = fn(*args, **kwargs)
    except CtapError as e:
        assert e.code == code, f"expected {code!r}, got {e.code!r}"
        return e
    raise AssertionError(f"expected CTAP error {code!r}, got success: {result!r}")


class SimDevice:
    """A fresh `palmkey serve --sensor sim` with one CTAPHID channel on it."""

    def __init__(self, binary: str, extra_args: tuple[str, ...] = ()):
        self.server = PalmkeyServer(binary, extra_args=SIM_ARGS + tuple(extra_args))
        self.device = open_device(self.server.host, self.server.port)
        self.ctap = Ctap2(self.device)

    def channel(self):
        """Another channel (another application) on the same device."""
        return open_device(self.server.host, self.server.port)

    def close(self) -> None:
        self.device.close()
        self.server.stop()


class Admin:
    """The terminal administrator: holds the PIN and enrolls people."""

    def __init__(self, ctap: Ctap2, version: int = 2, set_pin: bool = True):
        self.ctap = ctap
        self.client_pin = ClientPin(ctap, PROTOCOLS[version]())
        self.protocol = self.client_pin.protocol
        if set_pin:
            self.client_pin.set_pin(PIN)
        self.modality = ctap.bio_enrollment(get_modality=True)[Bio.MODALITY]

    def token(self, permissions=ClientPin.PERMISSION.BIO_ENROLL, rp_id=None) -> bytes:
        return self.client_pin.get_pin_token(PIN, permissions, rp_id)

    def bio(self, sub: int, params=None, token: bytes | None = None, auth: bool = True,
            event=None, on_keepalive=None, modality=None):
        """One bioEnrollment request; authenticated with `token` (a fresh `be` token when
        None) unless `auth` is False."""
        modality = self.modality if modality is None else modality
        kwargs = {}
        if auth:
            token = token if token is not None else self.token()
            message = struct.pack(">BB", modality, sub)
            if params is not None:
                message += cbor.encode(params)
            kwargs = {
                "pin_uv_protocol": self.protocol.VERSION,
                "pin_uv_param": self.protocol.authenticate(token, message),
            }
        return self.ctap.bio_enrollment(
            modality=modality, sub_cmd=sub, sub_cmd_params=params, event=event,
            on_keepalive=on_keepalive, **kwargs,
        )

    def enroll(self, device, identity: int, member_id: str | None = None,
               token: bytes | None = None) -> tuple[bytes, list[int]]:
        """Enroll synthetic `identity` sample by sample; the template ID and the statuses."""
        person(device, identity)
        token = token if token is not None else self.token()
        r = self.bio(Bio.ENROLL_BEGIN, token=token)
        template_id = r[Bio.TEMPLATE_ID]
        statuses = [r[Bio.LAST_STATUS]]
        remaining = r[Bio.REMAINING]
        for _ in range(30):
            if remaining == 0:
                break
            r = self.bio(Bio.ENROLL_CAPTURE_NEXT, {0x01: template_id}, token=token)
            statuses.append(r[Bio.LAST_STATUS])
            remaining = r[Bio.REMAINING]
        assert remaining == 0, f"enrollment of {identity} did not finish: {statuses}"
        if member_id is not None:
            self.bio(Bio.SET_NAME, {0x01: template_id, 0x02: member_id}, token=token)
        return template_id, statuses

    def enrollments(self, token: bytes | None = None) -> dict[bytes, str | None]:
        try:
            r = self.bio(Bio.ENUMERATE, token=token)
        except CtapError as e:
            if e.code == CtapError.ERR.INVALID_OPTION:
                return {}
            raise
        return {t[0x01]: t.get(0x02) for t in r[Bio.TEMPLATE_INFOS]}


@contextmanager
def sim_device(binary: str, extra_args: tuple[str, ...] = ()):
    dev = SimDevice(binary, extra_args)
    try:
        yield dev
    finally:
        dev.close()
