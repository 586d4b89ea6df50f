"""Small helpers shared by the conformance tests."""

from __future__ import annotations

import hashlib
import os

from fido2.cose import ES256, CoseKey
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2

PROTOCOLS = {1: PinProtocolV1, 2: PinProtocolV2}
ES256_PARAMS = [{"type": "public-key", "alg": ES256.ALGORITHM}]
PIN = "4821"


def cdh() -> bytes:
    """A random client data hash."""
    return os.urandom(32)


def rp(rp_id: str = "example.com") -> dict:
    return {"id": rp_id, "name": "Example"}


def user(uid: bytes | None = None, name: str = "alice") -> dict:
    return {"id": uid or os.urandom(16), "name": name, "displayName": name.title()}


def rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


def make(ctap: Ctap2, rp_id="example.com", rk=False, extensions=None, token=None,
         protocol=None, exclude=None, uid=None, name="alice"):
    """makeCredential; with `token` the pinUvAuthParam is computed from it."""
    h = cdh()
    param = proto_ver = None
    if token is not None:
        param = protocol.authenticate(token, h)
        proto_ver = protocol.VERSION
    resp = ctap.make_credential(
        h, rp(rp_id), user(uid, name), ES256_PARAMS,
        exclude_list=exclude, extensions=extensions,
        options={"rk": True} if rk else None,
        pin_uv_param=param, pin_uv_protocol=proto_ver,
    )
    return resp, h


def assert_(ctap: Ctap2, rp_id="example.com", allow=None, extensions=None, token=None,
            protocol=None, options=None):
    h = cdh()
    param = proto_ver = None
    if token is not None:
        param = protocol.authenticate(token, h)
        proto_ver = protocol.VERSION
    resp = ctap.get_assertion(
        rp_id, h, allow_list=allow, extensions=extensions, options=options,
        pin_uv_param=param, pin_uv_protocol=proto_ver,
    )
    return resp, h


def descriptor(att) -> dict:
    return {"type": "public-key", "id": att.auth_data.credential_data.credential_id}


def public_key(att) -> CoseKey:
    return CoseKey.parse(att.auth_data.credential_data.public_key)


def set_pin(ctap: Ctap2, version: int, pin: str = PIN) -> ClientPin:
    cp = ClientPin(ctap, PROTOCOLS[version]())
    cp.set_pin(pin)
    return cp
