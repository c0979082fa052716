"""Which limits apply to a request, as counter checks: one plan per limited request.

Why plans are built from the policy store's dicts: the request path already holds
the caller's key hash; every further lookup (user, team, org, end user) is one dict
`get`. A caller with no limit and no budget, on a model with no deployment limit,
gets no plan at all, and the limiter adds nothing else (the fast path).

Rate windows are fixed 60 s windows keyed by the window's index (LiteLLM's v3
limiter uses 60 s windows too); `Retry-After` is the time left in the window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from tianji_gateway.limits.counters import Check, Delta
from tianji_gateway.limits.estimate import Estimator
from tianji_gateway.limits.spend import SpendView, to_nanos

if TYPE_CHECKING:
    from tianji_common.events import UsageRecorded
    from tianji_common.policy import (
        BudgetPolicy,
        CustomerPolicy,
        KeyPolicy,
        OrgPolicy,
        TeamPolicy,
        UserPolicy,
    )

    from tianji_gateway.auth import Principal
    from tianji_gateway.request import ParsedRequest
    from tianji_gateway.routing.deployment import Deployment
    from tianji_gateway.routing.router import Router

__all__ = [
    "Budget",
    "Plan",
    "Planner",
    "Rate",
    "budget_key",
    "retry_after",
    "settle_deltas",
    "snapshot_spend",
]

WINDOW: Final = 60
_RATE_TTL: Final = 2 * WINDOW
_PARALLEL_TTL: Final = 600  # heals a slot leaked by a crashed replica
_RESERVED_TTL: Final = 3600
_SETTLED_TTL: Final = 7 * 86400
_PREFIX: Final = "tianji:"
_EMPTY: Final[Mapping[str, Any]] = {}


@dataclass(frozen=True, slots=True)
class Rate:
    """One rate check's meaning: who (LiteLLM's descriptor name and value) and what."""

    descriptor: str
    value: str
    limit_type: str  # requests | tokens | max_parallel_requests
    limit: int


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget check's meaning: whose budget (for the refusal message)."""

    label: str  # "" for the key itself, else "Team=t1 " and so on
    max_budget: float


@dataclass(slots=True)
class Plan:
    """The checks of one request and what each one means."""

    window_end: float
    checks: list[Check] = field(default_factory=list)
    meaning: list[Rate | Budget | Deployment] = field(default_factory=list)
    parallel_keys: list[str] = field(default_factory=list)
    token_keys: list[str] = field(default_factory=list)
    budget_keys: list[tuple[str, str, int]] = field(default_factory=list)  # reserved, settled
    budget_entities: list[tuple[str, str]] = field(default_factory=list)  # (kind, id)
    deployments: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> rpm, tpm keys
    unlimited_deployment: bool = False  # the group also has a deployment without limits

    def add_rate(self, rate: Rate, kind: str, key: str, amount: int, ttl: int) -> None:
        """Append a rate check (`kind` `count` or `level`)."""
        self.checks.append(Check(kind, key, rate.limit, amount, ttl))  # type: ignore[arg-type]  # kind is one of the Literal values
        self.meaning.append(rate)

    def blocked(self, over: list[bool]) -> set[str]:
        """Deployments whose limit is reached (reported, not refused, by `acquire`)."""
        out: set[str] = set()
        for check, meaning, is_over in zip(self.checks, self.meaning, over, strict=True):
            if is_over and not check.required and not isinstance(meaning, Rate | Budget):
                out.add(meaning.id)
        return out


def _k(*parts: str) -> str:
    return _PREFIX + ":".join(parts)


def budget_key(kind: str, id_: str, part: str) -> str:
    """A budget counter's Redis key: `part` is res(erved), set(tled) or seen."""
    return _k("bud", kind, id_, part)


def _section(store: object, name: str) -> Mapping[str, Any]:
    return cast("Mapping[str, Any]", getattr(store, name, _EMPTY))


def snapshot_spend(store: object) -> Callable[[str, str], float]:
    """A reader of the snapshot's spend figure per `(kind, id)`, for `SpendView`."""
    sections = {"key": "keys", "user": "users", "team": "teams", "org": "orgs"}

    def read(kind: str, id_: str) -> float:
        if kind == "end_user":
            customer = _section(store, "customers").get(id_)
            return float(customer.spend) if customer is not None else 0.0
        if kind == "key_model":
            key_hash, _, model = id_.partition("/")
            key = _section(store, "keys").get(key_hash)
            return float(key.model_spend.get(model, 0.0)) if key is not None else 0.0
        entity = _section(store, sections.get(kind, "")).get(id_)
        return float(getattr(entity, "spend", 0.0)) if entity is not None else 0.0

    return read


