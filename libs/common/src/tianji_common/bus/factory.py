"""Pick the event bus from a URL.

Why: one setting (`NATS_URL`, or nothing) decides between the embedded all-in-one
and split services; callers depend on the `EventBus` protocol only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tianji_common.bus.memory import MemoryBus

if TYPE_CHECKING:
    from pathlib import Path

    from tianji_common.bus.base import EventBus

__all__ = ["bus_from_url"]


def bus_from_url(url: str | None, spool_dir: Path) -> EventBus:
    """None or `memory://` → MemoryBus; `nats://…` (or `tls://…`) → NatsBus."""
    if url is None or url in ("", "memory://"):
        return MemoryBus()
    scheme = url.partition("://")[0]
    if scheme in ("nats", "tls"):
        # Imported here: nats-py is the optional extra `tianji-common[nats]`.
        from tianji_common.bus.nats import NatsBus

        return NatsBus(url, spool_dir)
    raise ValueError(f"unsupported event bus URL scheme: {scheme!r}")
