"""A private nats-server process (JetStream, own storage dir) for tests that kill NATS
or must not share the USAGE stream and `spend_writer` durable with other tests.

Why not the shared server: a test that stops NATS would break everyone else's, and a
test's events on the shared USAGE stream could be consumed by another test's worker.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.proc import free_port

__all__ = ["PrivateNats", "nats_server_bin"]


def nats_server_bin() -> str | None:
    """The nats-server binary, if this machine has one."""
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


class PrivateNats:
    """`nats-server -js` on a free port; `stop()`/`start()` keep port and storage."""

    def __init__(self) -> None:
        binary = nats_server_bin()
        if binary is None:
            raise RuntimeError("no nats-server binary")
        self.binary = binary
        self.port = free_port()
        self.store = Path(tempfile.mkdtemp(prefix="tianji-nats-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> PrivateNats:
        cmd = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)]
        log = (self.store / "server.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private nats-server did not start")

    def kill(self) -> None:
        """SIGKILL: an outage, not a shutdown (JetStream file storage survives)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.store, ignore_errors=True)
