"""The daily activity views (`/{user,team,organization,customer,tag}/daily/activity`).

LiteLLM answers these from per-entity daily tables keyed by (entity, date, api_key,
model, ...), paginating over those rows and folding each page into
`SpendAnalyticsPaginatedResponse`: `results` per date (newest first) with `metrics` and
`breakdown` (models, model_groups, providers, api_keys, entities, ...), and `metadata`
with the page's totals and the paging.

Why the ledger and not `tianji_daily_spend`: the daily totals have no api_key column,
so neither the `api_key` filter nor `breakdown.api_keys` could be served from them. The
ledger grouped by (day, entity, api_key, model, model_group) gives exactly LiteLLM's row
grain, over the `start_time` index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import msgspec

from tianji_control_plane.repo import spend as repo
from tianji_control_plane.repo.spend import LedgerFilter

if TYPE_CHECKING:
    from tianji_control_plane.domain.common import Ctx
    from tianji_control_plane.domain.spend import DateRange
    from tianji_control_plane.repo.spend import Aggregate, KeyName

__all__ = ["ActivityQuery", "daily_activity", "global_activity", "global_activity_by_model"]

_KEYS: Final = ("day", "{entity}", "api_key", "model", "model_group")
_UNASSIGNED: Final = "Unassigned"
_TOP_MODELS: Final = 10


@dataclass(frozen=True, slots=True)
class ActivityQuery:
    """One daily-activity request: the entity dimension and the caller's filters.

    `entity` is a ledger dimension (user, team_id, organization_id, end_user, tag);
    `ids` None means every entity; `page_size` None means one page with everything
    (the `/aggregated` variant).
    """

    entity: str
    span: DateRange
    ids: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    model: str | None = None
    api_key: str | None = None
    page: int = 1
    page_size: int | None = 10


@dataclass(slots=True)
class _Metrics:
    """LiteLLM's `SpendMetrics`, accumulated."""

    spend: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_input_tokens: int = 0
    total_tokens: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    api_requests: int = 0

    def add(self, group: Aggregate) -> None:
        self.spend += group.spend
        self.prompt_tokens += group.prompt_tokens
        self.completion_tokens += group.completion_tokens
        self.cache_read_input_tokens += group.cached_tokens
        self.total_tokens += group.total_tokens
        self.successful_requests += group.requests - group.failed_requests
        self.failed_requests += group.failed_requests
        self.api_requests += group.requests

    def totals_view(self) -> dict[str, Any]:
        """LiteLLM's `DailySpendMetadata` totals (the paging fields come separately)."""
        return {
            "total_spend": self.spend,
            "total_prompt_tokens": self.prompt_tokens,
            "total_completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "total_api_requests": self.api_requests,
            "total_successful_requests": self.successful_requests,
            "total_failed_requests": self.failed_requests,
            "total_cache_read_input_tokens": self.cache_read_input_tokens,
            "total_cache_creation_input_tokens": 0,
        }

    def view(self) -> dict[str, Any]:
        return {
            "spend": self.spend,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": 0,
            "total_tokens": self.total_tokens,
            "successful_requests": self.successful_requests,
            "failed_requests": self.failed_requests,
            "api_requests": self.api_requests,
        }


@dataclass(slots=True)
class _Bucket:
    """A breakdown entry: metrics, metadata, and the same split per api key."""

    metadata: dict[str, Any]
    metrics: _Metrics = field(default_factory=_Metrics)
    keys: dict[str, _Metrics] = field(default_factory=dict)

    def add(self, group: Aggregate, api_key: str) -> None:
        self.metrics.add(group)
        self.keys.setdefault(api_key, _Metrics()).add(group)


_SECTIONS: Final = ("mcp_servers", "models", "model_groups", "providers", "endpoints", "entities")


@dataclass(slots=True)
class _Day:
    metrics: _Metrics = field(default_factory=_Metrics)
    sections: dict[str, dict[str, _Bucket]] = field(
        default_factory=lambda: {name: {} for name in _SECTIONS}
    )
    api_keys: dict[str, _Metrics] = field(default_factory=dict)


def _provider(model: str) -> str:
    """`openai/gpt-4o` -> `openai`; LiteLLM's "unknown" when the model names none."""
    prefix, sep, _ = model.partition("/")
    return prefix if sep and prefix else "unknown"


