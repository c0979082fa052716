"""The spend API's rules: date ranges, filters, and LiteLLM's response shapes.

Why these shapes: dashboards and scripts written against LiteLLM's
`spend_management_endpoints.py` read these exact keys (`startTime`, `group_by_day`,
`spend_per_tag`, ...). Amounts are JSON numbers (floats of the stored
Decimals), as LiteLLM sends them. Every date is a UTC day; an end date is inclusive.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from tianji_common.errors import InvalidRequest

from tianji_control_plane.repo import spend as repo
from tianji_control_plane.repo.spend import LedgerFilter

if TYPE_CHECKING:
    from collections.abc import Callable

    from tianji_control_plane.domain.common import Ctx
    from tianji_control_plane.repo.spend import Aggregate, LedgerRow

__all__ = [
    "DateRange",
    "ReportQuery",
    "all_end_users",
    "all_tag_names",
    "global_spend",
    "parse_day",
    "parse_instant",
    "required_range",
    "spend_end_users",
    "spend_keys",
    "spend_logs",
    "spend_logs_page",
    "spend_models",
    "spend_per_tag",
    "spend_report",
    "spend_tags",
    "spend_teams",
]

GroupBy = Literal["team", "customer", "api_key"]
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_LAST_DAYS: Final = 30  # LiteLLM's Last30d* views
_TOP_TEAMS: Final = 10
_TOP_END_USERS: Final = 100


@dataclass(frozen=True, slots=True)
class DateRange:
    """Whole UTC days from `start` to `end`, both inclusive."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        """The first instant of `start` (UTC)."""
        return datetime.combine(self.start, time.min, UTC)

    @property
    def until(self) -> datetime:
        """The first instant after `end` (UTC), exclusive."""
        return datetime.combine(self.end + timedelta(days=1), time.min, UTC)


def parse_day(raw: str | None, name: str) -> date | None:
    """A `YYYY-MM-DD` query value, or None when absent; 400 naming the field otherwise."""
    if raw is None or raw == "":
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(
            f"{name} must be a date in YYYY-MM-DD format, got {raw!r}", param=name
        ) from None


def required_range(start_raw: str | None, end_raw: str | None) -> DateRange:
    """Both dates, valid and in order; LiteLLM's 400 message when one is missing."""
    start = parse_day(start_raw, "start_date")
    end = parse_day(end_raw, "end_date")
    if start is None or end is None:
        missing = "start_date" if start is None else "end_date"
        raise InvalidRequest("Please provide start_date and end_date", param=missing)
    if end < start:
        raise InvalidRequest("end_date must not be before start_date", param="end_date")
    return DateRange(start, end)


def _last_days(days: int) -> LedgerFilter:
    """LiteLLM's `"startTime" >= CURRENT_DATE - INTERVAL '30 days'`, in UTC."""
    today = datetime.now(UTC).date()
    return LedgerFilter(since=datetime.combine(today - timedelta(days=days), time.min, UTC))


# --- /spend/logs -------------------------------------------------------------------------


def spend_log_view(row: LedgerRow) -> dict[str, Any]:
    """One ledger row under LiteLLM_SpendLogs' column names."""
    usage = {
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.total_tokens,
        "prompt_tokens_details": {"cached_tokens": row.cached_tokens},
    }
    metadata: dict[str, Any] = {"status": row.status, "usage_object": usage}
    if row.status != "success":
        metadata["error_information"] = {"error_code": str(row.http_status)}
    return {
        "request_id": row.request_id,
        "call_type": row.call_type,
        "api_key": row.api_key or "",
        "spend": row.spend,
        "total_tokens": row.total_tokens,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "startTime": row.start_time,
        "endTime": row.end_time,
        "completionStartTime": None,
        "request_duration_ms": round((row.end_time - row.start_time).total_seconds() * 1000),
        "model": row.model,
        "model_id": row.model_id,
        "model_group": row.model_group,
        "custom_llm_provider": "",
        "api_base": row.api_base,
        "user": row.user or "",
        "metadata": metadata,
        "cache_hit": "",
        "cache_key": "",
        "request_tags": row.request_tags,
        "team_id": row.team_id,
        "organization_id": row.organization_id,
        "end_user": row.end_user or "",
        "requester_ip_address": None,
        "messages": {},
        "response": {},
        "session_id": None,
        "status": row.status,
        "mcp_namespaced_tool_name": None,
        "proxy_server_request": {},
    }


