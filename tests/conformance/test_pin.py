"""clientPIN with PIN/UV auth protocols 1 and 2: set, change, tokens, retries, and PIN-gated
makeCredential/getAssertion."""

import hashlib
import os

import pytest
from fido2.ctap import CtapError
from fido2.ctap2.pin import ClientPin

from helpers import PIN, PROTOCOLS, assert_, descriptor, make, public_key, set_pin

P = ClientPin.PERMISSION


@pytest.fixture(params=[1, 2], ids=["protocol1", "protocol2"])
def version(request):
    return request.param


def err(excinfo):
    return excinfo.value.code


def test_set_pin_and_retries(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    info = fresh_ctap.get_info()
    assert info.options["clientPin"] is True
    assert cp.get_pin_retries()[0] == 8
    # setPIN again is not allowed once a PIN exists
    with pytest.raises(CtapError) as e:
        cp.set_pin("9999")
    assert err(e) == CtapError.ERR.NOT_ALLOWED


def raw_set_pin(ctap, version, pin_bytes: bytes):
    """setPIN without python-fido2's client-side length check."""
    cp = ClientPin(ctap, PROTOCOLS[version]())
    key_agreement, shared = cp._get_shared_secret()
    new_pin_enc = cp.protocol.encrypt(shared, pin_bytes.ljust(64, b"\0"))
    ctap.client_pin(
        version, ClientPin.CMD.SET_PIN, key_agreement=key_agreement,
        new_pin_enc=new_pin_enc, pin_uv_param=cp.protocol.authenticate(shared, new_pin_enc),
    )


def test_pin_too_short_is_policy_violation(fresh_ctap, version):
    with pytest.raises(CtapError) as e:
        raw_set_pin(fresh_ctap, version, b"123")
    assert err(e) == CtapError.ERR.PIN_POLICY_VIOLATION
    assert fresh_ctap.get_info().options["clientPin"] is False


def test_token_gates_make_and_get(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    proto = cp.protocol
    token = cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")
    att, _ = make(fresh_ctap, token=token, protocol=proto)
    assert att.auth_data.is_user_verified()
    token = cp.get_pin_token(PIN, P.GET_ASSERTION, "example.com")
    resp, h = assert_(fresh_ctap, allow=[descriptor(att)], token=token, protocol=proto)
    resp.verify(h, public_key(att))
    assert resp.auth_data.is_user_verified()


def test_legacy_get_pin_token(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    # getPinToken (0x05): implicit mc+ga permissions
    key_agreement, shared = cp._get_shared_secret()
    pin_hash_enc = cp.protocol.encrypt(shared, hashlib.sha256(PIN.encode()).digest()[:16])
    resp = fresh_ctap.client_pin(
        version, ClientPin.CMD.GET_TOKEN_USING_PIN_LEGACY,
        key_agreement=key_agreement, pin_hash_enc=pin_hash_enc,
    )
    token = cp.protocol.validate_token(cp.protocol.decrypt(shared, resp[2]))
    att, _ = make(fresh_ctap, token=token, protocol=cp.protocol)
    assert att.auth_data.is_user_verified()


def test_wrong_pin_counts_retries_and_blocks_after_three(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    for expected_left in (7, 6):
        with pytest.raises(CtapError) as e:
            cp.get_pin_token("0000", P.MAKE_CREDENTIAL, "example.com")
        assert err(e) == CtapError.ERR.PIN_INVALID
        assert cp.get_pin_retries()[0] == expected_left
    # the third consecutive mismatch needs a power cycle
    with pytest.raises(CtapError) as e:
        cp.get_pin_token("0000", P.MAKE_CREDENTIAL, "example.com")
    assert err(e) == CtapError.ERR.PIN_AUTH_BLOCKED
    retries, power_cycle = cp.get_pin_retries()
    assert retries == 5
    with pytest.raises(CtapError) as e:
        cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")  # even the right PIN
    assert err(e) == CtapError.ERR.PIN_AUTH_BLOCKED


def test_correct_pin_resets_retries(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    with pytest.raises(CtapError):
        cp.get_pin_token("0000", P.MAKE_CREDENTIAL, "example.com")
    assert cp.get_pin_retries()[0] == 7
    cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")
    assert cp.get_pin_retries()[0] == 8


def test_change_pin(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    cp.change_pin(PIN, "73915")
    with pytest.raises(CtapError) as e:
        cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")
    assert err(e) == CtapError.ERR.PIN_INVALID
    cp.get_pin_token("73915", P.MAKE_CREDENTIAL, "example.com")
    # changePIN with a wrong current PIN
    with pytest.raises(CtapError) as e:
        cp.change_pin("11111", "22222")
    assert err(e) == CtapError.ERR.PIN_INVALID


def test_bad_pin_uv_auth_param(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    token = cp.get_pin_token(PIN, P.MAKE_CREDENTIAL | P.GET_ASSERTION, "example.com")
    h = os.urandom(32)
    bad = bytearray(cp.protocol.authenticate(token, h))
    bad[0] ^= 1
    with pytest.raises(CtapError) as e:
        fresh_ctap.make_credential(
            h, {"id": "example.com"}, {"id": b"u", "name": "u"},
            [{"type": "public-key", "alg": -7}],
            pin_uv_param=bytes(bad), pin_uv_protocol=version,
        )
    assert err(e) == CtapError.ERR.PIN_AUTH_INVALID


def test_token_permissions_and_rp_binding(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    ga_only = cp.get_pin_token(PIN, P.GET_ASSERTION, "example.com")
    with pytest.raises(CtapError) as e:
        make(fresh_ctap, token=ga_only, protocol=cp.protocol)
    assert err(e) == CtapError.ERR.PIN_AUTH_INVALID
    other_rp = cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "other.example")
    with pytest.raises(CtapError) as e:
        make(fresh_ctap, rp_id="example.com", token=other_rp, protocol=cp.protocol)
    assert err(e) == CtapError.ERR.PIN_AUTH_INVALID


def test_zero_permissions_rejected(fresh_ctap, version):
    set_pin(fresh_ctap, version)
    cp = ClientPin(fresh_ctap, PROTOCOLS[version]())
    with pytest.raises(CtapError) as e:
        cp.get_pin_token(PIN, P(0))
    assert err(e) == CtapError.ERR.INVALID_PARAMETER


def test_make_credential_requires_pin_once_set(fresh_ctap, version):
    set_pin(fresh_ctap, version)
    info = fresh_ctap.get_info()
    if info.options.get("makeCredUvNotRqd"):
        # discoverable credentials still need UV (CTAP 2.1 §6.1.2 step 4)
        with pytest.raises(CtapError) as e:
            make(fresh_ctap, rk=True)
    else:
        with pytest.raises(CtapError) as e:
            make(fresh_ctap)
    assert err(e) in (CtapError.ERR.PUAT_REQUIRED,)


def test_empty_pin_auth_param_probes_for_pin(fresh_ctap, version):
    """A zero-length pinUvAuthParam is the 'touch to select' probe (CTAP 2.1 §6.1.2 step 2)."""
    set_pin(fresh_ctap, version)
    with pytest.raises(CtapError) as e:
        fresh_ctap.make_credential(
            os.urandom(32), {"id": "example.com"}, {"id": b"u", "name": "u"},
            [{"type": "public-key", "alg": -7}], pin_uv_param=b"", pin_uv_protocol=version,
        )
    assert err(e) == CtapError.ERR.PIN_INVALID


def test_uv_retries_report(fresh_ctap):
    # palm UV: 5 attempts when fresh (DESIGN.md); only meaningful where uv is advertised
    if "uv" not in fresh_ctap.info.options:
        pytest.skip("authenticator advertises no built-in UV yet")
    cp = ClientPin(fresh_ctap)
    assert cp.get_uv_retries() == 5


def test_min_pin_length_counts_code_points_not_bytes(fresh_ctap, version):
    # "éé" is 4 bytes of UTF-8 but only 2 code points: below the minimum of 4
    with pytest.raises(CtapError) as e:
        raw_set_pin(fresh_ctap, version, "éé".encode())
    assert err(e) == CtapError.ERR.PIN_POLICY_VIOLATION
    raw_set_pin(fresh_ctap, version, "éééé".encode())
    assert fresh_ctap.get_info().options["clientPin"] is True
