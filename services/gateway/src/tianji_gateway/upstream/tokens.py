"""Bearer tokens from token endpoints (Vertex service accounts, Azure Entra ID), cached.

Why here: provider hooks are sans-IO, so an adapter only describes the token request
(`token_request`) and parses the answer (`parse_token`); this cache performs the call,
once per deployment at a time (concurrent requests wait for the same refresh), and
keeps the token until shortly before it expires.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tianji_common.errors import UpstreamError

from tianji_gateway.providers.base import ProviderAdapter, Token
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.upstream.client import UpstreamClient

__all__ = ["TokenCache"]

_REFRESH_MARGIN = 60.0  # seconds before expiry at which a token is renewed
_NO_TOKEN = Token("", float("inf"))  # this deployment authenticates without a token


@dataclass(slots=True)
class _Entry:
    token: Token | None = None
    lock: asyncio.Lock | None = None


class TokenCache:
    """Per-deployment token cache; one refresh in flight per deployment."""

    def __init__(self, client: UpstreamClient, *, timeout: float = 30.0) -> None:
        self._client = client
        self._timeout = timeout
        self._entries: dict[str, _Entry] = {}

    async def get(self, adapter: ProviderAdapter, dep: Deployment) -> str | None:
        """The current token for `dep`, fetching or refreshing it when needed."""
        entry = self._entries.get(dep.id)
        if entry is not None and _fresh(entry.token):
            return entry.token.value or None  # type: ignore[union-attr]  # _fresh checked it
        entry = self._entries.setdefault(dep.id, _Entry())
        if entry.lock is None:
            entry.lock = asyncio.Lock()
        async with entry.lock:
            if not _fresh(entry.token):
                entry.token = await self._fetch(adapter, dep)
        return entry.token.value or None if entry.token else None

    async def _fetch(self, adapter: ProviderAdapter, dep: Deployment) -> Token:
        now = time.time()
        call = adapter.token_request(dep, now)
        if call is None:
            return _NO_TOKEN
        resp = await self._client.request(
            call.method, call.url, call.headers, call.body, self._timeout
        )
        if resp.status >= 400:
            raise UpstreamError(
                f"{adapter.name}: token endpoint answered HTTP {resp.status}",
                status=502,
                retryable=resp.status >= 500,
                type_="auth_error",
            )
        return adapter.parse_token(resp.status, resp.body, now)


def _fresh(token: Token | None) -> bool:
    return token is not None and token.expires_at - _REFRESH_MARGIN > time.time()
