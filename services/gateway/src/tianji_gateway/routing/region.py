"""Region-restricted routing: an end user's `allowed_model_region` (LiteLLM's feature).

Why a context variable: the restriction belongs to one request (its `user` field names
the end user), but the pipeline resolves and picks deployments itself. The policy
guard sets `ALLOWED_REGION` around the pipeline call; `Router.resolve` reads it and
keeps only deployments in that region. A ContextVar is per task, so concurrent
requests never see each other's value.

A deployment's region is `litellm_params.region_name`, else `model_info.region_name`
(or `region`), else what LiteLLM infers from the provider's location settings
(`aws_region_name`, `vertex_location`, `watsonx_region_name`). `eu` admits `eu`,
`eu-west-1`, `europe-west4`; `us` admits `us`, `us-east-1`, `us-central1`. A
deployment with no known region is never used for a restricted request.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final

__all__ = ["ALLOWED_REGION", "deployment_region", "region_allows"]

ALLOWED_REGION: Final[ContextVar[str | None]] = ContextVar("tianji_allowed_region", default=None)

_LOCATION_SETTINGS: Final = ("aws_region_name", "vertex_location", "watsonx_region_name")
_ALIASES: Final = {"europe": "eu"}


def deployment_region(
    region_name: str | None, model_info: Mapping[str, Any], settings: Mapping[str, Any]
) -> str | None:
    """The deployment's region as configured, lower-cased, or None if unknown."""
    for value in (
        region_name,
        model_info.get("region_name"),
        model_info.get("region"),
        *(settings.get(name) for name in _LOCATION_SETTINGS),
    ):
        if isinstance(value, str) and value:
            return value.lower()
    return None


def region_allows(allowed: str, region: str | None) -> bool:
    """Whether a deployment in `region` may serve a request restricted to `allowed`."""
    if region is None:
        return False
    want = allowed.lower()
    if region == want:
        return True
    head = region.split("-", 1)[0]
    return _ALIASES.get(head, head) == want
