"""authenticatorGetInfo and CTAPHID basics."""

from fido2.cose import ES256
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY


def test_get_info_advertises_ctap21(ctap):
    info = ctap.info
    assert "FIDO_2_0" in info.versions
    assert "FIDO_2_1" in info.versions
    assert len(info.aaguid) == 16
    assert info.pin_uv_protocols == [2, 1]
    assert info.max_msg_size >= 1024
    assert {"type": "public-key", "alg": ES256.ALGORITHM} in [dict(a) for a in info.algorithms]
    for ext in ("credProtect", "hmac-secret", "credBlob", "minPinLength"):
        assert ext in info.extensions, ext
    assert info.options.get("rk") is True
    assert info.options.get("up") is True
    assert "clientPin" in info.options
    assert info.options.get("pinUvAuthToken") is True
    assert info.options.get("credMgmt") is True
    assert info.options.get("authnrCfg") is True
    assert info.options.get("setMinPINLength") is True
    assert info.max_creds_in_list and info.max_creds_in_list > 0
    assert info.remaining_disc_creds is not None
    raw = ctap.send_cbor(Ctap2.CMD.GET_INFO)
    assert 0x0E in raw, "firmwareVersion missing"
    assert 0x14 in raw, "remainingDiscoverableCredentials missing"


def test_fresh_device_has_no_pin(fresh_ctap):
    assert fresh_ctap.info.options["clientPin"] is False
    assert fresh_ctap.info.min_pin_length == 4


def test_ctaphid_init_ping_wink(device):
    assert device.capabilities & CAPABILITY.CBOR
    assert device.ping(b"palmkey") == b"palmkey"
    big = bytes(range(256)) * 20  # 5120 bytes: many continuation packets
    assert device.ping(big) == big
    if device.capabilities & CAPABILITY.WINK:
        device.wink()
