"""The daily activity routes: one implementation, five entity dimensions.

Each route takes LiteLLM's query parameters: `start_date`, `end_date` (required,
YYYY-MM-DD), `model`, `api_key`, `page`, `page_size` (not on `/aggregated`), and its
entity filter (`user_id`; `team_ids` / `exclude_team_ids`; `organization_ids`;
`end_user_ids`; `tags`, the lists comma-separated). LiteLLM's page size defaults: 50
for users (at most 1000), 10 for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response, get
from tianji_common.errors import InvalidRequest

from tianji_control_plane.api._params import int_param
from tianji_control_plane.api.spend import csv_param, key_param, scoped_user
from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain.activity import (
    ActivityQuery,
    daily_activity,
    global_activity,
    global_activity_by_model,
)
from tianji_control_plane.domain.spend import required_range

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.domain.common import Ctx

__all__ = ["activity_routes"]

_USER_PAGE_MAX: Final = 1000


@dataclass(frozen=True, slots=True)
class _Route:
    """One entity's route: its path, ledger dimension and query parameters."""

    path: str
    entity: str
    ids_param: str
    exclude_param: str | None = None
    page_size: int | None = 10  # None: the `/aggregated` variant, one page with everything
    single: bool = False  # `user_id=u`, not a comma-separated list


_ROUTES: Final = (
    _Route("/user/daily/activity", "user", "user_id", page_size=50, single=True),
    _Route("/user/daily/activity/aggregated", "user", "user_id", page_size=None, single=True),
    _Route("/team/daily/activity", "team_id", "team_ids", exclude_param="exclude_team_ids"),
    _Route("/organization/daily/activity", "organization_id", "organization_ids"),
    _Route("/customer/daily/activity", "end_user", "end_user_ids"),
    _Route("/end_user/daily/activity", "end_user", "end_user_ids"),
    _Route("/tag/daily/activity", "tag", "tags"),
)


def _query(ctx: Ctx, route: _Route, request: Request[Any, Any, Any]) -> ActivityQuery:
    params = request.query_params
    span = required_range(params.get("start_date"), params.get("end_date"))
    page_size = None
    if route.page_size is not None:
        page_size = int_param(request, "page_size", route.page_size)
        if route.single and page_size > _USER_PAGE_MAX:
            raise InvalidRequest(
                f"page_size must be at most {_USER_PAGE_MAX}", param="page_size", status=422
            )
    if route.single:
        one = scoped_user(ctx, params.get(route.ids_param) or None)
        ids = None if one is None else [one]
    else:
        ids = csv_param(request, route.ids_param)
        ids = ids or None  # LiteLLM: an empty list means every entity
    exclude = csv_param(request, route.exclude_param) if route.exclude_param else None
    return ActivityQuery(
        entity=route.entity,
        span=span,
        ids=ids,
        exclude=exclude or [],
        model=params.get("model") or None,
        api_key=key_param(request),
        page=1 if page_size is None else int_param(request, "page", 1),
        page_size=page_size,
    )


def _handler(state: ControlState, route: _Route) -> ControllerRouterHandler:
    @get(route.path, name=route.path)
    async def activity(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await daily_activity(ctx, _query(ctx, route, request)))

    return activity


def _global_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """`/global/activity[/model]`: the UI's request and token charts (an internal user's own)."""

    @get("/global/activity")
    async def overall(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        span = required_range(
            request.query_params.get("start_date"), request.query_params.get("end_date")
        )
        return json_response(await global_activity(ctx, span, scoped_user(ctx, None)))

    @get("/global/activity/model")
    async def per_model(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        span = required_range(
            request.query_params.get("start_date"), request.query_params.get("end_date")
        )
        return json_response(await global_activity_by_model(ctx, span, scoped_user(ctx, None)))

    return [overall, per_model]


def activity_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """Every daily activity route, bound to `state`."""
    return [*(_handler(state, route) for route in _ROUTES), *_global_routes(state)]
