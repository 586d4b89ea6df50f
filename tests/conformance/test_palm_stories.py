"""Issue 4's shared-terminal stories over the UDP transport, against `palmkey serve
--sensor sim`: three people enrolled with member IDs, discoverable credentials owned by whoever
presented their palm, usernameless logins that see only the caller's account, and the failure
paths (a stranger's palm, UV blocking and PIN unblocking, photo attacks, cancel).

Every assertion's signature is checked against the credential's public key."""

import os
import threading

import pytest
from fido2.attestation import PackedAttestation
from fido2.ctap import CtapError
from fido2.ctap2.pin import ClientPin

from helpers import ES256_PARAMS, PIN, public_key
from palm import Admin, Bio, person, set_hand, sim_device

ERR = CtapError.ERR
RP_ID = "pharmacy.example"
RP = {"id": RP_ID, "name": "Example Pharmacy"}
# Synthetic identities of the sim sensor (seed 1): the three members, and a stranger. The
# members are people whose first 10 simulated captures the current PAD accepts as bona fide:
# it falsely rejects about a quarter of bona fide synthetic captures (see the sensor report),
# and these stories test the CTAP semantics, not the engine's accuracy (`palmkey palm eval`).
PEOPLE = {"alice": 101, "bob": 103, "carol": 106}
STRANGER = 999
MAX_UV_RETRIES = 5


class Terminal:
    def __init__(self, sim, admin):
        self.sim = sim
        self.admin = admin
        self.device = sim.device
        self.ctap = sim.ctap
        self.templates = {}    # name -> template ID
        self.credentials = {}  # name -> (credential descriptor, public key, user id)

    def uv_retries(self) -> int:
        return self.admin.client_pin.get_uv_retries()

    def login(self, name=None, identity=None, allow=None):
        """getAssertion with the palm as UV; checks the signature of every assertion."""
        set_hand(self.device, "synthetic", identity=PEOPLE[name] if name else identity)
        cdh = os.urandom(32)
        first = self.ctap.get_assertion(RP_ID, cdh, allow_list=allow, options={"uv": True})
        out = [first]
        for _ in range((first.number_of_credentials or 1) - 1):
            out.append(self.ctap.get_next_assertion())
        by_id = {d["id"]: pk for d, pk, _ in self.credentials.values()}
        for a in out:
            assert a.auth_data.is_user_verified()
            a.verify(cdh, by_id[a.credential["id"]])
        return out


@pytest.fixture(scope="module")
def terminal(palmkey_bin):
    with sim_device(palmkey_bin) as sim:
        yield Terminal(sim, Admin(sim.ctap))


def test_enroll_three_people_with_member_ids(terminal):
    info = terminal.ctap.get_info()
    assert info.options.get("bioEnroll") is False, "nobody enrolled yet"
    token = terminal.admin.token()
    for name, identity in PEOPLE.items():
        template_id, statuses = terminal.admin.enroll(
            terminal.device, identity, f"M-{identity:04d}", token=token)
        assert statuses[-1] == Bio.GOOD
        terminal.templates[name] = template_id
    assert len(set(terminal.templates.values())) == 3
    assert terminal.admin.enrollments(token) == {
        terminal.templates[n]: f"M-{i:04d}" for n, i in PEOPLE.items()
    }
    info = terminal.ctap.get_info()
    assert info.options["bioEnroll"] is True
    assert info.options["uv"] is True


def test_each_person_registers_a_discoverable_credential(terminal):
    for name, identity in PEOPLE.items():
        person(terminal.device, identity)
        cdh = os.urandom(32)
        uid = name.encode() + b"-" + os.urandom(8)
        user = {"id": uid, "name": name, "displayName": name.title()}
        att = terminal.ctap.make_credential(
            cdh, RP, user, ES256_PARAMS, options={"rk": True, "uv": True})
        assert att.auth_data.is_user_verified()
        PackedAttestation().verify(att.att_stmt, att.auth_data, cdh)
        cred = att.auth_data.credential_data
        terminal.credentials[name] = (
            {"type": "public-key", "id": cred.credential_id}, public_key(att), uid)
    assert len(terminal.credentials) == 3


def test_usernameless_login_returns_only_your_own_account(terminal):
    for name in PEOPLE:
        assertions = terminal.login(name)
        assert len(assertions) == 1, f"{name} saw {len(assertions)} accounts"
        descriptor, _, uid = terminal.credentials[name]
        assert assertions[0].credential["id"] == descriptor["id"]
        assert assertions[0].user["id"] == uid


def test_allow_list_with_someone_elses_credential_is_no_credentials(terminal):
    alice = terminal.credentials["alice"][0]
    with pytest.raises(CtapError) as e:
        terminal.login("bob", allow=[alice])
    assert e.value.code == ERR.NO_CREDENTIALS
    # Alice herself gets her credential through the same allowList.
    assert terminal.login("alice", allow=[alice])[0].credential["id"] == alice["id"]
    assert terminal.uv_retries() == MAX_UV_RETRIES, "a recognised palm costs no retry"


def expect_uv_failure(terminal, identity=None, mode="synthetic"):
    set_hand(terminal.device, mode, identity=identity)
    with pytest.raises(CtapError) as e:
        terminal.ctap.get_assertion(RP_ID, os.urandom(32), options={"uv": True})
    return e.value.code


