"""Error paths: malformed CBOR, unknown commands, oversized and broken CTAPHID messages."""

import os
import struct

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.hid import CTAPHID

from udp_hid import UdpCtapHidConnection, open_device

TYPE_INIT = 0x80


def cbor_status(device, message: bytes) -> int:
    """Send a raw CTAPHID CBOR message; return the CTAP status byte."""
    return device.call(CTAPHID.CBOR, message)[0]


def test_malformed_cbor(device):
    # makeCredential with a truncated map
    assert cbor_status(device, b"\x01\xa2\x01\x58\x20") == CtapError.ERR.INVALID_CBOR
    # garbage after a complete map
    assert cbor_status(device, b"\x04\xa0\x00") in (
        CtapError.ERR.INVALID_CBOR, CtapError.ERR.INVALID_LENGTH)
    # a reserved additional-information value
    assert cbor_status(device, b"\x02\xbc") == CtapError.ERR.INVALID_CBOR


def test_wrong_types_and_missing_parameters(device):
    # makeCredential whose parameters are an array, not a map
    assert cbor_status(device, b"\x01\x80") == CtapError.ERR.CBOR_UNEXPECTED_TYPE
    # makeCredential with only clientDataHash
    msg = b"\x01\xa1\x01\x58\x20" + bytes(32)
    assert cbor_status(device, msg) == CtapError.ERR.MISSING_PARAMETER
    # getAssertion with rpId as bytes
    msg = b"\x02\xa2\x01\x43abc\x02\x58\x20" + bytes(32)
    assert cbor_status(device, msg) == CtapError.ERR.CBOR_UNEXPECTED_TYPE


def test_unknown_ctap2_command(device):
    assert cbor_status(device, b"\x3f") == CtapError.ERR.INVALID_COMMAND


def test_unknown_clientpin_subcommand(ctap):
    with pytest.raises(CtapError) as e:
        ctap.client_pin(2, 0x42)
    assert e.value.code == CtapError.ERR.INVALID_SUBCOMMAND
    with pytest.raises(CtapError) as e:
        ctap.client_pin(7, 0x02)  # no such protocol
    assert e.value.code == CtapError.ERR.INVALID_PARAMETER


def test_empty_cbor_message(device):
    # no command byte: a CTAPHID ERROR or a CTAP status, either way INVALID_LENGTH
    try:
        status = device.call(CTAPHID.CBOR, b"")[0]
    except CtapError as e:
        status = e.code
    assert status == CtapError.ERR.INVALID_LENGTH


def test_unknown_ctaphid_command(device):
    with pytest.raises(CtapError) as e:
        device.call(0x33, b"")
    assert e.value.code == CtapError.ERR.INVALID_COMMAND


class Raw:
    """Hand-made CTAPHID reports on a channel of our own."""

    def __init__(self, addr):
        self.dev = open_device(*addr)  # allocates a channel via INIT
        self.cid = self.dev._channel_id
        self.conn: UdpCtapHidConnection = self.dev._connection

    def init_packet(self, cmd, bcnt, data=b"", cid=None):
        header = struct.pack(">IBH", self.cid if cid is None else cid, TYPE_INIT | cmd, bcnt)
        self.conn.write_packet((header + data).ljust(64, b"\0")[:64])

    def cont_packet(self, seq, data=b"", cid=None):
        header = struct.pack(">IB", self.cid if cid is None else cid, seq)
        self.conn.write_packet((header + data).ljust(64, b"\0")[:64])

    def read(self):
        """The next non-keepalive report: (cid, cmd, payload-start)."""
        while True:
            pkt = self.conn.read_packet()
            cid, cmd = struct.unpack_from(">IB", pkt)
            if cmd != TYPE_INIT | CTAPHID.KEEPALIVE:
                return cid, cmd, pkt[7:]

    def expect_error(self, code):
        cid, cmd, data = self.read()
        assert cmd == TYPE_INIT | CTAPHID.ERROR, f"expected ERROR, got command {cmd:#x}"
        assert data[0] == code, f"expected CTAPHID error {code:#x}, got {data[0]:#x}"
        return cid

    def close(self):
        self.dev.close()


@pytest.fixture
def raw(shared_addr):
    r = Raw(shared_addr)
    yield r
    r.close()


def test_oversized_message_is_invalid_length(raw):
    # 7609 bytes is the most 128 continuation packets can carry
    raw.init_packet(CTAPHID.CBOR, 7610, b"\x04")
    raw.expect_error(CtapError.ERR.INVALID_LENGTH)
    # the channel still works afterwards
    assert raw.dev.ping(b"ok") == b"ok"


def test_largest_message_is_accepted(raw):
    data = os.urandom(7609)
    assert raw.dev.ping(data) == data


def test_cbor_request_over_max_msg_size(shared_addr):
    dev = open_device(*shared_addr)
    try:
        max_msg = Ctap2(dev).info.max_msg_size
        if max_msg >= 7609:
            pytest.skip("maxMsgSize equals the CTAPHID limit; covered by the framing test")
        status = cbor_status(dev, b"\x04" + bytes(max_msg))
        assert status in (CtapError.ERR.REQUEST_TOO_LARGE, CtapError.ERR.INVALID_LENGTH)
    finally:
        dev.close()


def test_wrong_sequence_number(raw):
    raw.init_packet(CTAPHID.PING, 100, bytes(57))
    raw.cont_packet(1, bytes(43))  # seq must start at 0
    raw.expect_error(CtapError.ERR.INVALID_SEQ)
    assert raw.dev.ping(b"again") == b"again"


def test_invalid_channel(raw):
    raw.init_packet(CTAPHID.PING, 4, b"ping", cid=0)
    raw.expect_error(CtapError.ERR.INVALID_CHANNEL)


def test_init_on_broadcast_allocates_distinct_channels(shared_addr):
    a, b = open_device(*shared_addr), open_device(*shared_addr)
    try:
        assert a._channel_id != b._channel_id
        assert a._channel_id not in (0, 0xFFFFFFFF)
    finally:
        a.close()
        b.close()


def test_other_channel_busy_during_transaction(raw, shared_addr):
    other = Raw(shared_addr)
    try:
        raw.init_packet(CTAPHID.PING, 100, bytes(57))  # transaction left open on raw's channel
        other.init_packet(CTAPHID.PING, 4, b"ping")
        other.expect_error(CtapError.ERR.CHANNEL_BUSY)
        raw.cont_packet(0, bytes(43))
        cid, cmd, data = raw.read()
        assert cmd == TYPE_INIT | CTAPHID.PING
    finally:
        other.close()


def test_abandoned_transaction_times_out(raw):
    raw.init_packet(CTAPHID.PING, 100, bytes(57))
    # no continuation: the device answers ERR_MSG_TIMEOUT (0x05) after its transaction timeout
    raw.expect_error(CtapError.ERR.TIMEOUT)


def test_lock_keeps_other_channels_out(raw, shared_addr):
    other = Raw(shared_addr)
    try:
        raw.dev.lock(3)
        other.init_packet(CTAPHID.PING, 4, b"ping")
        other.expect_error(CtapError.ERR.CHANNEL_BUSY)
        assert raw.dev.ping(b"mine") == b"mine"  # the owner still works
        raw.dev.lock(0)  # release
        assert other.dev.ping(b"free") == b"free"
    finally:
        raw.dev.lock(0)
        other.close()
