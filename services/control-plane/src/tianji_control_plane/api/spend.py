"""`/spend/logs` and `/global/spend/*`: LiteLLM's spend views over the ledger.

An `api_key` filter takes a key (`sk-…`, hashed here) or its hash, as LiteLLM does.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast, get_args

import msgspec
from litestar import Request, Response, get, post
from tianji_common.errors import InvalidRequest, PermissionDenied

from tianji_control_plane.api._params import int_param
from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import spend as domain
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.common import token_of
from tianji_control_plane.domain.spend_reset import reset_global_spend
from tianji_control_plane.repo.spend import LedgerFilter, keys_with_alias

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.domain.common import Ctx

__all__ = ["bool_param", "csv_param", "float_param", "key_param", "scoped_user", "spend_routes"]

_V2_PAGE_MAX: Final = 100  # LiteLLM's `le=100` on /spend/logs/v2 page_size
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


class _EndUsersRequest(msgspec.Struct, kw_only=True):
    """LiteLLM's `GlobalEndUsersSpend` body (every field optional, the body too)."""

    api_key: str | None = None
    startTime: datetime | None = None  # LiteLLM's field name
    endTime: datetime | None = None  # LiteLLM's field name


def _utc(moment: datetime | None) -> datetime | None:
    """A naive time is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def csv_param(request: Request[Any, Any, Any], name: str) -> list[str] | None:
    """A comma-separated list (`team_ids=a,b`), None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def key_param(request: Request[Any, Any, Any], name: str = "api_key") -> str | None:
    """A key filter as the ledger stores it: a key is hashed, a hash taken as is."""
    raw = request.query_params.get(name)
    return token_of(str(raw)) if raw else None


def bool_param(request: Request[Any, Any, Any], name: str, default: bool) -> bool:
    """A boolean query parameter; 422 naming it when it is not one."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = str(raw).lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise InvalidRequest(f"{name} must be a boolean", param=name, status=422)


def scoped_user(ctx: Ctx, requested: str | None) -> str | None:
    """The user filter a caller may use: any for admins and viewers, else their own.

    As LiteLLM, which replaces `user_id` with an internal user's own id.
    """
    if ctx.caller.reads_all:
        return requested
    if ctx.caller.user_id is None:
        raise PermissionDenied("This key is not linked to a user; only proxy admins see spend.")
    return ctx.caller.user_id


def _logs_filter(
    ctx: Ctx, request: Request[Any, Any, Any]
) -> tuple[LedgerFilter, domain.DateRange | None]:
    """The `/spend/logs` filter, and the range to summarize (both dates, `summarize`)."""
    query = request.query_params
    start = domain.parse_day(query.get("start_date"), "start_date")
    end = domain.parse_day(query.get("end_date"), "end_date")
    if start is not None and end is not None and end < start:
        raise InvalidRequest("end_date must not be before start_date", param="end_date")
    flt = LedgerFilter(
        since=None if start is None else domain.DateRange(start, start).since,
        until=None if end is None else domain.DateRange(end, end).until,
        api_key=key_param(request),
        request_id=query.get("request_id") or None,
        user=scoped_user(ctx, query.get("user_id") or None),
    )
    summarize = bool_param(request, "summarize", default=True)
    span = domain.DateRange(start, end) if start and end and summarize else None
    return flt, span


def _v2_filter(ctx: Ctx, request: Request[Any, Any, Any]) -> LedgerFilter:
    """`/spend/logs/v2`'s filters; both ends of the time range are required."""
    query = request.query_params
    since = domain.parse_instant(query.get("start_date"), "start_date", end=False)
    until = domain.parse_instant(query.get("end_date"), "end_date", end=True)
    if since is None or until is None:
        missing = "start_date" if since is None else "end_date"
        raise InvalidRequest("Start date and end date are required", param=missing)
    return LedgerFilter(
        since=since,
        until=until,
        api_key=key_param(request),
        request_id=query.get("request_id") or None,
        user=scoped_user(ctx, query.get("user_id") or None),
        team_id=query.get("team_id") or None,
        end_user=query.get("end_user") or None,
        status=query.get("status_filter") or None,
        min_spend=float_param(request, "min_spend"),
        max_spend=float_param(request, "max_spend"),
        model=query.get("model") or None,
    )