def test_unenrolled_palm_fails_uv_and_counts_a_retry(terminal):
    before = terminal.uv_retries()
    assert before == MAX_UV_RETRIES
    assert expect_uv_failure(terminal, STRANGER) == ERR.UV_INVALID
    assert terminal.uv_retries() == before - 1
    # The token path charges the same counter.
    set_hand(terminal.device, "synthetic", identity=STRANGER)
    with pytest.raises(CtapError) as e:
        terminal.admin.client_pin.get_uv_token(ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    assert e.value.code == ERR.UV_INVALID
    assert terminal.uv_retries() == before - 2


def test_five_failures_block_uv_and_the_pin_unblocks_it(terminal):
    codes = []
    while terminal.uv_retries() > 0:
        codes.append(expect_uv_failure(terminal, STRANGER))
        assert len(codes) <= MAX_UV_RETRIES
    assert codes[-1] == ERR.UV_BLOCKED
    assert all(c == ERR.UV_INVALID for c in codes[:-1])
    # Blocked: even an enrolled palm is not looked at.
    assert expect_uv_failure(terminal, PEOPLE["alice"]) == ERR.UV_BLOCKED
    info = terminal.ctap.get_info()
    assert info.options.get("uv") is True, "uv stays configured while blocked"
    # The administrator's PIN resets the counter (CTAP 2.1 §6.5.5.7).
    terminal.admin.client_pin.get_pin_token(
        PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    assert terminal.uv_retries() == MAX_UV_RETRIES
    assert len(terminal.login("alice")) == 1


def test_a_photo_attack_never_verifies(terminal):
    for name in ("alice", "bob"):
        for _ in range(2):
            code = expect_uv_failure(terminal, PEOPLE[name], mode="photo-attack")
            assert code in (ERR.UV_INVALID, ERR.UV_BLOCKED)
    assert terminal.uv_retries() == MAX_UV_RETRIES - 4, "each attack costs a retry"
    terminal.admin.client_pin.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    assert terminal.uv_retries() == MAX_UV_RETRIES


def test_cancel_during_capture_is_keepalive_cancel(terminal):
    set_hand(terminal.device, "none")
    cancel = threading.Event()
    seen = []

    def on_keepalive(status):
        seen.append(status)
        cancel.set()  # the device asks for a hand: the user walks away

    with pytest.raises(CtapError) as e:
        terminal.ctap.get_assertion(RP_ID, os.urandom(32), options={"uv": True},
                                    event=cancel, on_keepalive=on_keepalive)
    assert e.value.code == ERR.KEEPALIVE_CANCEL
    assert 2 in seen, f"KEEPALIVE UPNEEDED expected while waiting for a hand, saw {seen}"
    assert terminal.uv_retries() == MAX_UV_RETRIES, "a cancelled capture costs nothing"


def test_no_hand_times_out(terminal):
    set_hand(terminal.device, "none")
    with pytest.raises(CtapError) as e:
        terminal.ctap.get_assertion(RP_ID, os.urandom(32), options={"uv": True})
    assert e.value.code == ERR.USER_ACTION_TIMEOUT
    assert terminal.uv_retries() == MAX_UV_RETRIES


def test_a_palm_cannot_get_enrollment_or_management_tokens(terminal):
    person(terminal.device, PEOPLE["alice"])
    for permission in (ClientPin.PERMISSION.BIO_ENROLL, ClientPin.PERMISSION.CREDENTIAL_MGMT,
                       ClientPin.PERMISSION.AUTHENTICATOR_CFG):
        with pytest.raises(CtapError) as e:
            terminal.admin.client_pin.get_uv_token(permission)
        assert e.value.code == ERR.UNAUTHORIZED_PERMISSION
    assert terminal.uv_retries() == MAX_UV_RETRIES


def test_uv_token_identifies_the_person(terminal):
    """A pinUvAuthToken obtained with the palm acts for the person who presented it."""
    cp = terminal.admin.client_pin
    person(terminal.device, PEOPLE["carol"])
    token = cp.get_uv_token(ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    cdh = os.urandom(32)
    a = terminal.ctap.get_assertion(
        RP_ID, cdh, pin_uv_param=cp.protocol.authenticate(token, cdh),
        pin_uv_protocol=cp.protocol.VERSION)
    assert a.number_of_credentials in (None, 1)
    descriptor, key, uid = terminal.credentials["carol"]
    assert a.credential["id"] == descriptor["id"] and a.user["id"] == uid
    assert a.auth_data.is_user_verified()
    a.verify(cdh, key)


def test_removed_person_can_no_longer_log_in(terminal):
    terminal.admin.bio(Bio.REMOVE, {0x01: terminal.templates["carol"]})
    assert terminal.templates["carol"] not in terminal.admin.enrollments()
    assert expect_uv_failure(terminal, PEOPLE["carol"]) == ERR.UV_INVALID
    # Carol's credential no longer answers, whoever asks with the administrator's PIN.
    cp = terminal.admin.client_pin
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    cdh = os.urandom(32)
    with pytest.raises(CtapError) as e:
        terminal.ctap.get_assertion(
            RP_ID, cdh, allow_list=[terminal.credentials["carol"][0]],
            pin_uv_param=cp.protocol.authenticate(token, cdh),
            pin_uv_protocol=cp.protocol.VERSION)
    assert e.value.code == ERR.NO_CREDENTIALS
    # The others are untouched.
    assert len(terminal.login("alice")) == 1
