"""Query-parameter helpers shared by the management controllers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import InvalidRequest

if TYPE_CHECKING:
    from litestar import Request

__all__ = ["int_param", "plain", "required_param"]


def int_param(request: Request[Any, Any, Any], name: str, default: int) -> int:
    """A positive integer query parameter; 422 naming it otherwise."""
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


def required_param(request: Request[Any, Any, Any], name: str) -> str:
    """A query parameter that must be present; 422 naming it otherwise."""
    value = request.query_params.get(name)
    if not value:
        raise InvalidRequest(f"missing query parameter: {name}", param=name, status=422)
    return str(value)


def plain(value: object) -> dict[str, Any]:
    """A Struct as a JSON-ready dict."""
    out = msgspec.to_builtins(value)
    assert isinstance(out, dict)  # every record is a Struct
    return out
