"""Extensions: hmac-secret, credProtect, credBlob, minPinLength."""

import os

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Config
from fido2.ctap2.pin import ClientPin

from helpers import PIN, PROTOCOLS, assert_, descriptor, make, public_key, set_pin

P = ClientPin.PERMISSION


@pytest.fixture(params=[1, 2], ids=["protocol1", "protocol2"])
def version(request):
    return request.param


def hmac_get(ctap, version, cred, salts, token=None, tamper=False):
    """getAssertion with hmac-secret salts; returns the decrypted output."""
    cp = ClientPin(ctap, PROTOCOLS[version]())
    proto = cp.protocol
    key_agreement, shared = cp._get_shared_secret()
    salt_enc = proto.encrypt(shared, b"".join(salts))
    salt_auth = bytearray(proto.authenticate(shared, salt_enc))
    if tamper:
        salt_auth[0] ^= 1
    ext = {"hmac-secret": {1: key_agreement, 2: salt_enc, 3: bytes(salt_auth), 4: version}}
    resp, h = assert_(ctap, allow=[descriptor(cred)], extensions=ext,
                      token=token, protocol=proto if token else None)
    resp.verify(h, public_key(cred))
    return proto.decrypt(shared, resp.auth_data.extensions["hmac-secret"]), resp


def test_hmac_secret(ctap, version):
    cred, _ = make(ctap, extensions={"hmac-secret": True})
    assert cred.auth_data.extensions == {"hmac-secret": True}
    s1, s2 = os.urandom(32), os.urandom(32)
    one, _ = hmac_get(ctap, version, cred, [s1])
    assert len(one) == 32
    again, _ = hmac_get(ctap, version, cred, [s1])
    assert again == one  # deterministic per credential and salt, fresh shared secret each time
    both, _ = hmac_get(ctap, version, cred, [s1, s2])
    assert len(both) == 64 and both[:32] == one and both[32:] != one
    other_cred, _ = make(ctap, extensions={"hmac-secret": True})
    different, _ = hmac_get(ctap, version, other_cred, [s1])
    assert different != one


def test_hmac_secret_bad_salt_auth(ctap, version):
    cred, _ = make(ctap, extensions={"hmac-secret": True})
    with pytest.raises(CtapError) as e:
        hmac_get(ctap, version, cred, [os.urandom(32)], tamper=True)
    assert e.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_hmac_secret_differs_with_uv(fresh_ctap, version):
    cp = set_pin(fresh_ctap, version)
    cred, _ = make(fresh_ctap, extensions={"hmac-secret": True},
                   token=cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com"),
                   protocol=cp.protocol)
    salt = os.urandom(32)
    without_uv, r1 = hmac_get(fresh_ctap, version, cred, [salt])
    assert not r1.auth_data.is_user_verified()
    token = cp.get_pin_token(PIN, P.GET_ASSERTION, "example.com")
    with_uv, r2 = hmac_get(fresh_ctap, version, cred, [salt], token=token)
    assert r2.auth_data.is_user_verified()
    assert with_uv != without_uv


def test_cred_protect_levels(fresh_ctap):
    ctap = fresh_ctap
    rp_id = "protect.example"
    creds = {}
    for level in (1, 2, 3):
        att, _ = make(ctap, rp_id=rp_id, rk=True, extensions={"credProtect": level},
                      name=f"level{level}")
        assert att.auth_data.extensions["credProtect"] == level
        creds[level] = att

    # without UV and without an allow list only level 1 is discoverable
    resp, _ = assert_(ctap, rp_id=rp_id)
    assert resp.number_of_credentials in (None, 1)
    assert resp.credential["id"] == descriptor(creds[1])["id"]
    # level 2 is usable without UV when the RP names it
    resp, h = assert_(ctap, rp_id=rp_id, allow=[descriptor(creds[2])])
    resp.verify(h, public_key(creds[2]))
    # level 3 never without UV
    with pytest.raises(CtapError) as e:
        assert_(ctap, rp_id=rp_id, allow=[descriptor(creds[3])])
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS

    # with UV all three are visible
    cp = set_pin(ctap, 2)
    token = cp.get_pin_token(PIN, P.GET_ASSERTION, rp_id)
    resp, h = assert_(ctap, rp_id=rp_id, token=token, protocol=cp.protocol)
    assert resp.number_of_credentials == 3
    token = cp.get_pin_token(PIN, P.GET_ASSERTION, rp_id)
    resp, h = assert_(ctap, rp_id=rp_id, allow=[descriptor(creds[3])], token=token,
                      protocol=cp.protocol)
    resp.verify(h, public_key(creds[3]))


