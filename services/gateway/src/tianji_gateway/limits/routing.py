"""`LimitedRouter`: the router, skipping deployments at their `rpm`/`tpm` limit.

Why a subclass reading a context variable: the pick happens deep inside the pipeline
(and again on each retry); the limiter learns which deployments are full in its one
`acquire` round trip before the pipeline runs, and publishes that set for the current
request only (`BLOCKED_DEPLOYMENTS`). Requests without deployment limits see the empty
default and pay one `ContextVar.get`.
"""

from __future__ import annotations

from tianji_gateway.limits.limiter import BLOCKED_DEPLOYMENTS
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.routing.router import ModelGroup, Router

__all__ = ["LimitedRouter"]


class LimitedRouter(Router):
    """`Router.pick`, excluding the current request's full deployments."""

    def pick(
        self, group: ModelGroup, exclude: frozenset[str] | set[str] = frozenset()
    ) -> Deployment:
        """Weighted choice among deployments that still have room (and were not tried)."""
        blocked = BLOCKED_DEPLOYMENTS.get()
        if blocked:
            exclude = blocked | exclude
        return super().pick(group, exclude)