async def spend_logs(
    ctx: Ctx, flt: LedgerFilter, *, summarize_range: DateRange | None
) -> list[dict[str, Any]]:
    """Rows matching `flt`, or with `summarize_range` LiteLLM's per-day summary of them."""
    if summarize_range is None:
        return [spend_log_view(row) for row in await repo.ledger_rows(ctx.db, flt)]
    groups = await repo.aggregate(ctx.db, ("day", "api_key", "user", "model"), flt)
    return _summary(groups, summarize_range.end)


def _summary(groups: list[Aggregate], end: date) -> list[dict[str, Any]]:
    """`[{users, models, spend, <api_key>: spend, startTime}]` per day, oldest first.

    As LiteLLM: days after the last one with spend, up to `end_date`, are listed with
    zero spend; days without spend before it are not.
    """
    days: dict[str, dict[str, Any]] = {}
    for group in sorted(groups, key=lambda g: g.keys[0]):
        day, api_key, user, model = group.keys
        entry = days.setdefault(day, {"users": {}, "models": {}, "spend": 0.0})
        entry["spend"] += group.spend
        entry[api_key] = entry.get(api_key, 0.0) + group.spend
        entry["users"][user] = entry["users"].get(user, 0.0) + group.spend
        entry["models"][model] = entry["models"].get(model, 0.0) + group.spend
    out = [{**entry, "startTime": day} for day, entry in days.items()]
    if days:
        current = date.fromisoformat(max(days)) + timedelta(days=1)
        while current <= end:
            out.append({"startTime": current.isoformat(), "spend": 0, "users": {}, "models": {}})
            current += timedelta(days=1)
    return out


def parse_instant(raw: str | None, name: str, *, end: bool) -> datetime | None:
    """`YYYY-MM-DD HH:MM:SS` (UTC, LiteLLM's `/spend/logs/v2` format) or a whole day.

    Returned as a bound for `LedgerFilter`: a start as is, an end exclusive (one
    microsecond after the given second, or the next midnight for a day).
    """
    if raw is None or raw == "":
        return None
    day = parse_day(raw, name) if _DAY.fullmatch(raw) else None
    if day is not None:
        span = DateRange(day, day)
        return span.until if end else span.since
    try:
        moment = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRequest(
            f"{name} must be YYYY-MM-DD HH:MM:SS or YYYY-MM-DD, got {raw!r}", param=name
        ) from None
    return moment + timedelta(microseconds=1) if end else moment


async def spend_logs_page(
    ctx: Ctx, flt: LedgerFilter, *, page: int, page_size: int
) -> dict[str, Any]:
    """LiteLLM's `/spend/logs/v2`: one page of rows, newest first, with the paging."""
    total = await repo.count_rows(ctx.db, flt)
    rows = await repo.ledger_rows(ctx.db, flt, limit=page_size, offset=(page - 1) * page_size)
    return {
        "data": [spend_log_view(row) for row in rows],
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": -(-total // page_size),
    }


# --- /global/spend/report ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """`/global/spend/report`'s parameters; LiteLLM's precedence among them applies."""

    span: DateRange
    group_by: GroupBy = "team"
    api_key: str | None = None
    user: str | None = None
    team_id: str | None = None
    customer_id: str | None = None


