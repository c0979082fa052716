"""Virtual keys: generate, update, delete, block, regenerate (LiteLLM semantics).

A key is shown in clear once, in the generate/regenerate answer; only its SHA-256 hash
is stored. Routes accept a key (`sk-…`) or its hash wherever LiteLLM does.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET
from tianji_common.errors import InvalidRequest, NotFound

from tianji_control_plane.domain.common import (
    Ctx,
    abbreviate,
    hash_token,
    parse_duration,
    token_of,
    write,
)
from tianji_control_plane.repo import keys as key_repo
from tianji_control_plane.repo.records import KeyRecord
from tianji_control_plane.repo.teams import get_team

if TYPE_CHECKING:
    from tianji_control_plane.domain.bodies import GenerateKey, RegenerateKey, UpdateKey

__all__ = [
    "delete_keys",
    "generate_key",
    "get_key_or_404",
    "new_key",
    "regenerate_key",
    "set_blocked",
    "update_key",
]

_TABLE: Final = "tianji_verification_token"
_KEY_BYTES: Final = 16  # LiteLLM's LENGTH_OF_LITELLM_GENERATED_KEY default


def new_key() -> str:
    """`sk-` plus 16 random bytes, URL-safe base64: LiteLLM's format."""
    return "sk-" + secrets.token_urlsafe(_KEY_BYTES)


def _check_key_format(key: str) -> None:
    if not key.startswith("sk-"):
        # The value is never echoed: it is a credential.
        raise InvalidRequest(
            "Invalid key format. LiteLLM Virtual Key must start with 'sk-'.", param="key"
        )


def _expiry(duration: str | None, param: str) -> datetime | None:
    return None if duration is None else datetime.now(UTC) + parse_duration(duration, param)


async def _check_team(ctx: Ctx, team_id: str | None) -> None:
    if team_id is not None and await get_team(ctx.db, team_id) is None:
        raise InvalidRequest(f"team_id={team_id} does not exist", param="team_id")


_METADATA_FIELDS: Final = ("tags", "guardrails", "model_rpm_limit", "model_tpm_limit")


def _check_money(values: dict[str, Any]) -> None:
    for name in ("max_budget", "soft_budget"):
        value = values.get(name)
        if value is not None and not (value >= 0 and value != float("inf")):
            raise InvalidRequest(f"{name} must be a non-negative number", param=name)
    per_model = values.get("model_max_budget")
    for model, limit in (per_model or {}).items():
        amount = limit.get("max_budget") if isinstance(limit, dict) else limit
        if not isinstance(amount, int | float) or amount < 0:
            raise InvalidRequest(
                f"model_max_budget[{model!r}] needs a non-negative max_budget",
                param="model_max_budget",
            )
        if isinstance(limit, dict) and limit.get("budget_duration") is not None:
            parse_duration(str(limit["budget_duration"]), "model_max_budget")


def _fold_metadata(values: dict[str, Any], current: dict[str, Any] | None) -> None:
    """Move LiteLLM's top-level `tags`, `guardrails`, per-model limits into `metadata`."""
    moved = {name: values.pop(name) for name in _METADATA_FIELDS if name in values}
    if not moved:
        return
    metadata = dict(values.get("metadata") or current or {})
    for name, value in moved.items():
        if value is None:
            metadata.pop(name, None)
        else:
            metadata[name] = value
    values["metadata"] = metadata


def _new_record(req: GenerateKey, token: str, key: str, actor: str) -> KeyRecord:
    now = datetime.now(UTC)
    fields = msgspec.structs.asdict(req)
    for name in ("key", "duration"):
        fields.pop(name)
    _check_money(fields)
    for name in _METADATA_FIELDS:  # absent here is None: nothing to fold
        if fields[name] is None:
            fields.pop(name)
    _fold_metadata(fields, None)
    return KeyRecord(
        **fields,
        token=token,
        key_name=abbreviate(key),
        expires=_expiry(req.duration, "duration"),
        budget_reset_at=_expiry(req.budget_duration, "budget_duration"),
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
    )


async def generate_key(ctx: Ctx, req: GenerateKey) -> tuple[str, KeyRecord]:
    """Create a key; returns it in clear (once) with its stored record."""
    key = req.key if req.key is not None else new_key()
    _check_key_format(key)
    record = _new_record(req, hash_token(key), key, ctx.actor)
    async with write(ctx) as changes:
        await _check_team(ctx, req.team_id)
        if await key_repo.get_key(ctx.db, record.token) is not None:
            raise InvalidRequest("a key with this value already exists", param="key")
        stored = await key_repo.insert_key(ctx.db, record)
        await ctx.audit("created", _TABLE, stored.token, None, stored)
        changes.keys[stored.token] = stored
    return key, stored


