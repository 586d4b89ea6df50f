"""authenticatorCredentialManagement: metadata, enumeration, update, delete."""

import os

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import CredentialManagement
from fido2.ctap2.pin import ClientPin

from helpers import PIN, assert_, descriptor, make, rp_id_hash, set_pin

P = ClientPin.PERMISSION
R = CredentialManagement.RESULT


@pytest.fixture(params=[1, 2], ids=["protocol1", "protocol2"])
def setup(request, fresh_ctap):
    cp = set_pin(fresh_ctap, request.param)

    def made_for(rp_id, name, rk=True):
        # a fresh token per credential: CTAP 2.1 lets makeCredential consume its permissions
        mc = cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, rp_id)
        return make(fresh_ctap, rp_id=rp_id, rk=rk, token=mc, protocol=cp.protocol, name=name)[0]

    made = {
        "a.example": [made_for("a.example", f"a{i}") for i in range(2)],
        "b.example": [made_for("b.example", "b0")],
    }
    # a non-discoverable credential is not listed
    made_for("c.example", "c0", rk=False)
    token = cp.get_pin_token(PIN, P.CREDENTIAL_MGMT)
    return fresh_ctap, cp, CredentialManagement(fresh_ctap, cp.protocol, token), made


def test_metadata_and_enumeration(setup):
    ctap, _, cm, made = setup
    meta = cm.get_metadata()
    assert meta[R.EXISTING_CRED_COUNT] == 3
    assert meta[R.MAX_REMAINING_COUNT] > 0

    rps = cm.enumerate_rps()
    assert sorted(r[R.RP]["id"] for r in rps) == ["a.example", "b.example"]
    for r in rps:
        assert r[R.RP_ID_HASH] == rp_id_hash(r[R.RP]["id"])

    creds = cm.enumerate_creds(rp_id_hash("a.example"))
    ids = {c[R.CREDENTIAL_ID]["id"] for c in creds}
    assert ids == {descriptor(a)["id"] for a in made["a.example"]}
    for c in creds:
        assert c[R.USER]["name"] in ("a0", "a1")
        assert c[R.PUBLIC_KEY][3] == -7
    assert cm.enumerate_creds(rp_id_hash("nobody.example")) == []
    with pytest.raises(CtapError) as e:
        cm.enumerate_creds_begin(rp_id_hash("nobody.example"))
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS


def test_update_user_information(setup):
    ctap, _, cm, made = setup
    cred = descriptor(made["b.example"][0])
    original = cm.enumerate_creds(rp_id_hash("b.example"))[0][R.USER]
    cm.update_user_info(cred, {"id": original["id"], "name": "renamed", "displayName": "Renamed"})
    user = cm.enumerate_creds(rp_id_hash("b.example"))[0][R.USER]
    assert user["name"] == "renamed" and user["displayName"] == "Renamed"
    # the user ID cannot change
    with pytest.raises(CtapError) as e:
        cm.update_user_info(cred, {"id": os.urandom(8), "name": "x"})
    assert e.value.code == CtapError.ERR.INVALID_PARAMETER


def test_delete_credential(setup):
    ctap, cp, cm, made = setup
    victim = descriptor(made["a.example"][0])
    cm.delete_cred(victim)
    assert cm.get_metadata()[R.EXISTING_CRED_COUNT] == 2
    remaining = {c[R.CREDENTIAL_ID]["id"] for c in cm.enumerate_creds(rp_id_hash("a.example"))}
    assert victim["id"] not in remaining
    ga = cp.get_pin_token(PIN, P.GET_ASSERTION, "a.example")
    with pytest.raises(CtapError) as e:
        assert_(ctap, rp_id="a.example", allow=[victim], token=ga, protocol=cp.protocol)
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    # issuing the ga token invalidated the cm token (one pinUvAuthToken at a time)
    with pytest.raises(CtapError) as e:
        cm.get_metadata()
    assert e.value.code == CtapError.ERR.PIN_AUTH_INVALID
    cm = CredentialManagement(ctap, cp.protocol, cp.get_pin_token(PIN, P.CREDENTIAL_MGMT))
    with pytest.raises(CtapError) as e:
        cm.delete_cred(victim)
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    # deleting the last credential of an RP removes the RP
    cm.delete_cred(descriptor(made["b.example"][0]))
    assert [r[R.RP]["id"] for r in cm.enumerate_rps()] == ["a.example"]


def test_requires_valid_token_with_cm_permission(setup):
    ctap, cp, _, _ = setup
    wrong = CredentialManagement(ctap, cp.protocol, os.urandom(32))
    with pytest.raises(CtapError) as e:
        wrong.get_metadata()
    assert e.value.code == CtapError.ERR.PIN_AUTH_INVALID
    mc_only = CredentialManagement(ctap, cp.protocol, cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com"))
    with pytest.raises(CtapError) as e:
        mc_only.get_metadata()
    assert e.value.code == CtapError.ERR.PIN_AUTH_INVALID
    with pytest.raises(CtapError) as e:
        ctap.credential_mgmt(CredentialManagement.CMD.GET_CREDS_METADATA)
    assert e.value.code == CtapError.ERR.PUAT_REQUIRED
