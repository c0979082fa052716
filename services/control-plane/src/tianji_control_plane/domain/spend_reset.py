"""`POST /global/spend/reset`: LiteLLM's reset of every key's and team's spend to zero.

Master key only (see `api/rbac.py`). One transaction; every key and team is published
with its new spend, so each gateway's budget view drops to zero with the snapshot.
The ledger (`tianji_spend_log`) and the daily aggregates are history and stay.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from piccolo.columns import Column

from tianji_control_plane.domain.common import Ctx, write
from tianji_control_plane.repo.keys import all_keys
from tianji_control_plane.repo.teams import all_teams

__all__ = ["reset_global_spend"]

_MESSAGE: Final = "Spend for all API Keys and Teams reset successfully"


async def reset_global_spend(ctx: Ctx) -> dict[str, Any]:
    """Zero `spend` and `model_spend` on every key and team; LiteLLM's answer."""
    zero: dict[Column | str, Any] = {"spend": Decimal(0), "model_spend": "{}"}
    async with write(ctx) as changes:
        await ctx.db.keys.update(zero, force=True).run()
        await ctx.db.teams.update(zero, force=True).run()
        for key in await all_keys(ctx.db):
            changes.keys[key.token] = key
        for team in await all_teams(ctx.db):
            changes.teams[team.team_id] = team
        await ctx.audit("reset", "global_spend", "*", None, {"spend": 0})
    return {"message": _MESSAGE, "status": "success"}