def float_param(request: Request[Any, Any, Any], name: str) -> float | None:
    """A number query parameter; 422 naming it when it is not one."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a number", param=name, status=422)
    return value


def _report_query(request: Request[Any, Any, Any]) -> domain.ReportQuery:
    query = request.query_params
    return domain.ReportQuery(
        span=domain.required_range(query.get("start_date"), query.get("end_date")),
        group_by=_group_by(request),
        api_key=key_param(request),
        user=query.get("internal_user_id") or None,
        team_id=query.get("team_id") or None,
        customer_id=query.get("customer_id") or None,
    )


def _group_by(request: Request[Any, Any, Any]) -> domain.GroupBy:
    raw = request.query_params.get("group_by") or "team"
    if raw not in get_args(domain.GroupBy):
        raise InvalidRequest(
            "group_by must be one of: team, customer, api_key", param="group_by", status=422
        )
    return cast("domain.GroupBy", raw)


def spend_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """The spend views, bound to `state`."""

    @get("/spend/logs")
    async def logs(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        flt, span = _logs_filter(ctx, request)
        return json_response(await domain.spend_logs(ctx, flt, summarize_range=span))

    @get("/spend/logs/v2")
    async def logs_v2(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        flt = _v2_filter(ctx, request)
        alias = request.query_params.get("key_alias")
        if alias:
            flt = dataclasses.replace(flt, api_keys=await keys_with_alias(ctx.db, alias))
        page_size = int_param(request, "page_size", 50)
        if page_size > _V2_PAGE_MAX:
            raise InvalidRequest(
                f"page_size must be at most {_V2_PAGE_MAX}", param="page_size", status=422
            )
        page = int_param(request, "page", 1)
        return json_response(await domain.spend_logs_page(ctx, flt, page=page, page_size=page_size))

    @get("/global/spend/report")
    async def report(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await domain.spend_report(ctx, _report_query(request)))

    @post("/global/spend/end_users", status_code=200)
    async def end_users(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), _EndUsersRequest)
        api_key = token_of(body.api_key) if body.api_key else None
        rows = await domain.spend_end_users(ctx, api_key, _utc(body.startTime), _utc(body.endTime))
        return json_response(rows)

    @get("/global/spend/keys")
    async def keys(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        limit = int_param(request, "limit", 0) or None
        return json_response(await domain.spend_keys(ctx, limit))

    @get("/global/spend/models")
    async def models(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await domain.spend_models(ctx, int_param(request, "limit", 10)))

    @get("/global/spend/teams")
    async def teams(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await domain.spend_teams(ctx))

    @get("/global/spend/tags")
    async def tags(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        query = request.query_params
        span = domain.required_range(query.get("start_date"), query.get("end_date"))
        return json_response(await domain.spend_tags(ctx, span, csv_param(request, "tags")))

    @get("/global/spend")
    async def total(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await domain.global_spend(ctx))

    routes = [logs, logs_v2, report, end_users, keys, models, teams, tags, total]
    return [*routes, *_listing_routes(state)]


def _listing_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """The UI's lookups (tags and end users seen, spend per tag) and the global reset."""

    @get("/spend/tags")
    async def spend_tags(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await domain.spend_per_tag(ctx))

    @get("/global/spend/all_tag_names")
    async def tag_names(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await domain.all_tag_names(ctx))

    @get("/global/all_end_users")
    async def end_user_names(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await domain.all_end_users(ctx))

    @post("/global/spend/reset", status_code=200)
    async def reset(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)  # master key only (api/rbac.py)
        return json_response(await reset_global_spend(ctx))

    return [spend_tags, tag_names, end_user_names, reset]
