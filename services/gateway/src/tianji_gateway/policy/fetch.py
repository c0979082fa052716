"""Fetching the snapshot from the control plane over HTTP (split mode).

Why httpx: not the hot path (STYLE: httpx for everything that is not). The gateway
authenticates with the master key; the route refuses anything else.
"""

from __future__ import annotations

from typing import Final

import httpx

from tianji_gateway.policy.sync import Fetch

__all__ = ["SNAPSHOT_PATH", "http_fetch"]

SNAPSHOT_PATH: Final = "/internal/policy/snapshot"
_TIMEOUT: Final = httpx.Timeout(connect=2.0, read=10.0, write=5.0, pool=2.0)


def http_fetch(base_url: str, master_key: str | None) -> Fetch:
    """A `Fetch` for `GET {base_url}/internal/policy/snapshot`."""
    url = base_url.rstrip("/") + SNAPSHOT_PATH
    headers = {"authorization": f"Bearer {master_key}"} if master_key else {}

    async def fetch() -> bytes:
        async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            return response.content

    return fetch