async def get_key_or_404(ctx: Ctx, key_or_hash: str) -> KeyRecord:
    """The key's record, or 404 as LiteLLM answers an unknown key."""
    record = await key_repo.get_key(ctx.db, token_of(key_or_hash))
    if record is None:
        raise NotFound(f"Key not found: {_shown(key_or_hash)}", param="key")
    return record


def _shown(key_or_hash: str) -> str:
    return abbreviate(key_or_hash) if key_or_hash.startswith("sk-") else key_or_hash


def _update_values(req: UpdateKey | RegenerateKey, actor: str) -> dict[str, Any]:
    values = {
        name: value
        for name, value in msgspec.structs.asdict(req).items()
        if value is not UNSET and name not in ("key", "new_key", "duration")
    }
    if req.duration is not UNSET:
        values["expires"] = _expiry(req.duration, "duration")
    for name in ("models", "aliases", "metadata"):
        if name in values and values[name] is None:
            values[name] = [] if name == "models" else {}
    if "budget_duration" in values:
        values["budget_reset_at"] = _expiry(values["budget_duration"], "budget_duration")
    _check_money(values)
    values["updated_at"] = datetime.now(UTC)
    values["updated_by"] = actor
    return values


async def _change(ctx: Ctx, key_or_hash: str, values: dict[str, Any], action: str) -> KeyRecord:
    token = token_of(key_or_hash)
    async with write(ctx) as changes:
        before = await key_repo.get_key(ctx.db, token)
        if before is None:
            raise NotFound(f"Key not found: {_shown(key_or_hash)}", param="key")
        if values.get("team_id") is not None:
            await _check_team(ctx, values["team_id"])
        _fold_metadata(values, before.metadata)
        after = await key_repo.update_key(ctx.db, token, values)
        assert after is not None  # read in this transaction
        await ctx.audit(action, _TABLE, token, before, after)
        changes.keys[token] = after
    return after


async def update_key(ctx: Ctx, req: UpdateKey) -> KeyRecord:
    """Change the fields present in the body."""
    return await _change(ctx, req.key, _update_values(req, ctx.actor), "updated")


async def set_blocked(ctx: Ctx, key_or_hash: str, *, blocked: bool) -> KeyRecord:
    """Block or unblock a key."""
    values = {"blocked": blocked, "updated_at": datetime.now(UTC), "updated_by": ctx.actor}
    return await _change(ctx, key_or_hash, values, "blocked" if blocked else "unblocked")


async def delete_keys(ctx: Ctx, keys: list[str]) -> list[str]:
    """Delete every key listed, or none (404 naming the missing ones)."""
    if not keys:
        raise InvalidRequest("keys must list at least one key", param="keys")
    tokens = {token_of(k): k for k in keys}
    async with write(ctx) as changes:
        found = {r.token: r for r in await key_repo.get_keys(ctx.db, list(tokens))}
        missing = [_shown(k) for t, k in tokens.items() if t not in found]
        if missing:
            raise NotFound(f"Keys not found: {missing}", param="keys")
        await key_repo.delete_keys(ctx.db, list(found))
        for token, record in found.items():
            await ctx.audit("deleted", _TABLE, token, record, None)
            changes.keys[token] = None
    return keys


async def regenerate_key(ctx: Ctx, key_or_hash: str, req: RegenerateKey) -> tuple[str, KeyRecord]:
    """A new `sk-` key replacing the old one, with the same settings (and any changes)."""
    key = req.new_key if req.new_key is not None else new_key()
    _check_key_format(key)
    old, new = token_of(key_or_hash), hash_token(key)
    values = _update_values(req, ctx.actor) | {"key_name": abbreviate(key)}
    async with write(ctx) as changes:
        before = await key_repo.get_key(ctx.db, old)
        if before is None:
            raise NotFound(f"Key not found: {_shown(key_or_hash)}", param="key")
        after = await key_repo.replace_token(ctx.db, old, new, values)
        assert after is not None  # moved in this transaction
        await ctx.audit("regenerated", _TABLE, new, before, after)
        changes.keys[old] = None
        changes.keys[new] = after
    return key, after
