"""The gateway's process state, built once and shared by handlers (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from tianji_gateway.auth import Authenticator
from tianji_gateway.lifecycle import Lifecycle
from tianji_gateway.pipeline import Pipeline
from tianji_gateway.routing.router import Router
from tianji_gateway.settings import GatewaySettings
from tianji_gateway.upstream.client import UpstreamClient
from tianji_gateway.usage import UsagePublisher

__all__ = ["GatewayState"]


@dataclass(frozen=True, slots=True)
class GatewayState:
    """Everything the request path reads; frozen so handlers cannot swap pieces."""

    settings: GatewaySettings
    auth: Authenticator
    router: Router
    pipeline: Pipeline
    upstream: UpstreamClient
    usage: UsagePublisher
    lifecycle: Lifecycle
