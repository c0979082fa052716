"""`/customer/*` and its `/end_user/*` twins: LiteLLM's end-user routes.

Responses follow LiteLLM's `LiteLLM_EndUserTable` with the linked budget row under
`litellm_budget_table`; `/customer/info` drops null fields, as LiteLLM's
`model_dump(exclude_none=True)` does there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post

from tianji_control_plane.api._params import required_param
from tianji_control_plane.api.budgets import budget_view
from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import customers as domain
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.customer_bodies import (
    BlockCustomers,
    CustomersRef,
    NewCustomer,
    UpdateCustomer,
)

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.domain.customers import Resolved

__all__ = ["customer_routes", "customer_view"]


def _paths(action: str) -> list[str]:
    return [f"/customer/{action}", f"/end_user/{action}"]


def customer_view(resolved: Resolved) -> dict[str, Any]:
    """The end user as LiteLLM returns it, its budget row included."""
    rec, budget = resolved
    return {
        "user_id": rec.user_id,
        "alias": rec.alias,
        "spend": rec.spend,
        "allowed_model_region": rec.allowed_model_region,
        "default_model": rec.default_model,
        "budget_id": rec.budget_id,
        "blocked": rec.blocked,
        "metadata": rec.metadata or {},
        "litellm_budget_table": None if budget is None else budget_view(budget),
        "object_permission_id": None,
        "object_permission": None,
    }


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v
        for k, v in value.items()
        if v is not None
    }


def _block_routes(state: ControlState) -> list[ControllerRouterHandler]:
    @post(_paths("block"), status_code=200)
    async def block(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), BlockCustomers)
        done = await domain.block_customers(ctx, body.user_ids, blocked=True)
        return json_response({"blocked_users": [customer_view(r) for r in done]})

    @post(_paths("unblock"), status_code=200)
    async def unblock(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), BlockCustomers)
        done = await domain.block_customers(ctx, body.user_ids, blocked=False)
        return json_response({"unblocked_users": [customer_view(r) for r in done]})

    return [block, unblock]


def customer_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """Every `/customer/*` route and its `/end_user/*` alias, bound to `state`."""

    @post(_paths("new"), status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), NewCustomer)
        return json_response(customer_view(await domain.new_customer(ctx, body)))

    @post(_paths("update"), status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UpdateCustomer)
        return json_response(customer_view(await domain.update_customer(ctx, body)))

    @post(_paths("delete"), status_code=200)
    async def delete_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), CustomersRef)
        count = await domain.delete_customers(ctx, body.user_ids)
        return json_response(
            {
                "deleted_customers": count,
                # LiteLLM's message, with Python's list repr.
                "message": f"Successfully deleted customers with ids: {body.user_ids!r}",
            }
        )

    @get(_paths("info"))
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        resolved = await domain.customer_info(ctx, required_param(request, "end_user_id"))
        return json_response(_without_nulls(customer_view(resolved)))

    @get(_paths("list"))
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response([customer_view(r) for r in await domain.list_customers(ctx)])

    return [new, update, delete_, info, list_, *_block_routes(state)]
