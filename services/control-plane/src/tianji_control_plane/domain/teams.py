"""Teams: the minimum keys need (create, read, block); the rest of `/team/*` is later."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import msgspec
from tianji_common.errors import InvalidRequest, NotFound

from tianji_control_plane.domain.common import Ctx, write
from tianji_control_plane.repo import teams as team_repo
from tianji_control_plane.repo.records import TeamRecord

if TYPE_CHECKING:
    from tianji_control_plane.domain.bodies import NewTeam

__all__ = ["get_team_or_404", "new_team", "set_team_blocked"]

_TABLE: Final = "tianji_team"


async def new_team(ctx: Ctx, req: NewTeam) -> TeamRecord:
    """Create a team (id generated unless given)."""
    now = datetime.now(UTC)
    fields = msgspec.structs.asdict(req)
    fields["team_id"] = req.team_id or str(uuid.uuid4())
    record = TeamRecord(**fields, created_at=now, updated_at=now)
    async with write(ctx) as changes:
        if await team_repo.get_team(ctx.db, record.team_id) is not None:
            raise InvalidRequest(f"Team id = {record.team_id} already exists.", param="team_id")
        stored = await team_repo.insert_team(ctx.db, record)
        await ctx.audit("created", _TABLE, stored.team_id, None, stored)
        changes.teams[stored.team_id] = stored
    return stored


async def get_team_or_404(ctx: Ctx, team_id: str) -> TeamRecord:
    """The team, or 404."""
    record = await team_repo.get_team(ctx.db, team_id)
    if record is None:
        raise NotFound(f"Team not found, passed team_id={team_id}", param="team_id")
    return record


async def set_team_blocked(ctx: Ctx, team_id: str, *, blocked: bool) -> TeamRecord:
    """Block or unblock a team: every key in it follows."""
    values = {"blocked": blocked, "updated_at": datetime.now(UTC)}
    async with write(ctx) as changes:
        before = await team_repo.get_team(ctx.db, team_id)
        if before is None:
            raise NotFound(f"Team not found, passed team_id={team_id}", param="team_id")
        after = await team_repo.update_team(ctx.db, team_id, values)
        assert after is not None  # read in this transaction
        await ctx.audit("blocked" if blocked else "unblocked", _TABLE, team_id, before, after)
        changes.teams[team_id] = after
    return after