class Planner:
    """Builds a `Plan` from the store, the router's deployment limits and the spend view."""

    def __init__(
        self,
        store: object | None,
        router: Router,
        spend: SpendView,
        estimator: Estimator,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._router = router
        self._spend = spend
        self._estimator = estimator
        self._clock = clock

    def plan(self, principal: Principal, parsed: ParsedRequest) -> Plan | None:
        """The checks for this request, or None when nothing limits it."""
        store = self._store
        keyed = store is not None and not principal.is_admin and principal.key_hash is not None
        if not (keyed or parsed.user or self._router.rate_limited):
            return None  # the master key, no end user, no deployment limits: nothing to do
        now = self._clock()
        window = int(now // WINDOW)
        plan = Plan(window_end=(window + 1) * WINDOW)
        est: int | None = None
        if keyed and store is not None and principal.key_hash is not None:
            key: KeyPolicy | None = _section(store, "keys").get(principal.key_hash)
            if key is not None:
                est = self._principal(plan, store, principal, key, parsed, window)
        if store is not None and parsed.user:
            customer: CustomerPolicy | None = _section(store, "customers").get(parsed.user)
            if customer is not None and customer.budget is not None:
                est = self._customer(plan, customer, customer.budget, parsed, window, est)
        self._deployments(plan, parsed.model, window)
        return plan if plan.checks else None

    def _estimate(self, parsed: ParsedRequest, est: int | None) -> int:
        return est if est is not None else self._estimator.estimate(parsed, self._router)

    def _limits(
        self,
        plan: Plan,
        descriptor: str,
        value: str,
        window: int,
        rpm: int | None,
        tpm: int | None,
        parallel: int | None,
    ) -> None:
        base = (descriptor, value)
        if rpm is not None:
            rate = Rate(descriptor, value, "requests", rpm)
            plan.add_rate(rate, "count", _k(*base, "rpm", str(window)), 1, _RATE_TTL)
        if tpm is not None:
            key = _k(*base, "tpm", str(window))
            plan.add_rate(Rate(descriptor, value, "tokens", tpm), "level", key, 0, _RATE_TTL)
            plan.token_keys.append(key)
        if parallel is not None:
            key = _k(*base, "par")
            rate = Rate(descriptor, value, "max_parallel_requests", parallel)
            plan.add_rate(rate, "count", key, 1, _PARALLEL_TTL)
            plan.parallel_keys.append(key)

    def _budget(
        self, plan: Plan, kind: str, id_: str, label: str, max_budget: float, base: int, est: int
    ) -> None:
        reserved, settled = budget_key(kind, id_, "res"), budget_key(kind, id_, "set")
        plan.checks.append(
            Check(
                "budget",
                reserved,
                to_nanos(max_budget),
                est,
                _RESERVED_TTL,
                base=base,
                settled_key=settled,
            )
        )
        plan.meaning.append(Budget(label, max_budget))
        plan.budget_keys.append((reserved, settled, est))
        plan.budget_entities.append((kind, id_))

    def _principal(
        self,
        plan: Plan,
        store: object,
        principal: Principal,
        key: KeyPolicy,
        parsed: ParsedRequest,
        window: int,
    ) -> int | None:
        h = key.token
        self._limits(
            plan, "api_key", h, window, key.rpm_limit, key.tpm_limit, key.max_parallel_requests
        )
        model = parsed.model
        if model in key.model_rpm_limit or model in key.model_tpm_limit:
            self._limits(
                plan,
                "model_per_key",
                f"{h}:{model}",
                window,
                key.model_rpm_limit.get(model),
                key.model_tpm_limit.get(model),
                None,
            )
        est: int | None = None
        if key.max_budget is not None:
            est = self._estimate(parsed, est)
            base = self._spend.confirmed("key", h, key.spend)
            self._budget(plan, "key", h, "", key.max_budget, base, est)
        model_budget = key.model_max_budget.get(model)
        if model_budget is not None:
            est = self._estimate(parsed, est)
            mid = f"{h}/{model}"
            base = self._spend.confirmed("key_model", mid, key.model_spend.get(model, 0.0))
            self._budget(plan, "key_model", mid, f"Model={model} ", model_budget, base, est)
        return self._owners(plan, store, principal, key, parsed, window, est)

    def _owners(
        self,
        plan: Plan,
        store: object,
        principal: Principal,
        key: KeyPolicy,
        parsed: ParsedRequest,
        window: int,
        est: int | None,
    ) -> int | None:
        team: TeamPolicy | None = _section(store, "teams").get(key.team_id) if key.team_id else None
        user: UserPolicy | None = _section(store, "users").get(key.user_id) if key.user_id else None
        org_id = key.org_id or (team.org_id if team is not None else None)
        org: OrgPolicy | None = _section(store, "orgs").get(org_id) if org_id else None
        for kind, descriptor, entity, label in (
            ("user", "user", user, "User"),
            ("team", "team", team, "Team"),
            ("org", "org", org, "Org"),
        ):
            if entity is None:
                continue
            id_ = getattr(entity, f"{kind}_id")
            self._limits(
                plan,
                descriptor,
                id_,
                window,
                entity.rpm_limit,
                entity.tpm_limit,
                entity.max_parallel_requests,
            )
            if entity.max_budget is not None:
                est = self._estimate(parsed, est)
                base = self._spend.confirmed(kind, id_, entity.spend)
                self._budget(plan, kind, id_, f"{label}={id_} ", entity.max_budget, base, est)
        return est

    def _customer(
        self,
        plan: Plan,
        customer: CustomerPolicy,
        budget: BudgetPolicy,
        parsed: ParsedRequest,
        window: int,
        est: int | None,
    ) -> int | None:
        cid = customer.user_id
        self._limits(
            plan,
            "end_user",
            cid,
            window,
            budget.rpm_limit,
            budget.tpm_limit,
            budget.max_parallel_requests,
        )
        if budget.max_budget is not None:
            est = self._estimate(parsed, est)
            base = self._spend.confirmed("end_user", cid, customer.spend)
            self._budget(plan, "end_user", cid, f"End User={cid} ", budget.max_budget, base, est)
        return est

    def _deployments(self, plan: Plan, model: str, window: int) -> None:
        try:
            group = self._router.resolve(model)
        except Exception:  # noqa: BLE001 - an unknown model: the pipeline answers it
            return
        for dep in group.deployments:
            if dep.rpm is None and dep.tpm is None:
                plan.unlimited_deployment = True
                continue
            rpm_key = _k("deployment", dep.id, "rpm", str(window))
            tpm_key = _k("deployment", dep.id, "tpm", str(window))
            plan.deployments[dep.id] = (rpm_key, tpm_key)
            if dep.rpm is not None:
                plan.checks.append(Check("count", rpm_key, dep.rpm, 1, required=False, take=False))
                plan.meaning.append(dep)
            if dep.tpm is not None:
                plan.checks.append(Check("level", tpm_key, dep.tpm, required=False, take=False))
                plan.meaning.append(dep)


def settle_deltas(plan: Plan, usage: UsageRecorded | None) -> list[Delta]:
    """What to give back and to add once the request is over (its usage, if any)."""
    deltas = [Delta(k, -1) for k in plan.parallel_keys]
    tokens = usage.total_tokens if usage is not None else 0
    cost = to_nanos(usage.cost) if usage is not None else 0
    for reserved, settled, est in plan.budget_keys:
        deltas.append(Delta(reserved, -est))
        if cost:
            deltas.append(Delta(settled, cost, _SETTLED_TTL))
    if tokens:
        deltas.extend(Delta(k, tokens, _RATE_TTL) for k in plan.token_keys)
    if usage is not None and usage.deployment_id in plan.deployments:
        rpm_key, tpm_key = plan.deployments[usage.deployment_id]
        deltas.append(Delta(rpm_key, 1, _RATE_TTL))
        if tokens:
            deltas.append(Delta(tpm_key, tokens, _RATE_TTL))
    return deltas


def retry_after(plan: Plan, now: float) -> int:
    """Whole seconds until the current window ends (at least 1)."""
    return max(1, math.ceil(plan.window_end - now))
