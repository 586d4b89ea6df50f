"""Registration and authentication: python-fido2's client and server verify the packed
self-attestation and every assertion signature."""

import os

import pytest
from fido2.attestation import AttestationType, PackedAttestation
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationConveyancePreference,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)

from helpers import assert_, descriptor, make, public_key, rp_id_hash

ORIGIN = "https://example.com"


def verify_packed(attestation_object, client_data_hash):
    result = PackedAttestation().verify(
        attestation_object.att_stmt, attestation_object.auth_data, client_data_hash
    )
    # palmkey ships self attestation by default (DESIGN.md)
    assert result.attestation_type == AttestationType.SELF


def test_register_and_authenticate_with_fido2_client_and_server(device):
    server = Fido2Server(
        PublicKeyCredentialRpEntity(id="example.com", name="Example"),
        attestation=AttestationConveyancePreference.DIRECT,
        verify_attestation=verify_packed,
    )
    client = Fido2Client(device, DefaultClientDataCollector(ORIGIN))
    user = PublicKeyCredentialUserEntity(id=os.urandom(16), name="alice", display_name="Alice")

    options, state = server.register_begin(user, user_verification="discouraged")
    registration = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, registration)
    credential = auth_data.credential_data
    assert credential is not None

    counters = []
    for _ in range(3):
        request, state = server.authenticate_begin([credential], user_verification="discouraged")
        selection = client.get_assertion(request.public_key)
        response = selection.get_response(0)
        # raises on a bad signature, challenge, RP ID hash or missing UP flag
        server.authenticate_complete(state, [credential], response)
        counters.append(response.response.authenticator_data.counter)
    assert counters == sorted(counters) and len(set(counters)) == 3


def test_low_level_make_and_get_verify_signatures(ctap):
    att, h = make(ctap)
    assert att.fmt == "packed"
    PackedAttestation().verify(att.att_stmt, att.auth_data, h)
    ad = att.auth_data
    assert ad.rp_id_hash == rp_id_hash("example.com")
    assert ad.is_user_present()
    assert not ad.is_user_verified()
    assert ad.is_attested()
    assert ad.credential_data.aaguid == ctap.info.aaguid

    key = public_key(att)
    last = ad.counter
    for _ in range(2):
        resp, h2 = assert_(ctap, allow=[descriptor(att)])
        resp.verify(h2, key)  # raises InvalidSignature
        assert resp.credential["id"] == descriptor(att)["id"]
        assert resp.auth_data.rp_id_hash == rp_id_hash("example.com")
        assert resp.auth_data.is_user_present()
        assert resp.auth_data.counter > last
        last = resp.auth_data.counter

    # A signature over a different client data hash must not verify.
    resp, _ = assert_(ctap, allow=[descriptor(att)])
    with pytest.raises(Exception):
        resp.verify(os.urandom(32), key)


def test_silent_assertion_has_no_up_flag(ctap):
    att, _ = make(ctap)
    resp, h = assert_(ctap, allow=[descriptor(att)], options={"up": False})
    resp.verify(h, public_key(att))
    assert not resp.auth_data.is_user_present()


def test_discoverable_credentials_and_get_next_assertion(ctap):
    rp_id = f"rk-{os.urandom(4).hex()}.example"
    made = [make(ctap, rp_id=rp_id, rk=True, name=f"user{i}")[0] for i in range(3)]
    keys = {descriptor(a)["id"]: public_key(a) for a in made}

    first, h = assert_(ctap, rp_id=rp_id)
    assert first.number_of_credentials == 3
    responses = [first] + [ctap.get_next_assertion() for _ in range(2)]
    seen = set()
    for resp in responses:
        cid = resp.credential["id"]
        resp.verify(h, keys[cid])
        assert resp.user is not None and "id" in resp.user
        seen.add(cid)
    assert seen == set(keys)
    # newest first (CTAP 2.1 §6.2.2 step 12)
    assert responses[0].credential["id"] == descriptor(made[-1])["id"]
    with pytest.raises(CtapError) as e:
        ctap.get_next_assertion()
    assert e.value.code == CtapError.ERR.NOT_ALLOWED


def test_exclude_list_blocks_second_registration(ctap):
    att, _ = make(ctap)
    with pytest.raises(CtapError) as e:
        make(ctap, exclude=[descriptor(att)])
    assert e.value.code == CtapError.ERR.CREDENTIAL_EXCLUDED
    # an unknown ID in the exclude list does not block
    make(ctap, exclude=[{"type": "public-key", "id": os.urandom(64)}])


def test_credential_is_bound_to_its_rp(ctap):
    att, _ = make(ctap, rp_id="example.com")
    with pytest.raises(CtapError) as e:
        assert_(ctap, rp_id="other.example", allow=[descriptor(att)])
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS


def test_unknown_or_tampered_credential_id(ctap):
    att, _ = make(ctap)
    tampered = bytearray(descriptor(att)["id"])
    tampered[len(tampered) // 2] ^= 0x01
    for cid in (os.urandom(len(tampered)), bytes(tampered)):
        with pytest.raises(CtapError) as e:
            assert_(ctap, allow=[{"type": "public-key", "id": cid}])
        assert e.value.code == CtapError.ERR.NO_CREDENTIALS


def test_no_discoverable_credentials_for_rp(ctap):
    with pytest.raises(CtapError) as e:
        assert_(ctap, rp_id=f"none-{os.urandom(4).hex()}.example")
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS


def test_unsupported_algorithm(ctap):
    with pytest.raises(CtapError) as e:
        ctap.make_credential(
            os.urandom(32), {"id": "example.com"}, {"id": b"u"},
            [{"type": "public-key", "alg": -257}],  # RS256
        )
    assert e.value.code == CtapError.ERR.UNSUPPORTED_ALGORITHM
