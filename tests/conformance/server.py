"""Start and stop `palmkey serve` processes for the tests."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import time


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PalmkeyServer:
    """One `palmkey serve` process on a fresh (or given) state folder."""

    def __init__(
        self,
        binary: str,
        state: str | None = None,
        ready_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ):
        self._tmp = None
        if state is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="palmkey-conf-")
            state = self._tmp.name
        self.state = state
        self.host = "127.0.0.1"
        self.port = free_udp_port()
        self.proc = subprocess.Popen(
            [binary, "serve", "--state", state, "--udp", f"{self.host}:{self.port}", *extra_args],
            stdout=subprocess.PIPE,
            stderr=None,  # inherit: the server's logs show up in pytest's captured output
            text=True,
        )
        self.started = time.monotonic()
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"palmkey serve exited with {self.proc.returncode}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("palmkey ready udp="):
                    self.started = time.monotonic()
                    return
        self.stop()
        raise RuntimeError("palmkey serve did not print 'palmkey ready udp=' in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
