"""Budgets (LiteLLM's `/budget/*`): reusable limit profiles linked by `budget_id`.

A budget reaches the gateways as itself (`budgets[budget_id]`) and resolved into
whoever carries it (`customers[user_id].budget`, `teams[team_id].member_budget`), so
the gateway never has to join. Changing a budget therefore re-publishes each of them.

Deleting a budget that is still linked is refused (400, naming who links it). This
differs from LiteLLM on purpose: its schema sets end users' and keys' `budget_id` to
NULL on delete (`onDelete: SetNull`), which silently lifts their limits. Unlink or
re-link them first. `/budget/info` answers the budgets it found and skips unknown
ids, as LiteLLM's `find_many` does.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET
from tianji_common.errors import InvalidRequest, NotFound
from tianji_common.policy import BudgetPolicy, CustomerPolicy

from tianji_control_plane.domain.common import parse_duration, write
from tianji_control_plane.repo import budgets as repo
from tianji_control_plane.repo.budgets import BudgetRecord
from tianji_control_plane.repo.customers import customers_with_budget
from tianji_control_plane.repo.teams import get_team

if TYPE_CHECKING:
    from tianji_control_plane.domain.common import Changes, Ctx
    from tianji_control_plane.domain.customer_bodies import NewBudget, UpdateBudget
    from tianji_control_plane.repo.customers import CustomerRecord
    from tianji_control_plane.repo.db import Db

__all__ = [
    "budget_policies",
    "budget_policy",
    "change_budget",
    "check_budget_values",
    "create_budget",
    "customer_policy",
    "delete_budget",
    "get_budget_or_404",
    "new_budget",
    "update_budget",
]

_TABLE: Final = "tianji_budget"


def _model_limits(raw: dict[str, Any] | None) -> dict[str, float]:
    """`model_max_budget` as the gateway takes it: model -> USD (LiteLLM's nested form too)."""
    out: dict[str, float] = {}
    for model, value in (raw or {}).items():
        limit = (
            value.get("max_budget", value.get("budget_limit")) if isinstance(value, dict) else value
        )
        if isinstance(limit, bool) or limit is None:
            continue
        try:
            out[model] = float(limit)
        except (TypeError, ValueError):
            continue  # an unreadable imported value limits nothing rather than failing the snapshot
    return out


def budget_policy(rec: BudgetRecord) -> BudgetPolicy:
    """What the gateway needs of one budget."""
    return BudgetPolicy(
        budget_id=rec.budget_id,
        max_budget=rec.max_budget,
        soft_budget=rec.soft_budget,
        tpm_limit=rec.tpm_limit,
        rpm_limit=rec.rpm_limit,
        max_parallel_requests=rec.max_parallel_requests,
        model_max_budget=_model_limits(rec.model_max_budget),
        budget_duration=rec.budget_duration,
    )


def customer_policy(rec: CustomerRecord, budget: BudgetRecord | None) -> CustomerPolicy:
    """One end user with its linked budget resolved (None when it links none)."""
    return CustomerPolicy(
        user_id=rec.user_id,
        alias=rec.alias,
        blocked=rec.blocked,
        allowed_model_region=rec.allowed_model_region,
        default_model=rec.default_model,
        spend=rec.spend,
        budget=None if budget is None else budget_policy(budget),
    )


async def budget_policies(db: Db) -> dict[str, BudgetPolicy]:
    """Every budget as policy (the snapshot's `budgets` section)."""
    return {rec.budget_id: budget_policy(rec) for rec in await repo.all_budgets(db)}


def _check_money(values: dict[str, Any]) -> None:
    for name in ("max_budget", "soft_budget"):
        value = values.get(name)
        if value is not None and (not math.isfinite(value) or value < 0):
            # LiteLLM's message (budget_management_endpoints.new_budget).
            raise InvalidRequest(
                f"{name} must be a non-negative finite number. Received: {value}", param=name
            )


def _check_model_durations(model_max_budget: Any) -> None:
    if isinstance(model_max_budget, dict):
        for limits in model_max_budget.values():
            duration = limits.get("budget_duration") if isinstance(limits, dict) else None
            if duration is not None:
                parse_duration(duration, "model_max_budget")


def check_budget_values(values: dict[str, Any]) -> dict[str, Any]:
    """Budget columns from body fields: checked, JSON-ready, reset time derived.

    `budget_reset_at` follows `budget_duration` (now + duration) unless the body set
    it; clearing the duration clears the reset time.
    """
    out = dict(values)
    _check_money(out)
    if "model_max_budget" in out:
        out["model_max_budget"] = msgspec.to_builtins(out["model_max_budget"]) or {}
        _check_model_durations(out["model_max_budget"])
    if "budget_duration" in out and "budget_reset_at" not in out:
        duration = out["budget_duration"]
        out["budget_reset_at"] = (
            None
            if duration is None
            else datetime.now(UTC) + parse_duration(duration, "budget_duration")
        )
    elif out.get("budget_duration") is not None:
        parse_duration(out["budget_duration"], "budget_duration")
    return out


async def get_budget_or_404(ctx: Ctx, budget_id: str, param: str = "budget_id") -> BudgetRecord:
    """The budget, or 404 naming `param`."""
    record = await repo.get_budget(ctx.db, budget_id)
    if record is None:
        raise NotFound(f"Budget not found, passed budget_id={budget_id}", param=param)
    return record


async def _publish(ctx: Ctx, changes: Changes, budget: BudgetRecord | None, budget_id: str) -> None:
    """The budget itself, and whoever carries it resolved (customers, teams' member budget)."""
    changes.budgets[budget_id] = None if budget is None else budget_policy(budget)
    for customer in await customers_with_budget(ctx.db, budget_id):
        changes.customers[customer.user_id] = customer_policy(customer, budget)
    for team_id in await repo.member_budget_teams(ctx.db, budget_id):
        changes.teams[team_id] = await get_team(ctx.db, team_id)


async def create_budget(
    ctx: Ctx, changes: Changes, values: dict[str, Any], budget_id: str | None
) -> BudgetRecord:
    """Insert a budget inside the caller's write (id generated when None); 400 if taken."""
    now = datetime.now(UTC)
    fields = check_budget_values(values)
    fields.setdefault("model_max_budget", {})
    record = BudgetRecord(
        **fields,
        budget_id=budget_id or str(uuid.uuid4()),
        created_at=now,
        created_by=ctx.actor,
        updated_at=now,
        updated_by=ctx.actor,
    )
    if await repo.get_budget(ctx.db, record.budget_id) is not None:
        raise InvalidRequest(
            f"Budget with id '{record.budget_id}' already exists.", param="budget_id"
        )
    stored = await repo.insert_budget(ctx.db, record)
    await ctx.audit("created", _TABLE, stored.budget_id, None, stored)
    await _publish(ctx, changes, stored, stored.budget_id)
    return stored


async def change_budget(
    ctx: Ctx, changes: Changes, budget_id: str, values: dict[str, Any]
) -> BudgetRecord:
    """Update a budget inside the caller's write; 404 if it does not exist."""
    fields = check_budget_values(values)
    before = await get_budget_or_404(ctx, budget_id)
    fields |= {"updated_at": datetime.now(UTC), "updated_by": ctx.actor}
    after = await repo.update_budget(ctx.db, budget_id, fields)
    assert after is not None  # read in this transaction
    await ctx.audit("updated", _TABLE, budget_id, before, after)
    await _publish(ctx, changes, after, budget_id)
    return after


async def new_budget(ctx: Ctx, req: NewBudget) -> BudgetRecord:
    """`/budget/new`: LiteLLM stores only the fields given (`exclude_none`)."""
    values = {k: v for k, v in msgspec.structs.asdict(req).items() if v is not None}
    values.pop("budget_id", None)
    if req.budget_id is not None and not req.budget_id.strip():
        raise InvalidRequest("budget_id must not be empty", param="budget_id")
    async with write(ctx) as changes:
        return await create_budget(ctx, changes, values, req.budget_id)


async def update_budget(ctx: Ctx, req: UpdateBudget) -> BudgetRecord:
    """`/budget/update`: only the fields present change (`exclude_unset`, as LiteLLM)."""
    if req.budget_id is None:
        raise InvalidRequest("budget_id is required", param="budget_id")
    values = {
        name: value
        for name, value in msgspec.structs.asdict(req).items()
        if value is not UNSET and name != "budget_id"
    }
    async with write(ctx) as changes:
        return await change_budget(ctx, changes, req.budget_id, values)


async def delete_budget(ctx: Ctx, budget_id: str) -> BudgetRecord:
    """`/budget/delete`: 404 if missing, 400 while anything links it (see the module doc)."""
    async with write(ctx) as changes:
        before = await get_budget_or_404(ctx, budget_id, param="id")
        links = await repo.budget_references(ctx.db, budget_id)
        if links:
            raise InvalidRequest(
                f"Budget {budget_id} is still linked by {links}. "
                "Unlink it (e.g. /customer/update with another budget_id) first.",
                param="id",
            )
        await repo.delete_budget(ctx.db, budget_id)
        await ctx.audit("deleted", _TABLE, budget_id, before, None)
        changes.budgets[budget_id] = None
    return before
