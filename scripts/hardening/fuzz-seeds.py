#!/usr/bin/env python3
"""Turn recorded CTAPHID traffic into seed corpora for palmkey's fuzz targets.

    fuzz-seeds.py RECORDING_DIR OUT_DIR [--state-file FILE]

RECORDING_DIR holds the `udp-<pid>.txt` files that `palmkey serve` writes with
PALMKEY_UDP_RECORD=DIR (one line per 64-byte report: `<rx|tx> <µs> <peer> <hex>`, see
authenticator/src/hid/udp.rs); scripts/hardening/record-traffic.sh makes them from a run of the
python-fido2 conformance suite. Each file is one device (one `serve` process). Writes
OUT_DIR/<target>/<sha1> in each target's input format (fuzz/fuzz_targets/*.rs):

- ctaphid: the received reports of one device in order, as 66-byte steps
  `[peer | 0x50, Δt/4 ms, report]` (0x10: the application answers at once, 0x40: poll),
  at most STEPS_PER_INPUT steps per input;
- ctap_process: the CTAP requests (CTAPHID CBOR, 0x10) of one device in order, at most 16 per
  input, each a little-endian u16 length + the request (palmkey_fuzz::frame);
- ctap_decode: each CTAP request alone (command byte + CBOR), and each vendor 0x51 payload
  behind the byte 0x51;
- vendor: each vendor 0x51 / 0x52 payload, behind selector 0x01 / 0x03;
- cose_key: every COSE_Key on the wire: clientPIN keyAgreement (request key 3, response key
  1) and makeCredential's credential public key (authenticatorData);
- sealed_state (with --state-file): mode byte 0 + a real sealed state (another key, so it
  fails at the AEAD, after the header and length checks).

Only wire traffic of test devices goes in; no biometric data is recorded by this path.
Needs python-fido2 (for its CBOR decoder).
"""

from __future__ import annotations

import argparse
import hashlib
import struct
from collections import defaultdict
from pathlib import Path

from fido2 import cbor

STEPS_PER_INPUT = 24
REQUESTS_PER_INPUT = 16
CTAPHID_CBOR = 0x90
VENDOR_SENSOR_CONTROL = 0x80 | 0x51
VENDOR_POWER_CYCLE = 0x80 | 0x52
CTAP_MAKE_CREDENTIAL = 0x01
CTAP_CLIENT_PIN = 0x06


def read_recording(path: Path):
    """[(direction, micros, peer, report bytes)] in file order."""
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        direction, micros, peer, hexed = parts
        report = bytes.fromhex(hexed)
        if len(report) == 64:
            out.append((direction, int(micros), peer, report))
    return out


class Reassembler:
    """CTAPHID messages from reports, per (peer, channel)."""

    def __init__(self):
        self.partial = {}

    def feed(self, peer, report):
        """The completed (cid, cmd, payload) or None."""
        cid = report[:4]
        key = (peer, cid)
        if report[4] & 0x80:
            cmd = report[4]
            length = report[5] << 8 | report[6]
            data = bytearray(report[7 : 7 + min(57, length)])
            if len(data) >= length:
                self.partial.pop(key, None)
                return cid, cmd, bytes(data)
            self.partial[key] = (cmd, length, data)
            return None
        if key not in self.partial:
            return None
        cmd, length, data = self.partial[key]
        data.extend(report[5 : 5 + min(59, length - len(data))])
        if len(data) >= length:
            del self.partial[key]
            return cid, cmd, bytes(data)
        return None


def cose_from_auth_data(auth_data: bytes):
    """The credential public key bytes of authenticatorData with attested credential data."""
    if len(auth_data) < 37 or not auth_data[32] & 0x40:
        return None
    rest = auth_data[37 + 16 :]
    if len(rest) < 2:
        return None
    (cred_len,) = struct.unpack(">H", rest[:2])
    key_bytes = rest[2 + cred_len :]
    try:
        _, after = cbor.decode_from(key_bytes)
    except Exception:
        return None
    return key_bytes[: len(key_bytes) - len(after)]


def seeds_of(recording):
    seeds = defaultdict(set)
    peers = {}
    steps = []
    last = None
    rx, tx = Reassembler(), Reassembler()
    requests = []
    # The CTAP command each (peer, cid) is waiting on, to read its response.
    pending = {}
    for direction, micros, peer, report in recording:
        if direction == "rx":
            index = peers.setdefault(peer, len(peers) % 4)
            dt = 0 if last is None else min(255, (micros - last) // 4000)
            last = micros
            steps.append(bytes([index | 0x50, dt]) + report)
            done = rx.feed(peer, report)
            if not done:
                continue
            cid, cmd, payload = done
            if cmd == CTAPHID_CBOR and payload:
                requests.append(payload)
                seeds["ctap_decode"].add(payload)
                pending[(peer, cid)] = payload[0]
                if payload[0] == CTAP_CLIENT_PIN:
                    try:
                        params = cbor.decode(payload[1:])
                        if isinstance(params, dict) and 3 in params:
                            seeds["cose_key"].add(cbor.encode(params[3]))
                    except Exception:
                        pass
            elif cmd == VENDOR_SENSOR_CONTROL:
                seeds["vendor"].add(b"\x01" + payload)
                seeds["ctap_decode"].add(b"\x51" + payload)
            elif cmd == VENDOR_POWER_CYCLE:
                seeds["vendor"].add(b"\x03" + payload)
        else:
            done = tx.feed(peer, report)
            if not done:
                continue
            cid, cmd, payload = done
            if cmd != CTAPHID_CBOR or not payload or payload[0] != 0:
                continue
            command = pending.pop((peer, cid), None)
            try:
                body = cbor.decode(payload[1:]) if len(payload) > 1 else None
            except Exception:
                continue
            if not isinstance(body, dict):
                continue
            if command == CTAP_CLIENT_PIN and 1 in body:
                seeds["cose_key"].add(cbor.encode(body[1]))
            if command == CTAP_MAKE_CREDENTIAL and isinstance(body.get(2), bytes):
                key = cose_from_auth_data(body[2])
                if key:
                    seeds["cose_key"].add(key)
    for i in range(0, len(steps), STEPS_PER_INPUT):
        seeds["ctaphid"].add(b"".join(steps[i : i + STEPS_PER_INPUT]))
    for i in range(0, len(requests), REQUESTS_PER_INPUT):
        chunk = requests[i : i + REQUESTS_PER_INPUT]
        seeds["ctap_process"].add(b"".join(struct.pack("<H", len(r)) + r for r in chunk))
    return seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recordings", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--state-file", type=Path, action="append", default=[])
    args = parser.parse_args()
    merged = defaultdict(set)
    files = sorted(args.recordings.glob("udp-*.txt"))
    for path in files:
        for target, inputs in seeds_of(read_recording(path)).items():
            merged[target] |= inputs
    for state in args.state_file:
        merged["sealed_state"].add(b"\x00" + state.read_bytes())
    for target, inputs in sorted(merged.items()):
        folder = args.out / target
        folder.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
        size = sum(len(d) for d in inputs)
        print(f"{target}: {len(inputs)} inputs, {size} bytes from {len(files)} recordings")


if __name__ == "__main__":
    main()