async def spend_report(ctx: Ctx, query: ReportQuery) -> list[dict[str, Any]]:
    """LiteLLM's spend report: per day by team or customer, or per key with model details.

    As LiteLLM: a key or a user filter answers per key; a team and a customer together
    answer per day for that pair; otherwise `group_by` decides.
    """
    span = query.span
    if query.api_key is not None or query.user is not None or query.group_by == "api_key":
        flt = LedgerFilter(
            since=span.since, until=span.until, api_key=query.api_key, user=query.user
        )
        return _by_key(await repo.aggregate(ctx.db, ("api_key", "model"), flt))
    flt = LedgerFilter(since=span.since, until=span.until)
    if query.team_id is not None and query.customer_id is not None:
        flt = LedgerFilter(
            since=span.since, until=span.until, team_id=query.team_id, end_user=query.customer_id
        )
        groups = await repo.aggregate(ctx.db, ("day", "team_id", "model", "api_key"), flt)
        aliases = await repo.team_aliases(ctx.db, [query.team_id])
        pair = {
            "team_name": aliases.get(query.team_id) or "Unassigned Team",
            "customer": query.customer_id,
        }
        return _by_day(groups, "teams_customers", lambda _: pair)
    column = "team_id" if query.group_by == "team" else "end_user"
    groups = await repo.aggregate(ctx.db, ("day", column, "model", "api_key"), flt)
    if query.group_by == "team":
        aliases = await repo.team_aliases(ctx.db, [g.keys[1] for g in groups])
        return _by_day(
            groups, "teams", lambda t: {"team_name": aliases.get(t) or "Unassigned Team"}
        )
    return _by_day(groups, "customers", lambda c: {"customer": c or None})


def _by_day(
    groups: list[Aggregate], section: str, labels: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """`[{group_by_day, <section>: [{<labels>, total_spend, metadata: [...]}]}]`, oldest first.

    Owners with the same labels (two teams without an alias) are one entry, as LiteLLM
    groups by the label.
    """
    days: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
    for group in sorted(groups, key=lambda g: g.keys[0]):
        day, owner, model, api_key = group.keys
        label = labels(owner)
        entry = days[day].setdefault(
            tuple(label.values()), {**label, "total_spend": 0.0, "metadata": []}
        )
        entry["total_spend"] += group.spend
        entry["metadata"].append(
            {
                "model": model,
                "api_key": api_key,
                "spend": group.spend,
                "total_tokens": group.total_tokens,
            }
        )
    return [
        {
            "group_by_day": datetime.combine(date.fromisoformat(day), time.min, UTC),
            section: list(owners.values()),
        }
        for day, owners in days.items()
    ]


def _by_key(groups: list[Aggregate]) -> list[dict[str, Any]]:
    """`[{api_key, total_cost, total_input_tokens, total_output_tokens, model_details}]`."""
    keys: dict[str, dict[str, Any]] = {}
    for group in groups:
        api_key, model = group.keys
        entry = keys.setdefault(
            api_key,
            {
                "api_key": api_key,
                "total_cost": 0.0,
                "total_input_tokens": 0,
                "total_output_tokens": 0,
                "model_details": [],
            },
        )
        entry["total_cost"] += group.spend
        entry["total_input_tokens"] += group.prompt_tokens
        entry["total_output_tokens"] += group.completion_tokens
        entry["model_details"].append(
            {
                "model": model,
                "total_cost": group.spend,
                "total_input_tokens": group.prompt_tokens,
                "total_output_tokens": group.completion_tokens,
            }
        )
    return sorted(keys.values(), key=lambda k: -k["total_cost"])


# --- /global/spend/{keys,teams,models,tags}, /global/spend ------------------------------------


async def spend_keys(ctx: Ctx, limit: int | None) -> list[dict[str, Any]]:
    """The keys with the most spend over the last 30 days (LiteLLM's Last30dKeysBySpend)."""
    groups = await repo.aggregate(
        ctx.db, ("api_key",), _last_days(_LAST_DAYS), by_spend=True, limit=limit
    )
    names = await repo.key_names(ctx.db, [g.keys[0] for g in groups])
    out: list[dict[str, Any]] = []
    for group in groups:
        api_key = group.keys[0]
        known = names.get(api_key)
        out.append(
            {
                "api_key": api_key,
                "total_spend": group.spend,
                "team_id": (known.team_id if known else None) or "",
                "key_alias": (known.key_alias if known else None) or "",
                "key_name": (known.key_name if known else None) or api_key,
                "last_refreshed_at": None,
            }
        )
    return out


async def spend_models(ctx: Ctx, limit: int) -> list[dict[str, Any]]:
    """The models with the most spend over the last 30 days (Last30dModelsBySpend)."""
    groups = await repo.aggregate(
        ctx.db, ("model",), _last_days(_LAST_DAYS), by_spend=True, limit=limit
    )
    return [{"model": g.keys[0], "total_spend": g.spend} for g in groups]


async def spend_teams(ctx: Ctx) -> dict[str, Any]:
    """Daily spend per team alias over the last 30 days, plus the top 10 teams.

    As LiteLLM: teams are named by alias (no alias, or no team: "Unassigned") and
    amounts are rounded to cents.
    """
    groups = await repo.aggregate(ctx.db, ("day", "team_id"), _last_days(_LAST_DAYS))
    aliases = await repo.team_aliases(ctx.db, [g.keys[1] for g in groups])
    by_date: dict[str, dict[str, float]] = {}
    totals: dict[str, float] = defaultdict(float)
    for group in sorted(groups, key=lambda g: g.keys[0]):
        day, team_id = group.keys
        alias = aliases.get(team_id) or "Unassigned"
        spend = round(group.spend, 2)
        entry = by_date.setdefault(day, {})
        entry[alias] = round(entry.get(alias, 0.0) + spend, 2)
        totals[alias] += spend
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:_TOP_TEAMS]
    return {
        "daily_spend": [{"date": day, **teams} for day, teams in by_date.items()],
        "teams": sorted(totals),
        "total_spend_per_team": [{"team_id": t, "total_spend": s} for t, s in ranked],
    }


