"""`/key/*`: LiteLLM's key-management routes, paths and payloads as LiteLLM has them."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler
from tianji_common.errors import InvalidRequest, PermissionDenied

from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import keys as domain
from tianji_control_plane.domain.bodies import (
    GenerateKey,
    KeyRef,
    KeysRef,
    RegenerateKey,
    UpdateKey,
    decode_body,
)
from tianji_control_plane.domain.common import Ctx, token_of
from tianji_control_plane.repo.keys import get_key, list_keys
from tianji_control_plane.repo.records import KeyRecord

__all__ = ["key_routes"]

_MAX_PAGE_SIZE = 100
_LIST_FILTERS = ("user_id", "team_id", "key_alias", "organization_id")


def _record(rec: KeyRecord) -> dict[str, Any]:
    return msgspec.to_builtins(rec)  # type: ignore[no-any-return]  # a Struct becomes a dict


def _issued(key: str, rec: KeyRecord, duration: str | None) -> dict[str, Any]:
    """The generate/regenerate answer: the key in clear, once, plus its record."""
    return {**_record(rec), "key": key, "token_id": rec.token, "duration": duration}


def _info(given: str, rec: KeyRecord) -> dict[str, Any]:
    info = _record(rec)
    info.pop("token")  # LiteLLM removes the hash from /key/info answers
    return {"key": given, "info": info}


def _int_param(request: Request[Any, Any, Any], name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer", param=name, status=422) from None
    if value < 1:
        raise InvalidRequest(f"{name} must be at least 1", param=name, status=422)
    return value


def _not_yours() -> PermissionDenied:
    return PermissionDenied("key not allowed to access this key's info. Not the caller's key.")


async def _readable(ctx: Ctx, given: str) -> KeyRecord:
    """The key for /key/info: 403 (found or not) unless the caller may read it."""
    if not ctx.caller.reads_all:
        rec = await get_key(ctx.db, token_of(given))
        if rec is None or not ctx.caller.may_read_key(rec):
            raise _not_yours()
    return await domain.get_key_or_404(ctx, given)


async def _check_manage(ctx: Ctx, keys: list[str]) -> None:
    """Update, delete, regenerate: only keys the caller may manage (RBAC rows)."""
    if ctx.caller.is_admin:
        return
    for given in keys:
        rec = await get_key(ctx.db, token_of(given))
        if rec is None or not ctx.caller.may_manage_key(rec):
            raise _not_yours()


def _own_filters(ctx: Ctx, filters: dict[str, str]) -> dict[str, str]:
    """Non-viewers list their own keys, or those of a team/org they administer."""
    if ctx.caller.reads_all:
        return filters
    if ctx.caller.admins_team(filters.get("team_id")):
        return filters
    if ctx.caller.admins_org(filters.get("organization_id")):
        return filters
    return {**filters, "user_id": ctx.caller.user_id or ""}


async def _regenerate(
    state: ControlState, request: Request[Any, Any, Any], key: str | None
) -> Response[bytes]:
    ctx = await state.authorize(request)
    body = decode_body(await request.body(), RegenerateKey)
    target = key or body.key
    if not target:
        raise InvalidRequest("missing key to regenerate", param="key", status=422)
    await _check_manage(ctx, [target])
    new, rec = await domain.regenerate_key(ctx, target, body)
    duration = body.duration if isinstance(body.duration, str) else None
    return json_response(_issued(new, rec, duration))


async def _list(state: ControlState, request: Request[Any, Any, Any]) -> Response[bytes]:
    ctx = await state.authorize(request)
    page = _int_param(request, "page", 1)
    size = min(_int_param(request, "size", 10), _MAX_PAGE_SIZE)
    filters = {f: v for f in _LIST_FILTERS if (v := request.query_params.get(f))}
    filters = _own_filters(ctx, filters)
    records, total = await list_keys(ctx.db, page=page, size=size, filters=filters)
    full = request.query_params.get("return_full_object", "").lower() == "true"
    keys: list[Any] = [_record(r) for r in records] if full else [r.token for r in records]
    pages = -(-total // size)
    return json_response(
        {"keys": keys, "total_count": total, "current_page": page, "total_pages": pages}
    )


async def _block(
    state: ControlState, request: Request[Any, Any, Any], *, blocked: bool
) -> Response[bytes]:
    ctx = await state.authorize(request)
    body = decode_body(await request.body(), KeyRef)
    return json_response(_record(await domain.set_blocked(ctx, body.key, blocked=blocked)))


def key_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """Every `/key/*` route of this slice, bound to `state`."""

    @post("/key/generate", status_code=200)
    async def generate(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), GenerateKey)
        owner = ctx.caller.key_owner(body.user_id, body.team_id)
        body = msgspec.structs.replace(body, user_id=owner)
        key, rec = await domain.generate_key(ctx, body)
        return json_response(_issued(key, rec, body.duration))

    @get("/key/info")
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        given = request.query_params.get("key") or ctx.caller.key_hash  # LiteLLM: own key
        if not given:
            # The master key has no key row (LiteLLM answers 404 "Key not found in database").
            raise InvalidRequest(
                "missing query parameter: key (the master key is not a virtual key; "
                "pass ?key=<key or its hash>)",
                param="key",
                status=422,
            )
        return json_response(_info(given, await _readable(ctx, given)))

    @get("/key/list")
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _list(state, request)

    @post("/key/update", status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UpdateKey)
        await _check_manage(ctx, [body.key])
        rec = await domain.update_key(ctx, body)
        return json_response({**_record(rec), "key": body.key})

    @post("/key/delete", status_code=200)
    async def delete(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), KeysRef)
        await _check_manage(ctx, body.keys)
        return json_response({"deleted_keys": await domain.delete_keys(ctx, body.keys)})

    @post("/key/block", status_code=200)
    async def block(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _block(state, request, blocked=True)

    @post("/key/unblock", status_code=200)
    async def unblock(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _block(state, request, blocked=False)

    @post("/key/regenerate", status_code=200)
    async def regenerate(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _regenerate(state, request, None)

    @post("/key/{key:str}/regenerate", status_code=200)
    async def regenerate_path(
        request: Request[Any, Any, Any], key: FromPath[str]
    ) -> Response[bytes]:
        return await _regenerate(state, request, key)

    return [generate, info, list_, update, delete, block, unblock, regenerate, regenerate_path]
