"""Start real `tianji` processes for end-to-end tests and wait until they serve."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["TianjiProcess", "free_port", "start_tianji", "tianji_bin"]

ROOT = Path(__file__).resolve().parents[2]


def tianji_bin() -> str:
    exe = Path(sys.executable).parent / "tianji"
    return str(exe)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TianjiProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    workdir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def start_tianji(
    args: list[str],
    *,
    config_text: str | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    wait_ready: bool = True,
    timeout: float = 30,
) -> TianjiProcess:
    """Run `tianji <args> [--config FILE] --host 127.0.0.1 --port N` in a temp dir."""
    workdir = Path(tempfile.mkdtemp(prefix="tianji-e2e-"))
    port = port or free_port()
    cmd = [tianji_bin(), *args]
    if config_text is not None:
        cfg = workdir / "config.yaml"
        cfg.write_text(config_text)
        cmd += ["--config", str(cfg)]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    # Hermetic by default: `tianji up` must not pick up the CI's DATABASE_URL/NATS_URL
    # unless a test asks for them explicitly.
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL", "TIANJI_STATE_DIR")
    }
    full_env = {**base, **(env or {})}
    log_path = workdir / "tianji.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    tp = TianjiProcess(proc, port, log_path, workdir)
    if wait_ready:
        _wait_ready(tp, timeout)
    return tp


def _wait_ready(tp: TianjiProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tp.proc.poll() is not None:
            raise RuntimeError(f"tianji exited with {tp.proc.returncode}:\n{tp.logs()}")
        try:
            r = httpx.get(f"{tp.base}/health/readiness", timeout=1)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    tp.stop(signal.SIGKILL)
    raise RuntimeError(f"tianji not ready after {timeout}s:\n{tp.logs()}")