async def spend_tags(ctx: Ctx, span: DateRange, tags: list[str] | None) -> dict[str, Any]:
    """Spend and request count per tag (`all-tags`, or no list, means every tag)."""
    wanted = None if tags is None or "all-tags" in tags else tags
    totals = await repo.tag_totals(ctx.db, span.start, span.end, wanted)
    return {
        "spend_per_tag": [
            {"name": t.tag, "spend": round(t.spend, 4), "log_count": t.requests} for t in totals
        ]
    }


async def spend_end_users(
    ctx: Ctx, api_key: str | None, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    """The 100 end users with the most spend (default: the last 30 days), optionally for one key."""
    now = datetime.now(UTC)
    flt = LedgerFilter(since=since or now - timedelta(days=30), until=until or now, api_key=api_key)
    groups = await repo.aggregate(ctx.db, ("end_user",), flt, by_spend=True, limit=_TOP_END_USERS)
    return [
        {"end_user": g.keys[0] or None, "total_count": g.requests, "total_spend": g.spend}
        for g in groups
    ]


async def spend_per_tag(ctx: Ctx) -> list[dict[str, Any]]:
    """LiteLLM's `/spend/tags`: every tag's request count and spend, over all time."""
    return [
        {"individual_request_tag": t.tag, "log_count": t.requests, "total_spend": t.spend}
        for t in await repo.tag_totals(ctx.db)
    ]


async def all_tag_names(ctx: Ctx) -> dict[str, Any]:
    """`{"tag_names": [...]}`: every tag that has spend."""
    return {"tag_names": sorted(t.tag for t in await repo.tag_totals(ctx.db))}


async def all_end_users(ctx: Ctx) -> dict[str, Any]:
    """`{"end_users": [...]}`: every distinct end user in the ledger (None: requests without)."""
    groups = await repo.aggregate(ctx.db, ("end_user",), LedgerFilter())
    return {"end_users": [g.keys[0] or None for g in groups]}


async def global_spend(ctx: Ctx) -> dict[str, Any]:
    """This month's total spend (LiteLLM's MonthlyGlobalSpend) and the proxy budget.

    `max_budget` is LiteLLM's default (0.0): a proxy-wide budget is not configurable here.
    """
    first = datetime.now(UTC).date().replace(day=1)
    flt = LedgerFilter(since=datetime.combine(first, time.min, UTC))
    groups = await repo.aggregate(ctx.db, (), flt)
    return {"spend": groups[0].spend if groups else 0.0, "max_budget": 0.0}
