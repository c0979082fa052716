"""End users, a.k.a. customers (LiteLLM's `/customer/*` and `/end_user/*`).

As in LiteLLM, limits given inline (`max_budget`, `tpm_limit`, ...) live in a budget
row linked by `budget_id`, never on the customer row; `/customer/update` changes the
linked budget, or creates one when none is linked. A customer links either a new
inline budget or an existing `budget_id`, not both (LiteLLM's validator).

`/customer/block` creates the end users it does not know yet, blocked (LiteLLM
upserts, so an id can be refused before its first request). `/customer/unblock`
is all-or-nothing and 404s on unknown ids; LiteLLM's unblock edits an in-memory list
that no longer exists, so no script depends on its body.

Not checked (unlike LiteLLM): that `default_model` names a deployed model; the
control plane does not hold the router's model list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET
from tianji_common.errors import InvalidRequest, NotFound

from tianji_control_plane.domain.budgets import change_budget, create_budget, customer_policy
from tianji_control_plane.domain.common import write
from tianji_control_plane.domain.customer_bodies import BUDGET_FIELDS
from tianji_control_plane.repo import customers as repo
from tianji_control_plane.repo.budgets import BudgetRecord, all_budgets, get_budget
from tianji_control_plane.repo.customers import CustomerRecord

if TYPE_CHECKING:
    from tianji_common.policy import CustomerPolicy

    from tianji_control_plane.domain.common import Changes, Ctx
    from tianji_control_plane.domain.customer_bodies import NewCustomer, UpdateCustomer
    from tianji_control_plane.repo.db import Db

__all__ = [
    "Resolved",
    "block_customers",
    "customer_info",
    "customer_policies",
    "delete_customers",
    "list_customers",
    "new_customer",
    "update_customer",
]

_TABLE: Final = "tianji_end_user"

Resolved = tuple[CustomerRecord, BudgetRecord | None]


def _not_found(user_id: str, param: str) -> NotFound:
    return NotFound(f"End User Id={user_id} does not exist in db", param=param)  # LiteLLM's


async def _budget_of(ctx: Ctx, rec: CustomerRecord) -> BudgetRecord | None:
    return None if rec.budget_id is None else await get_budget(ctx.db, rec.budget_id)


async def _linkable(ctx: Ctx, budget_id: str) -> BudgetRecord:
    budget = await get_budget(ctx.db, budget_id)
    if budget is None:
        raise InvalidRequest(f"budget_id={budget_id} does not exist", param="budget_id")
    return budget


def _record(now: datetime, req: NewCustomer, budget_id: str | None) -> CustomerRecord:
    if not req.user_id.strip():
        raise InvalidRequest("user_id must not be empty", param="user_id")
    return CustomerRecord(
        user_id=req.user_id,
        alias=req.alias,
        spend=req.spend or 0.0,
        allowed_model_region=req.allowed_model_region,
        default_model=req.default_model,
        budget_id=budget_id,
        blocked=req.blocked,
        metadata=req.metadata or {},
        created_at=now,
        updated_at=now,
    )


async def _store(
    ctx: Ctx, changes: Changes, action: str, before: CustomerRecord | None, after: Resolved
) -> None:
    rec, budget = after
    await ctx.audit(action, _TABLE, rec.user_id, before, rec)
    changes.customers[rec.user_id] = customer_policy(rec, budget)


async def new_customer(ctx: Ctx, req: NewCustomer) -> Resolved:
    """Create an end user; inline limits become a new budget row linked to it."""
    if req.max_budget is not None and req.budget_id is not None:
        raise InvalidRequest(
            "Set either 'max_budget' or 'budget_id', not both.", param="budget_id", status=422
        )
    fields = msgspec.structs.asdict(req)
    inline: dict[str, Any] = {
        name: fields[name] for name in BUDGET_FIELDS if fields[name] is not None
    }
    async with write(ctx) as changes:
        if await repo.get_customer(ctx.db, req.user_id) is not None:
            raise InvalidRequest(
                f"Customer already exists, passed user_id={req.user_id}. "
                "Please pass a new user_id.",
                param="user_id",
            )
        budget: BudgetRecord | None = None
        if inline:
            budget = await create_budget(ctx, changes, inline, None)
        elif req.budget_id is not None:
            budget = await _linkable(ctx, req.budget_id)
        record = _record(datetime.now(UTC), req, None if budget is None else budget.budget_id)
        stored = await repo.insert_customer(ctx.db, record)
        await _store(ctx, changes, "created", None, (stored, budget))
    return stored, budget


async def customer_info(ctx: Ctx, user_id: str, param: str = "end_user_id") -> Resolved:
    """The end user and its budget, or 404 naming `param`."""
    rec = await repo.get_customer(ctx.db, user_id)
    if rec is None:
        raise _not_found(user_id, param)
    return rec, await _budget_of(ctx, rec)


async def list_customers(ctx: Ctx) -> list[Resolved]:
    """Every end user with its budget resolved."""
    budgets = {b.budget_id: b for b in await all_budgets(ctx.db)}
    customers = await repo.all_customers(ctx.db)
    return [(c, budgets.get(c.budget_id or "")) for c in customers]


async def customer_policies(db: Db) -> dict[str, CustomerPolicy]:
    """Every end user as policy, budget resolved (the snapshot's `customers` section)."""
    budgets = {b.budget_id: b for b in await all_budgets(db)}
    return {
        c.user_id: customer_policy(c, budgets.get(c.budget_id or ""))
        for c in await repo.all_customers(db)
    }


def _split_update(req: UpdateCustomer) -> tuple[dict[str, Any], dict[str, Any]]:
    """(customer columns, budget columns) present in the body."""
    present = {
        name: value
        for name, value in msgspec.structs.asdict(req).items()
        if value is not UNSET and name != "user_id"
    }
    limits: dict[str, Any] = {name: present.pop(name) for name in BUDGET_FIELDS if name in present}
    if "metadata" in present and present["metadata"] is None:
        present["metadata"] = {}
    return present, limits


async def _updated_budget(
    ctx: Ctx, changes: Changes, link: str | None, limits: dict[str, Any]
) -> BudgetRecord | None:
    """The budget the customer links after the update, with `limits` applied."""
    if link is not None:
        budget = await _linkable(ctx, link)
        return await change_budget(ctx, changes, link, limits) if limits else budget
    if any(value is not None for value in limits.values()):
        return await create_budget(ctx, changes, limits, None)
    return None


async def update_customer(ctx: Ctx, req: UpdateCustomer) -> Resolved:
    """Change the fields present; limits go to the linked budget (created if none)."""
    values, limits = _split_update(req)
    async with write(ctx) as changes:
        before = await repo.get_customer(ctx.db, req.user_id)
        if before is None:
            raise _not_found(req.user_id, "user_id")
        link = values.get("budget_id", before.budget_id)
        budget = await _updated_budget(ctx, changes, link, limits)
        values["budget_id"] = None if budget is None else budget.budget_id
        values["updated_at"] = datetime.now(UTC)
        after = await repo.update_customer(ctx.db, req.user_id, values)
        assert after is not None  # read in this transaction
        await _store(ctx, changes, "updated", before, (after, budget))
    return after, budget


async def delete_customers(ctx: Ctx, user_ids: list[str]) -> int:
    """Delete every end user listed, or none (404 naming the missing ones)."""
    if not user_ids:
        raise InvalidRequest("user_ids must list at least one end user", param="user_ids")
    async with write(ctx) as changes:
        found = {c.user_id: c for c in await repo.get_customers(ctx.db, user_ids)}
        missing = [u for u in user_ids if u not in found]
        if missing:
            raise NotFound(
                f"End User Id(s)={', '.join(missing)} do not exist in db", param="user_ids"
            )
        for rec in found.values():
            await ctx.audit("deleted", _TABLE, rec.user_id, rec, None)
            changes.customers[rec.user_id] = None
        await repo.delete_customers(ctx.db, list(found))
    return len(found)


async def block_customers(ctx: Ctx, user_ids: list[str], *, blocked: bool) -> list[Resolved]:
    """Set `blocked` on each end user; blocking creates unknown ones (see the module doc)."""
    if not user_ids:
        raise InvalidRequest("user_ids must list at least one end user", param="user_ids")
    out: list[Resolved] = []
    async with write(ctx) as changes:
        found = {c.user_id: c for c in await repo.get_customers(ctx.db, user_ids)}
        missing = [u for u in user_ids if u not in found]
        if missing and not blocked:
            raise NotFound(
                f"End User Id(s)={', '.join(missing)} do not exist in db", param="user_ids"
            )
        now = datetime.now(UTC)
        for user_id in dict.fromkeys(user_ids):
            before = found.get(user_id)
            if before is None:
                new = CustomerRecord(
                    user_id=user_id, blocked=True, metadata={}, created_at=now, updated_at=now
                )
                after = await repo.insert_customer(ctx.db, new)
            else:
                values = {"blocked": blocked, "updated_at": now}
                updated = await repo.update_customer(ctx.db, user_id, values)
                assert updated is not None  # read in this transaction
                after = updated
            resolved = (after, await _budget_of(ctx, after))
            await _store(ctx, changes, "updated" if before else "created", before, resolved)
            out.append(resolved)
    return out
