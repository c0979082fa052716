"""The split spend-worker's settings, from the environment.

Why strict: a missing DATABASE_URL or NATS_URL must fail startup with a clear
message, not on the first event.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tianji_common.wire import StrictConfig

__all__ = ["Settings", "SettingsError", "from_env"]

_DEFAULT_SPOOL_DIR = "/var/lib/tianji/spool"


class SettingsError(ValueError):
    """The environment does not describe a runnable spend-worker."""


class Settings(StrictConfig, frozen=True, kw_only=True):
    """Where to read events from and write spend to."""

    database_url: str
    nats_url: str
    spool_dir: str = _DEFAULT_SPOOL_DIR  # dead letters spool here while NATS is down
    batch: int = 256

    @property
    def spool_path(self) -> Path:
        """`spool_dir` as a Path."""
        return Path(self.spool_dir)


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """DATABASE_URL and NATS_URL are required; SPOOL_DIR and SPEND_BATCH are optional."""
    env = os.environ if environ is None else environ
    missing = [name for name in ("DATABASE_URL", "NATS_URL") if not env.get(name)]
    if missing:
        raise SettingsError(f"spend-worker: set {' and '.join(missing)}")
    spool_dir = env.get("SPOOL_DIR") or env.get("TIANJI_SPOOL_DIR") or _DEFAULT_SPOOL_DIR
    try:
        batch = int(env.get("SPEND_BATCH", "256"))
    except ValueError as exc:
        raise SettingsError(f"spend-worker: SPEND_BATCH must be an integer: {exc}") from exc
    if batch < 1:
        raise SettingsError("spend-worker: SPEND_BATCH must be at least 1")
    return Settings(
        database_url=env["DATABASE_URL"],
        nats_url=env["NATS_URL"],
        spool_dir=spool_dir,
        batch=batch,
    )