def test_cred_blob(ctap):
    max_len = ctap.info.max_cred_blob_length
    assert max_len >= 32
    blob = os.urandom(max_len)
    att, _ = make(ctap, rk=True, rp_id="blob.example", extensions={"credBlob": blob})
    assert att.auth_data.extensions["credBlob"] is True
    resp, _ = assert_(ctap, rp_id="blob.example", allow=[descriptor(att)],
                      extensions={"credBlob": True})
    assert resp.auth_data.extensions["credBlob"] == blob
    # a blob over the limit is not stored
    att, _ = make(ctap, rk=True, rp_id="blob.example",
                  extensions={"credBlob": os.urandom(max_len + 1)})
    assert att.auth_data.extensions["credBlob"] is False


def test_min_pin_length_extension_and_set_min_pin_length(fresh_ctap):
    ctap = fresh_ctap
    cp = set_pin(ctap, 2)
    cfg = Config(ctap, cp.protocol, cp.get_pin_token(PIN, P.AUTHENTICATOR_CFG))
    cfg.set_min_pin_length(rp_ids=["example.com"])

    token = cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")
    att, _ = make(ctap, extensions={"minPinLength": True}, token=token, protocol=cp.protocol)
    assert att.auth_data.extensions["minPinLength"] == 4
    token = cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "other.example")
    att, _ = make(ctap, rp_id="other.example", extensions={"minPinLength": True},
                  token=token, protocol=cp.protocol)
    assert "minPinLength" not in (att.auth_data.extensions or {})

    # raising the minimum above the current PIN's length forces a PIN change
    cfg = Config(ctap, cp.protocol, cp.get_pin_token(PIN, P.AUTHENTICATOR_CFG))
    cfg.set_min_pin_length(min_pin_length=6)
    info = ctap.get_info()
    assert info.min_pin_length == 6
    assert info.force_pin_change is True
    # the right PIN, but no token until it is changed
    with pytest.raises(CtapError) as e:
        cp.get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")
    assert e.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
    with pytest.raises(CtapError) as e:
        cp.change_pin(PIN, "12345")
    assert e.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
    cp.change_pin(PIN, "918273")
    assert ctap.get_info().force_pin_change is False
    cp.get_pin_token("918273", P.MAKE_CREDENTIAL, "example.com")

    # the minimum can never decrease (short of a reset)
    cfg = Config(ctap, cp.protocol, cp.get_pin_token("918273", P.AUTHENTICATOR_CFG))
    with pytest.raises(CtapError) as e:
        cfg.set_min_pin_length(min_pin_length=4)
    assert e.value.code == CtapError.ERR.PIN_POLICY_VIOLATION


def test_prf_through_fido2_client(device):
    """WebAuthn PRF (hmac-secret underneath) end to end through python-fido2's client."""
    from fido2.client import DefaultClientDataCollector, Fido2Client
    from fido2.server import Fido2Server
    from fido2.utils import websafe_decode
    from fido2.webauthn import PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity

    server = Fido2Server(PublicKeyCredentialRpEntity(id="example.com", name="Example"))
    client = Fido2Client(device, DefaultClientDataCollector("https://example.com"))
    user = PublicKeyCredentialUserEntity(id=os.urandom(16), name="prf", display_name="PRF")
    options, state = server.register_begin(user, user_verification="discouraged")
    create = dict(options.public_key)
    create["extensions"] = {"prf": {}}
    registration = client.make_credential(create)
    assert registration.client_extension_results["prf"]["enabled"] is True
    credential = server.register_complete(state, registration).credential_data

    def evaluate(first: bytes, second: bytes | None = None):
        request, state = server.authenticate_begin([credential], user_verification="discouraged")
        get = dict(request.public_key)
        values = {"first": first} if second is None else {"first": first, "second": second}
        get["extensions"] = {"prf": {"eval": values}}
        response = client.get_assertion(get).get_response(0)
        server.authenticate_complete(state, [credential], response)
        results = response.client_extension_results["prf"]["results"]
        return {k: websafe_decode(v) for k, v in results.items()}

    a = evaluate(b"input one")
    assert len(a["first"]) == 32
    assert evaluate(b"input one")["first"] == a["first"]
    both = evaluate(b"input one", b"input two")
    assert both["first"] == a["first"] and both["second"] != a["first"]
