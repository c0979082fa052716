"""`/user/new|update|delete|info|list`: LiteLLM's internal-user routes and payloads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response, get, post
from tianji_common.errors import InvalidRequest

from tianji_control_plane.api._params import int_param, plain, required_param
from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import users as domain
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.user_bodies import USER_ROLES, NewUser, UpdateUser, UsersRef
from tianji_control_plane.repo.keys import list_keys
from tianji_control_plane.repo.teams import get_team
from tianji_control_plane.repo.users import UserFilter, key_counts, list_users

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.domain.common import Ctx
    from tianji_control_plane.domain.users import NewUserResult
    from tianji_control_plane.repo.records import UserRecord

__all__ = ["user_routes"]

_MAX_PAGE_SIZE: Final = 100  # LiteLLM: page_size le=100
_SORTABLE: Final = frozenset(
    {"user_id", "user_email", "created_at", "spend", "user_alias", "user_role"}
)
_INFO_KEYS: Final = 1000  # keys shown in /user/info


def _new_user_answer(result: NewUserResult, duration: str | None) -> dict[str, Any]:
    """LiteLLM's `NewUserResponse`: the key's fields, then the user's, then the key."""
    out: dict[str, Any] = {}
    if result.key_record is not None:
        out |= plain(result.key_record)
    out |= plain(result.user)
    token = None if result.key_record is None else result.key_record.token
    return out | {"key": result.key, "token": token, "token_id": token, "duration": duration}


async def _user_info(ctx: Ctx, user: UserRecord) -> dict[str, Any]:
    filters = {"user_id": user.user_id}
    keys, _ = await list_keys(ctx.db, page=1, size=_INFO_KEYS, filters=filters)
    teams = [t for t in [await get_team(ctx.db, tid) for tid in user.teams] if t is not None]
    return {
        "user_id": user.user_id,
        "user_info": plain(user),
        "keys": [plain(k) for k in keys],
        "teams": [plain(t) for t in teams],
    }


def _filter(request: Request[Any, Any, Any]) -> UserFilter:
    params = request.query_params
    role = params.get("role")
    if role is not None and role not in USER_ROLES:
        raise InvalidRequest(f"invalid role {role!r}", param="role", status=422)
    sort_by = params.get("sort_by") or "created_at"
    if sort_by not in _SORTABLE:
        message = f"Invalid sort column. Must be one of: {', '.join(sorted(_SORTABLE))}"
        raise InvalidRequest(message, param="sort_by")
    order = str(params.get("sort_order") or ("asc" if "sort_by" in params else "desc"))
    if order.lower() not in ("asc", "desc"):
        raise InvalidRequest("Invalid sort order. Must be 'asc' or 'desc'", param="sort_order")
    ids = tuple(i.strip() for i in str(params.get("user_ids") or "").split(",") if i.strip())
    return UserFilter(
        role=role,
        user_ids=ids,
        email_contains=params.get("user_email"),
        sort_by=sort_by,
        ascending=order.lower() == "asc",
    )


async def _list(ctx: Ctx, request: Request[Any, Any, Any]) -> dict[str, Any]:
    page = int_param(request, "page", 1)
    size = int_param(request, "page_size", 25)
    if size > _MAX_PAGE_SIZE:
        raise InvalidRequest("page_size must be at most 100", param="page_size", status=422)
    where = _filter(request)
    users, total = await list_users(ctx.db, page=page, size=size, where=where)
    counts = await key_counts(ctx.db, [u.user_id for u in users])
    return {
        "users": [plain(u) | {"key_count": counts[u.user_id]} for u in users],
        "total": total,
        "page": page,
        "page_size": size,
        "total_pages": -(-total // size),
    }


def user_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """Every `/user/*` route of this slice, bound to `state`."""

    @post("/user/new", status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), NewUser)
        return json_response(_new_user_answer(await domain.new_user(ctx, body), body.duration))

    @post("/user/update", status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        user = await domain.update_user(ctx, decode_body(await request.body(), UpdateUser))
        return json_response({"user_id": user.user_id, "data": plain(user)})

    @post("/user/delete", status_code=200)
    async def delete(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UsersRef)
        # LiteLLM answers with the number of users deleted (prisma's `delete_many`).
        return json_response(len(await domain.delete_users(ctx, body.user_ids)))

    @get("/user/info")
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        user = await domain.get_user_or_404(ctx, required_param(request, "user_id"))
        return json_response(await _user_info(ctx, user))

    @get("/user/list")
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await _list(ctx, request))

    return [new, update, delete, info, list_]
