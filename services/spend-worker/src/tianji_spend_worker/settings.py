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
    batch: int = 2048
    concurrency: int = 2  # pull loops (batches in flight) sharing the durable
    reset_interval: float = 60.0  # seconds between budget-reset passes
    config_path: str | None = None  # LiteLLM config: general_settings.alerting and friends

    @property
    def spool_path(self) -> Path:
        """`spool_dir` as a Path."""
        return Path(self.spool_dir)


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """DATABASE_URL and NATS_URL are required.

    Optional: SPOOL_DIR, SPEND_BATCH (2048), SPEND_CONCURRENCY (2),
    SPEND_RESET_INTERVAL (seconds, default 60) and TIANJI_CONFIG / CONFIG_FILE_PATH
    (the config file alerts are read from).
    """
    env = os.environ if environ is None else environ
    missing = [name for name in ("DATABASE_URL", "NATS_URL") if not env.get(name)]
    if missing:
        raise SettingsError(f"spend-worker: set {' and '.join(missing)}")
    spool_dir = env.get("SPOOL_DIR") or env.get("TIANJI_SPOOL_DIR") or _DEFAULT_SPOOL_DIR
    try:
        batch = int(env.get("SPEND_BATCH", "2048"))
        concurrency = int(env.get("SPEND_CONCURRENCY", "2"))
    except ValueError as exc:
        raise SettingsError(
            f"spend-worker: SPEND_BATCH and SPEND_CONCURRENCY must be integers: {exc}"
        ) from exc
    if batch < 1 or concurrency < 1:
        raise SettingsError("spend-worker: SPEND_BATCH and SPEND_CONCURRENCY must be at least 1")
    try:
        reset_interval = float(env.get("SPEND_RESET_INTERVAL", "60"))
    except ValueError as exc:
        raise SettingsError(f"spend-worker: SPEND_RESET_INTERVAL must be a number: {exc}") from exc
    if not reset_interval > 0:
        raise SettingsError("spend-worker: SPEND_RESET_INTERVAL must be positive")
    return Settings(
        database_url=env["DATABASE_URL"],
        nats_url=env["NATS_URL"],
        spool_dir=spool_dir,
        batch=batch,
        concurrency=concurrency,
        reset_interval=reset_interval,
        config_path=env.get("TIANJI_CONFIG") or env.get("CONFIG_FILE_PATH") or None,
    )
