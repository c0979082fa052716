"""`/budget/*`: LiteLLM's budget routes, with LiteLLM's methods and bodies.

Every route answers budget rows as LiteLLM's `LiteLLM_BudgetTable` (the same row is
shown under a customer's `litellm_budget_table`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response, get, post
from tianji_common.errors import InvalidRequest

from tianji_control_plane.api._params import plain, required_param
from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import budgets as domain
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.customer_bodies import (
    BudgetDelete,
    BudgetsRef,
    NewBudget,
    UpdateBudget,
)
from tianji_control_plane.repo import budgets as budget_repo

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.repo.budgets import BudgetRecord

__all__ = ["budget_routes", "budget_view"]

# `/budget/settings`: LiteLLM's editable fields, their types and descriptions
# (`BudgetNewRequest`'s field descriptions), in its order.
_SETTINGS: Final = (
    ("max_budget", "Float", "Requests will fail if this budget (in USD) is exceeded."),
    (
        "soft_budget",
        "Float",
        "Requests will NOT fail if this is exceeded. Will fire alerting though.",
    ),
    ("max_parallel_requests", "Integer", "Max concurrent requests allowed for this budget id."),
    ("tpm_limit", "Integer", "Max tokens per minute, allowed for this budget id."),
    ("rpm_limit", "Integer", "Max requests per minute, allowed for this budget id."),
    (
        "budget_duration",
        "String",
        "Max duration budget should be set for (e.g. '1hr', '1d', '28d')",
    ),
    (
        "model_max_budget",
        "Object",
        "Max budget for each model (e.g. {'gpt-4o': {'max_budget': '0.0000001', "
        "'budget_duration': '1d', 'tpm_limit': 1000, 'rpm_limit': 1000}})",
    ),
)


def budget_view(budget: BudgetRecord) -> dict[str, Any]:
    """The budget row as LiteLLM returns it."""
    return plain(budget)


def _settings(budget: BudgetRecord | None) -> list[dict[str, Any]]:
    stored = {} if budget is None else budget_view(budget)
    return [
        {
            "field_name": name,
            "field_type": kind,
            "field_description": description,
            "field_value": stored.get(name),
            "stored_in_db": True,
            "field_default_value": None,
        }
        for name, kind, description in _SETTINGS
    ]


def budget_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """Every `/budget/*` route, bound to `state`."""

    @post("/budget/new", status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), NewBudget)
        return json_response(budget_view(await domain.new_budget(ctx, body)))

    @post("/budget/update", status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UpdateBudget)
        return json_response(budget_view(await domain.update_budget(ctx, body)))

    @post("/budget/info", status_code=200)
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), BudgetsRef)
        if not body.budgets:
            raise InvalidRequest(
                f"Specify list of budget id's to query. Passed in={body.budgets}", param="budgets"
            )
        found = await budget_repo.get_budgets(ctx.db, body.budgets)
        return json_response([budget_view(b) for b in found])

    @get("/budget/settings")
    async def settings(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        budget_id = required_param(request, "budget_id")
        return json_response(_settings(await budget_repo.get_budget(ctx.db, budget_id)))

    @get("/budget/list")
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response([budget_view(b) for b in await budget_repo.all_budgets(ctx.db)])

    @post("/budget/delete", status_code=200)
    async def delete_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), BudgetDelete)
        return json_response(budget_view(await domain.delete_budget(ctx, body.id)))

    return [new, update, info, settings, list_, delete_]
