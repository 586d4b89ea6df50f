"""authenticatorConfig: permission checks and toggleAlwaysUv."""

import os

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Config
from fido2.ctap2.pin import ClientPin

from helpers import PIN, make, set_pin

P = ClientPin.PERMISSION


def test_config_needs_acfg_token(fresh_ctap):
    cp = set_pin(fresh_ctap, 1)
    with pytest.raises(CtapError) as e:
        Config(fresh_ctap, cp.protocol, os.urandom(32)).toggle_always_uv()
    assert e.value.code == CtapError.ERR.PIN_AUTH_INVALID
    mc = cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")
    with pytest.raises(CtapError) as e:
        Config(fresh_ctap, cp.protocol, mc).toggle_always_uv()
    assert e.value.code == CtapError.ERR.PIN_AUTH_INVALID
    with pytest.raises(CtapError) as e:
        Config(fresh_ctap).toggle_always_uv()
    assert e.value.code == CtapError.ERR.PUAT_REQUIRED


def test_toggle_always_uv(fresh_ctap):
    cp = set_pin(fresh_ctap, 2)
    assert fresh_ctap.get_info().options.get("alwaysUv") is False
    Config(fresh_ctap, cp.protocol, cp.get_pin_token(PIN, P.AUTHENTICATOR_CFG)).toggle_always_uv()
    assert fresh_ctap.get_info().options.get("alwaysUv") is True
    with pytest.raises(CtapError) as e:
        make(fresh_ctap)
    assert e.value.code == CtapError.ERR.PUAT_REQUIRED
    Config(fresh_ctap, cp.protocol, cp.get_pin_token(PIN, P.AUTHENTICATOR_CFG)).toggle_always_uv()
    assert fresh_ctap.get_info().options.get("alwaysUv") is False
