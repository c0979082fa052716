"""Python values to column values: JSON as text, money as Decimal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tianji_control_plane.repo.db import json_text, numeric

if TYPE_CHECKING:
    from piccolo.columns import Column

__all__ = ["column_values", "update_values"]

_JSON: Final = frozenset(
    {
        "models",
        "aliases",
        "metadata",
        "members_with_roles",
        "teams",
        "model_max_budget",
        "model_spend",
        "model_aliases",
        "permissions",
        "allowed_routes",
        "team_member_permissions",
        "litellm_params",
        "model_info",
        "credential_info",
        "model_names",
    }
)
_MONEY: Final = frozenset({"spend", "max_budget", "soft_budget"})


def column_values(values: dict[str, Any]) -> dict[str, Any]:
    """Each value in the form its column takes, on both engines."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in _JSON:
            out[name] = json_text(value)
        elif name in _MONEY:
            out[name] = numeric(value)
        else:
            out[name] = value
    return out


def update_values(values: dict[str, Any]) -> dict[Column | str, Any]:
    """`column_values`, typed as piccolo's `update()` takes it."""
    out: dict[Column | str, Any] = {}
    out.update(column_values(values))
    return out