@dataclass(slots=True)
class _Folder:
    """Folds grouped ledger rows into LiteLLM's per-day response."""

    entity_meta: dict[str, dict[str, Any]]
    key_meta: dict[str, KeyName]
    days: dict[str, _Day] = field(default_factory=dict)
    totals: _Metrics = field(default_factory=_Metrics)

    def add(self, group: Aggregate) -> None:
        day_key, entity, api_key, model, model_group = group.keys
        day = self.days.setdefault(day_key, _Day())
        day.metrics.add(group)
        self.totals.add(group)
        day.api_keys.setdefault(api_key, _Metrics()).add(group)
        entity = entity or _UNASSIGNED
        for section, name, meta in (
            ("models", model, {}),
            ("model_groups", model_group or model, {}),
            ("providers", _provider(model), {}),
            ("entities", entity, self.entity_meta.get(entity, {})),
        ):
            if name:
                day.sections[section].setdefault(name, _Bucket(meta)).add(group, api_key)

    def _key_view(self, api_key: str, metrics: _Metrics) -> dict[str, Any]:
        known = self.key_meta.get(api_key)
        meta = {
            "key_alias": known.key_alias if known else None,
            "team_id": known.team_id if known else None,
        }
        return {"metrics": metrics.view(), "metadata": meta}

    def _bucket_view(self, bucket: _Bucket) -> dict[str, Any]:
        return {
            "metrics": bucket.metrics.view(),
            "metadata": bucket.metadata,
            "api_key_breakdown": {k: self._key_view(k, m) for k, m in bucket.keys.items()},
        }

    def results(self) -> list[dict[str, Any]]:
        out = []
        for day_key in sorted(self.days, reverse=True):
            day = self.days[day_key]
            breakdown: dict[str, Any] = {
                name: {k: self._bucket_view(b) for k, b in day.sections[name].items()}
                for name in _SECTIONS
            }
            breakdown["api_keys"] = {k: self._key_view(k, m) for k, m in day.api_keys.items()}
            out.append({"date": day_key, "metrics": day.metrics.view(), "breakdown": breakdown})
        return out


async def _entity_metadata(ctx: Ctx, entity: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """What LiteLLM attaches to `breakdown.entities`: team and org aliases."""
    if entity == "team_id":
        teams = await repo.team_aliases(ctx.db, ids)
        return {t: {"team_alias": alias} for t, alias in teams.items()}
    if entity == "organization_id":
        orgs = await repo.org_aliases(ctx.db, ids)
        return {o: {"organization_alias": alias} for o, alias in orgs.items()}
    return {}


async def daily_activity(ctx: Ctx, query: ActivityQuery) -> dict[str, Any]:
    """One page of `SpendAnalyticsPaginatedResponse` for `query`."""
    keys = tuple(k.format(entity=query.entity) for k in _KEYS)
    flt = LedgerFilter(
        since=query.span.since,
        until=query.span.until,
        api_key=query.api_key,
        model=query.model,
        dimension=query.entity,
        ids=query.ids,
        exclude=query.exclude,
    )
    if query.page_size is None:
        groups = await repo.aggregate(ctx.db, keys, flt)
        page, total_pages, has_more = 1, 1, False
    else:
        page, size = query.page, query.page_size
        offset = (page - 1) * size
        groups, total = await repo.aggregate_page(ctx.db, keys, flt, limit=size, offset=offset)
        total_pages, has_more = -(-total // size), page * size < total
    folder = _Folder(
        entity_meta=await _entity_metadata(ctx, query.entity, [g.keys[1] for g in groups]),
        key_meta=await repo.key_names(ctx.db, [g.keys[2] for g in groups]),
    )
    for group in groups:
        folder.add(group)
    paging = {"page": page, "total_pages": total_pages, "has_more": has_more}
    return {"results": folder.results(), "metadata": folder.totals.totals_view() | paging}


# --- /global/activity, /global/activity/model -----------------------------------------------


def _chart(groups: list[Aggregate]) -> dict[str, Any]:
    """`{daily_data: [{date: "Jan 22", api_requests, total_tokens}], sum_...}`, oldest first.

    LiteLLM labels days `%b %d` and sorts by that label; days here stay in date order.
    """
    data = [
        {
            "date": date.fromisoformat(g.keys[0]).strftime("%b %d"),
            "api_requests": g.requests,
            "total_tokens": g.total_tokens,
        }
        for g in sorted(groups, key=lambda g: g.keys[0])
    ]
    return {
        "daily_data": data,
        "sum_api_requests": sum(g.requests for g in groups),
        "sum_total_tokens": sum(g.total_tokens for g in groups),
    }


def _window(span: DateRange, user: str | None) -> LedgerFilter:
    return LedgerFilter(since=span.since, until=span.until, user=user)


async def global_activity(ctx: Ctx, span: DateRange, user: str | None) -> dict[str, Any]:
    """Requests and tokens per day over the proxy (or one user's requests)."""
    return _chart(await repo.aggregate(ctx.db, ("day",), _window(span, user)))


async def global_activity_by_model(
    ctx: Ctx, span: DateRange, user: str | None
) -> list[dict[str, Any]]:
    """The same per model group, for the 10 groups with the most requests."""
    groups = await repo.aggregate(ctx.db, ("model_group", "day"), _window(span, user))
    per_model: dict[str, list[Aggregate]] = {}
    for group in groups:
        per_model.setdefault(group.keys[0], []).append(
            msgspec.structs.replace(group, keys=group.keys[1:])
        )
    charts = [{"model": model, **_chart(days)} for model, days in per_model.items()]
    charts.sort(key=lambda chart: -chart["sum_api_requests"])
    return charts[:_TOP_MODELS]
