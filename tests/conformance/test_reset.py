"""authenticatorReset: wipes credentials and PIN, only shortly after power-up."""

import time

import pytest
from fido2.ctap import CtapError

from helpers import PIN, assert_, descriptor, make, set_pin


def test_reset_wipes_credentials_and_pin(fresh_server, fresh_ctap):
    ctap = fresh_ctap
    rk, _ = make(ctap, rk=True, rp_id="reset.example")
    nonrk, _ = make(ctap, rp_id="reset.example")
    set_pin(ctap, 2)
    assert ctap.get_info().options["clientPin"] is True
    assert time.monotonic() - fresh_server.started < 10, "set-up took too long for reset"
    ctap.reset()

    info = ctap.get_info()
    assert info.options["clientPin"] is False
    for cred in (rk, nonrk):  # non-discoverable IDs die with the rotated wrapping key
        with pytest.raises(CtapError) as e:
            assert_(ctap, rp_id="reset.example", allow=[descriptor(cred)])
        assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    with pytest.raises(CtapError) as e:
        assert_(ctap, rp_id="reset.example")
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    # the device works as new
    make(ctap)


def test_reset_refused_after_ten_seconds(fresh_server, fresh_ctap):
    make(fresh_ctap)
    remaining = 10.5 - (time.monotonic() - fresh_server.started)
    if remaining > 0:
        time.sleep(remaining)
    with pytest.raises(CtapError) as e:
        fresh_ctap.reset()
    assert e.value.code == CtapError.ERR.NOT_ALLOWED
