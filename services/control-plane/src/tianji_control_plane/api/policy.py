"""`GET /internal/policy/snapshot`: the full policy for a gateway (master key only)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.types import ControllerRouterHandler
from tianji_common.policy import encode_policy

from tianji_control_plane.api.state import ControlState
from tianji_control_plane.domain.snapshot import build_snapshot

__all__ = ["SNAPSHOT_PATH", "policy_routes", "snapshot_bytes"]

SNAPSHOT_PATH = "/internal/policy/snapshot"


async def snapshot_bytes(state: ControlState) -> bytes:
    """The encoded snapshot; the all-in-one's gateway calls this in-process."""
    return encode_policy(await build_snapshot(state.database()))


def policy_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """The snapshot route, bound to `state`."""

    @get(SNAPSHOT_PATH)
    async def snapshot(request: Request[Any, Any, Any]) -> Response[bytes]:
        await state.authorize(request)
        return Response(await snapshot_bytes(state), media_type="application/json")

    return [snapshot]
