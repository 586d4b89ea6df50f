"""The simulated sensor's CTAPHID vendor commands (DESIGN.md "Simulated sensor control"):
0x51 sets what the sensor sees, 0x52 power-cycles the device; both only with --sensor sim."""

import subprocess

import pytest
from fido2 import cbor
from fido2.ctap import CtapError
from fido2.ctap2.pin import ClientPin

from helpers import PIN, PROTOCOLS
from palm import POWER_CYCLE, SENSOR_CONTROL, hand_payload, power_cycle, set_hand, sim_device

ERR = CtapError.ERR


def test_vendor_commands_are_unknown_without_the_simulated_sensor(device):
    for cmd, payload in ((SENSOR_CONTROL, hand_payload("none")), (POWER_CYCLE, b"")):
        with pytest.raises(CtapError) as e:
            device.call(cmd, payload)
        assert e.value.code == ERR.INVALID_COMMAND


@pytest.fixture(scope="module")
def sim(palmkey_bin):
    with sim_device(palmkey_bin) as dev:
        yield dev


def test_every_mode_is_echoed_with_an_empty_payload(sim):
    set_hand(sim.device, "synthetic", identity=7)
    set_hand(sim.device, "synthetic", identity=2**64 - 1)
    set_hand(sim.device, "photo-attack", identity=7)
    set_hand(sim.device, "none")


BAD_PAYLOADS = {
    "empty": b"",
    "not cbor": b"\xff\x00",
    "not a map": cbor.encode([1, 2]),
    "integer keys": cbor.encode({1: "none"}),
    "missing mode": cbor.encode({"identity": 1}),
    "unknown mode": cbor.encode({"mode": "fingerprint"}),
    "mode not text": cbor.encode({"mode": 3}),
    "missing identity": cbor.encode({"mode": "synthetic"}),
    "negative identity": cbor.encode({"mode": "synthetic", "identity": -1}),
    "text identity": cbor.encode({"mode": "photo-attack", "identity": "1"}),
    "extra key": cbor.encode({"mode": "none", "identity": 1}),
    "trailing bytes": hand_payload("none") + b"\x00",
    "dataset without --sim-dataset": hand_payload("dataset", identity="a", sample="b"),
}


@pytest.mark.parametrize("payload", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
def test_bad_payload_is_invalid_parameter(sim, payload):
    with pytest.raises(CtapError) as e:
        sim.device.call(SENSOR_CONTROL, payload)
    assert e.value.code == ERR.INVALID_PARAMETER


def test_power_cycle_payload_must_be_empty(sim):
    with pytest.raises(CtapError) as e:
        sim.device.call(POWER_CYCLE, b"\x01")
    assert e.value.code == ERR.INVALID_PARAMETER


def test_dataset_mode_checks_the_sample_when_set(palmkey_bin, tmp_path):
    data = tmp_path / "palms"
    subprocess.run(
        [palmkey_bin, "palm", "synth", "--out", str(data), "--identities", "2",
         "--samples", "2", "--seed", "5"],
        check=True, capture_output=True,
    )
    identity = sorted(p.name for p in data.iterdir() if not p.name.startswith("."))[0]
    sample = sorted(p.name.split(".")[0] for p in (data / identity).iterdir())[0]
    with sim_device(palmkey_bin, ("--sim-dataset", str(data))) as dev:
        set_hand(dev.device, "dataset", identity=identity, sample=sample)
        for ident, samp in ((identity, "no-such-sample"), ("nobody", sample),
                            (f"../{data.name}/{identity}", sample)):
            with pytest.raises(CtapError) as e:
                dev.device.call(SENSOR_CONTROL, hand_payload("dataset", identity=ident,
                                                             sample=samp))
            assert e.value.code == ERR.INVALID_PARAMETER


def test_serve_refuses_a_missing_dataset_folder(palmkey_bin, tmp_path):
    run = subprocess.run(
        [palmkey_bin, "serve", "--state", str(tmp_path / "state"), "--udp", "127.0.0.1:0",
         "--sensor", "sim", "--sim-dataset", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=30,
    )
    assert run.returncode != 0
    assert "--sim-dataset" in run.stderr


def test_power_cycle_clears_volatile_state(palmkey_bin):
    with sim_device(palmkey_bin) as dev:
        cp = ClientPin(dev.ctap, PROTOCOLS[2]())
        cp.set_pin(PIN)
        token = cp.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
        # Three wrong PINs in a row: the next attempt needs a power cycle (CTAP 2.1 §6.5.5).
        for _ in range(2):
            with pytest.raises(CtapError) as e:
                cp.get_pin_token("0000", ClientPin.PERMISSION.CREDENTIAL_MGMT)
            assert e.value.code == ERR.PIN_INVALID
        with pytest.raises(CtapError) as e:
            cp.get_pin_token("0000", ClientPin.PERMISSION.CREDENTIAL_MGMT)
        assert e.value.code == ERR.PIN_AUTH_BLOCKED
        with pytest.raises(CtapError) as e:
            cp.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
        assert e.value.code == ERR.PIN_AUTH_BLOCKED

        power_cycle(dev.device)

        # The streak is gone, the persistent counter is not; the old token died with power.
        assert cp.get_pin_retries()[0] == 5
        from fido2.ctap2 import CredentialManagement
        old = CredentialManagement(dev.ctap, cp.protocol, token)
        with pytest.raises(CtapError) as e:
            old.get_metadata()
        assert e.value.code == ERR.PIN_AUTH_INVALID
        fresh = cp.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
        assert CredentialManagement(dev.ctap, cp.protocol, fresh).get_metadata() is not None
