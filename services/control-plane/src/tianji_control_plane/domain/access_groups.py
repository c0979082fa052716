"""Model access groups (LiteLLM's `/access_group/*`): a name standing for model names.

Keys and teams list the group's name in `models`; each gateway expands it from the
snapshot's `access_groups` section. LiteLLM records membership by tagging each DB
deployment's `model_info.access_groups`; we keep one row per group instead, so a
group may also name config models, and renaming or re-adding a deployment keeps its
group. Model names are checked against the models the proxy knows (config and DB),
as LiteLLM checks them against its router.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import msgspec
from tianji_common.errors import InvalidRequest, NotFound

from tianji_control_plane.domain.common import Ctx, write
from tianji_control_plane.repo import access_groups as repo
from tianji_control_plane.repo.access_groups import AccessGroupRow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.domain.models import Deployment
    from tianji_control_plane.repo.db import Db

__all__ = [
    "GroupBody",
    "access_group_map",
    "create_group",
    "delete_group",
    "deployment_count",
    "get_group_or_404",
    "update_group",
]

_TABLE: Final = "tianji_model_access_group"


class GroupBody(msgspec.Struct, kw_only=True):
    """`POST /access_group/new` and `PUT .../update` (LiteLLM's `NewModelGroupRequest`)."""

    access_group: str | None = None
    model_names: list[str] | None = None
    model_ids: list[str] | None = None


async def access_group_map(db: Db) -> dict[str, list[str]]:
    """The snapshot section: group name to model names."""
    return {r.access_group: r.model_names for r in await repo.all_access_groups(db)}


def _not_found(name: str) -> NotFound:
    return NotFound(f"Access group '{name}' not found", param="access_group")


async def get_group_or_404(db: Db, name: str) -> AccessGroupRow:
    """The group, or 404 with LiteLLM's message."""
    row = await repo.get_access_group(db, name)
    if row is None:
        raise _not_found(name)
    return row


def deployment_count(names: Sequence[str], deployments: Sequence[Deployment]) -> int:
    """How many deployments serve one of `names` (LiteLLM's `models_updated`)."""
    wanted = set(names)
    return sum(1 for d in deployments if d.model_name in wanted)


def _model_names(body: GroupBody, deployments: Sequence[Deployment]) -> list[str]:
    """The group's model names, from `model_ids` when given, else `model_names`; checked."""
    if body.model_ids:
        by_id = {d.model_id: d.model_name for d in deployments}
        missing = [i for i in body.model_ids if i not in by_id]
        if missing:
            raise InvalidRequest(
                f"Deployment(s) not found: {', '.join(missing)}", param="model_ids"
            )
        return list(dict.fromkeys(by_id[i] for i in body.model_ids))
    if not body.model_names:
        raise InvalidRequest(
            "Either model_names or model_ids must be provided and non-empty",
            param="model_names",
        )
    known = {d.model_name for d in deployments}
    missing = [m for m in body.model_names if m not in known]
    if missing:
        raise InvalidRequest(f"Model(s) not found: {', '.join(missing)}", param="model_names")
    return list(dict.fromkeys(body.model_names))


async def create_group(
    ctx: Ctx, body: GroupBody, deployments: Sequence[Deployment]
) -> AccessGroupRow:
    """A new group; 409 if the name is taken."""
    name = (body.access_group or "").strip()
    if not name:
        raise InvalidRequest("access_group is required and cannot be empty", param="access_group")
    names = _model_names(body, deployments)
    now = datetime.now(UTC)
    row = AccessGroupRow(access_group=name, model_names=names, created_at=now, updated_at=now)
    async with write(ctx) as changes:
        if await repo.get_access_group(ctx.db, name) is not None:
            raise InvalidRequest(
                f"Access group '{name}' already exists. "
                f"Use PUT /access_group/{name}/update to modify it.",
                param="access_group",
                status=409,
            )
        await repo.insert_access_group(ctx.db, row)
        await ctx.audit("created", _TABLE, name, None, row)
        changes.access_groups[name] = names
    return row


async def update_group(
    ctx: Ctx, name: str, body: GroupBody, deployments: Sequence[Deployment]
) -> AccessGroupRow:
    """Replace the group's model names."""
    names = _model_names(body, deployments)
    async with write(ctx) as changes:
        before = await get_group_or_404(ctx.db, name)
        after = msgspec.structs.replace(before, model_names=names, updated_at=datetime.now(UTC))
        await repo.update_access_group(ctx.db, after)
        await ctx.audit("updated", _TABLE, name, before, after)
        changes.access_groups[name] = names
    return after


async def delete_group(ctx: Ctx, name: str) -> AccessGroupRow:
    """Delete the group; keys and teams that still name it simply stop matching it."""
    async with write(ctx) as changes:
        before = await get_group_or_404(ctx.db, name)
        await repo.delete_access_group(ctx.db, name)
        await ctx.audit("deleted", _TABLE, name, before, None)
        changes.access_groups[name] = None
    return before
