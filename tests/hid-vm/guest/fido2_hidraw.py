"""python-fido2 against palmkey over the guest kernel's real hidraw device (/dev/hidrawN made
by uhid): discovery through python-fido2's own Linux backend (HIDIOCGRAWINFO, report
descriptor parse), CTAPHID ping/wink, registration and authentication with every signature
checked by python-fido2's server, the PIN, and palm bio enrollment + palm UV with two
synthetic people.

    python3 fido2_hidraw.py --hidraw /dev/hidraw0            # the full device check
    python3 fido2_hidraw.py --hidraw /dev/hidraw0 --enroll-only   # PIN + enroll two people

Prints one line per check and closes with `N passed, N failed, N skipped`; exit status 1 when
anything failed. With --enroll-only: exit 77 when the device has no bio enrollment.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from fido2.attestation import PackedAttestation
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.cose import ES256, CoseKey
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.bio import BioEnrollment, FPBioEnrollment
from fido2.ctap2.pin import ClientPin, PinProtocolV2
from fido2.hid import CtapHidDevice, list_devices
from fido2.server import Fido2Server
from fido2.webauthn import PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity

from palm_sim import open_hidraw, set_hand

VENDOR_ID = 0x1209
PRODUCT_NAME = "palmkey"
PIN = "482157"
RP_ID = "example.com"
ORIGIN = "https://example.com"
# The two synthetic people of the shared-terminal checks and their member IDs: identities of
# the sim's default population whose captures pass presentation-attack detection (the
# conformance suite's members), and one nobody enrolled.
PEOPLE = {101: "member-0101", 103: "member-0103"}
UNENROLLED = 999


class Checks:
    def __init__(self) -> None:
        self.passed = self.failed = self.skipped = 0

    def run(self, name: str, fn, *args):
        t0 = time.monotonic()
        try:
            result = fn(*args)
        except Skip as skip:
            self.skipped += 1
            print(f"SKIP {name}: {skip}", flush=True)
            return None
        except Exception as error:  # noqa: BLE001 - every failure is reported, then counted
            self.failed += 1
            print(f"FAIL {name}: {error!r}", flush=True)
            traceback.print_exc(file=sys.stdout)
            return None
        self.passed += 1
        print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        return result

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


class Skip(Exception):
    pass


def check_discovery(path: str) -> None:
    found = [d for d in list_devices() if d.descriptor.path == path]
    assert len(found) == 1, f"python-fido2 lists {[d.descriptor for d in list_devices()]}"
    d = found[0].descriptor
    print(f"  descriptor: {d}")
    assert d.vid == VENDOR_ID, hex(d.vid)
    assert d.product_name == PRODUCT_NAME, d.product_name
    assert (d.report_size_in, d.report_size_out) == (64, 64)
    found[0].close()


def check_ctaphid(dev: CtapHidDevice) -> None:
    print(f"  CTAPHID version {dev.version}, device version {dev.device_version}, "
          f"capabilities 0x{dev.capabilities:02x}")
    # Many continuation packets each way through hidraw and uhid, up to the largest message.
    for size in (4000, 7609):
        payload = os.urandom(size)
        assert dev.ping(payload) == payload, f"ping of {size} bytes"
    if dev.capabilities & 0x01:
        dev.wink()


def check_info(ctap: Ctap2) -> None:
    info = ctap.info
    print(f"  versions {info.versions} aaguid {info.aaguid} options {dict(info.options)}")
    assert "FIDO_2_1" in info.versions or "FIDO_2_0" in info.versions
    assert bytes(info.aaguid) != bytes(16)
    assert "clientPin" in info.options and "rk" in info.options


def check_register_authenticate(dev: CtapHidDevice) -> None:
    server = Fido2Server(PublicKeyCredentialRpEntity(id=RP_ID, name="Example"))
    client = Fido2Client(dev, DefaultClientDataCollector(ORIGIN))
    user = PublicKeyCredentialUserEntity(id=os.urandom(16), name="alice", display_name="Alice")
    options, state = server.register_begin(user, user_verification="discouraged")
    auth_data = server.register_complete(state, client.make_credential(options.public_key))
    credential = auth_data.credential_data
    last = -1
    for _ in range(2):
        request, state = server.authenticate_begin([credential], user_verification="discouraged")
        response = client.get_assertion(request.public_key).get_response(0)
        # Raises on a bad signature, challenge, RP ID hash or missing UP flag.
        server.authenticate_complete(state, [credential], response)
        counter = response.response.authenticator_data.counter
        assert counter > last, (counter, last)
        last = counter


def check_low_level_signatures(ctap: Ctap2) -> None:
    h = os.urandom(32)
    att = ctap.make_credential(
        h, {"id": RP_ID, "name": "Example"},
        {"id": os.urandom(16), "name": "bob", "displayName": "Bob"},
        [{"type": "public-key", "alg": ES256.ALGORITHM}],
    )
    PackedAttestation().verify(att.att_stmt, att.auth_data, h)
    key = CoseKey.parse(att.auth_data.credential_data.public_key)
    cred = {"type": "public-key", "id": att.auth_data.credential_data.credential_id}
    h2 = os.urandom(32)
    assertion = ctap.get_assertion(RP_ID, h2, allow_list=[cred])
    assertion.verify(h2, key)
    try:
        assertion.verify(os.urandom(32), key)
    except Exception:  # noqa: BLE001 - any verification error is the expected outcome
        pass
    else:
        raise AssertionError("a signature verified over the wrong client data hash")


def check_pin(ctap: Ctap2) -> bytes:
    client_pin = ClientPin(ctap, PinProtocolV2())
    if not ctap.info.options.get("clientPin"):
        client_pin.set_pin(PIN)
    ctap.get_info()
    retries = client_pin.get_pin_retries()[0]
    try:
        client_pin.get_pin_token("000000")
    except CtapError as error:
        assert error.code == CtapError.ERR.PIN_INVALID, error
    else:
        raise AssertionError("a wrong PIN gave a token")
    assert client_pin.get_pin_retries()[0] == retries - 1
    perms = ClientPin.PERMISSION.MAKE_CREDENTIAL | ClientPin.PERMISSION.GET_ASSERTION
    token = client_pin.get_pin_token(PIN, perms, RP_ID)
    assert client_pin.get_pin_retries()[0] == retries, "a good PIN resets the retries"
    protocol = client_pin.protocol
    h = os.urandom(32)
    att = ctap.make_credential(
        h, {"id": RP_ID, "name": "Example"},
        {"id": os.urandom(16), "name": "carol", "displayName": "Carol"},
        [{"type": "public-key", "alg": ES256.ALGORITHM}],
        pin_uv_param=protocol.authenticate(token, h), pin_uv_protocol=protocol.VERSION,
    )
    assert att.auth_data.is_user_verified(), "PIN token makeCredential without UV flag"
    PackedAttestation().verify(att.att_stmt, att.auth_data, h)
    return token


def bio_enrollment(ctap: Ctap2) -> FPBioEnrollment:
    ctap.get_info()
    if not BioEnrollment.is_supported(ctap.info):
        raise Skip(f"bio enrollment not advertised (options {dict(ctap.info.options)})")
    client_pin = ClientPin(ctap, PinProtocolV2())
    if not ctap.info.options.get("clientPin"):
        client_pin.set_pin(PIN)
    token = client_pin.get_pin_token(PIN, ClientPin.PERMISSION.BIO_ENROLL)
    return FPBioEnrollment(ctap, client_pin.protocol, token)


def enroll_person(dev: CtapHidDevice, bio: FPBioEnrollment, identity: int, name: str) -> bytes:
    """Enroll synthetic person `identity` sample by sample, tolerating a few bad captures."""
    set_hand(dev, {"mode": "synthetic", "identity": identity})
    template_id, status, remaining = bio.enroll_begin(30000)
    print(f"  person {identity}: begin status {status} remaining {remaining}")
    bad = 0
    while remaining > 0:
        status, remaining = bio.enroll_capture_next(template_id, 30000)
        print(f"  person {identity}: sample status {status} remaining {remaining}")
        if status != FPBioEnrollment.FEEDBACK.FP_GOOD:
            bad += 1
            assert bad < 10, "ten bad samples in a row"
    bio.set_name(template_id, name)
    return template_id


def check_bio_enroll(dev: CtapHidDevice, ctap: Ctap2) -> dict:
    bio = bio_enrollment(ctap)
    print(f"  modality {bio.get_modality()} sensor {dict(bio.get_fingerprint_sensor_info())}")
    existing = bio.enumerate_enrollments()
    templates = {}
    for identity, name in PEOPLE.items():
        known = [t for t, n in existing.items() if n == name]
        templates[identity] = known[0] if known else enroll_person(dev, bio, identity, name)
    enrolled = bio.enumerate_enrollments()
    print(f"  enumerate: { {t.hex(): n for t, n in enrolled.items()} }")
    for identity, name in PEOPLE.items():
        assert enrolled.get(templates[identity]) == name, (identity, enrolled)
    return templates


def palm_make(ctap: Ctap2, name: str):
    h = os.urandom(32)
    return ctap.make_credential(
        h, {"id": RP_ID, "name": "Example"},
        {"id": os.urandom(16), "name": name, "displayName": name},
        [{"type": "public-key", "alg": ES256.ALGORITHM}],
        options={"rk": True, "uv": True},
    ), h


def palm_get(ctap: Ctap2):
    h = os.urandom(32)
    return ctap.get_assertion(RP_ID, h, options={"uv": True}), h


def check_palm_uv(dev: CtapHidDevice, ctap: Ctap2) -> None:
    ctap.get_info()
    if not ctap.info.options.get("uv"):
        raise Skip(f"built-in UV not advertised (options {dict(ctap.info.options)})")
    first, second = PEOPLE
    set_hand(dev, {"mode": "synthetic", "identity": first})
    att, h = palm_make(ctap, "person-1")
    assert att.auth_data.is_user_verified(), "palm makeCredential without UV flag"
    PackedAttestation().verify(att.att_stmt, att.auth_data, h)
    key = CoseKey.parse(att.auth_data.credential_data.public_key)
    cred_id = att.auth_data.credential_data.credential_id

    # Person 1's palm: usernameless, exactly their own credential.
    assertion, h = palm_get(ctap)
    assertion.verify(h, key)
    assert assertion.auth_data.is_user_verified()
    assert assertion.credential["id"] == cred_id
    assert assertion.number_of_credentials in (None, 1), assertion.number_of_credentials
    # The palm chose the account (CTAP 2.1 userSelected): without it Chromium shows an account
    # chooser for the one credential, which nobody at a terminal clicks.
    assert assertion.user_selected is True, f"userSelected {assertion.user_selected!r}"

    # Person 2 is enrolled but owns no credential here: their palm reaches nothing.
    set_hand(dev, {"mode": "synthetic", "identity": second})
    try:
        assertion, _ = palm_get(ctap)
    except CtapError as error:
        print(f"  person {second} (enrolled, no credential) refused: {error.code!r}")
    else:
        raise AssertionError(f"person 2's palm got credential {assertion.credential}")

    # Nobody enrolled: UV fails, nothing is signed.
    set_hand(dev, {"mode": "synthetic", "identity": UNENROLLED})
    try:
        assertion, _ = palm_get(ctap)
    except CtapError as error:
        print(f"  unenrolled person {UNENROLLED} refused: {error.code!r}")
    else:
        raise AssertionError(f"an unenrolled palm got credential {assertion.credential}")
    set_hand(dev, {"mode": "synthetic", "identity": first})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidraw", required=True)
    parser.add_argument("--enroll-only", action="store_true")
    args = parser.parse_args()
    checks = Checks()
    path = args.hidraw

    def on_device(check):
        """Each check on its own open hidraw file and CTAPHID channel, so a check that fails
        mid-message leaves no stale reports for the next one."""

        def run():
            dev = open_hidraw(path)
            try:
                return check(dev)
            finally:
                dev.close()

        return run

    if args.enroll_only:
        templates = checks.run("bio enrollment of two synthetic people",
                               on_device(lambda d: check_bio_enroll(d, Ctap2(d))))
        print(checks.summary())
        if checks.skipped:
            return 77
        return 1 if checks.failed or templates is None else 0

    checks.run("python-fido2 discovers the hidraw device", check_discovery, path)
    checks.run("CTAPHID ping 4000 + 7609 bytes, wink", on_device(check_ctaphid))
    checks.run("getInfo", on_device(lambda d: check_info(Ctap2(d))))
    checks.run("register + authenticate (Fido2Client/Fido2Server)",
               on_device(check_register_authenticate))
    checks.run("low-level make/get signatures", on_device(lambda d: check_low_level_signatures(Ctap2(d))))
    checks.run("PIN set, wrong PIN refused, token gives UV", on_device(lambda d: check_pin(Ctap2(d))))
    checks.run("bio enrollment: enroll two people, enumerate",
               on_device(lambda d: check_bio_enroll(d, Ctap2(d))))
    checks.run("palm UV: own credential only, others refused",
               on_device(lambda d: check_palm_uv(d, Ctap2(d))))
    print(checks.summary())
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
