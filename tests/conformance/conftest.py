"""Fixtures: the shared simulator started by run.sh, fresh simulators for tests that need a
factory-fresh device (PIN set-up, reset), and python-fido2 handles on them."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from fido2.ctap2 import Ctap2

from server import PalmkeyServer
from udp_hid import open_device

REPO = Path(__file__).resolve().parents[2]


def _binary() -> str:
    explicit = os.environ.get("PALMKEY_BIN")
    if explicit:
        return explicit
    for profile in ("release", "debug"):
        candidate = REPO / "target" / profile / "palmkey"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("palmkey")
    if found:
        return found
    pytest.exit("palmkey binary not found: build it or set PALMKEY_BIN", returncode=2)


@pytest.fixture(scope="session")
def palmkey_bin() -> str:
    return _binary()


@pytest.fixture(scope="session")
def shared_addr(palmkey_bin):
    """The long-running simulator (run.sh's PALMKEY_UDP, else one started here)."""
    env = os.environ.get("PALMKEY_UDP")
    if env:
        host, port = env.rsplit(":", 1)
        yield host, int(port)
        return
    server = PalmkeyServer(palmkey_bin)
    yield server.host, server.port
    server.stop()


@pytest.fixture
def device(shared_addr):
    dev = open_device(*shared_addr)
    yield dev
    dev.close()


@pytest.fixture
def ctap(device) -> Ctap2:
    return Ctap2(device)


@pytest.fixture
def fresh_server(palmkey_bin):
    """A factory-fresh authenticator just powered up (reset allowed for 10 s)."""
    server = PalmkeyServer(palmkey_bin)
    yield server
    server.stop()


@pytest.fixture
def fresh_device(fresh_server):
    dev = open_device(fresh_server.host, fresh_server.port)
    yield dev
    dev.close()


@pytest.fixture
def fresh_ctap(fresh_device) -> Ctap2:
    return Ctap2(fresh_device)


def client_data_hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()
