"""A deployment resolved from config: everything a request needs, computed once.

Why: resolving credentials, provider and pre-encoded default params at load time keeps
per-request work to a dictionary merge (PP-1); provider hooks stay sans-IO because
environment fallbacks are already applied here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

    from tianji_common.pricing import Prices

__all__ = ["Deployment"]


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream target behind a public model name."""

    id: str
    model_name: str
    provider: str
    model: str
    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    organization: str | None = None
    timeout: float = 600.0
    stream_timeout: float | None = None
    num_retries: int | None = None
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    drop_params: bool = False
    additional_drop_params: frozenset[str] = frozenset()
    # `litellm_params` keys forwarded to the provider, pre-encoded as JSON values.
    default_body: dict[str, msgspec.Raw] = field(default_factory=dict)
    extra_headers: tuple[tuple[str, str], ...] = ()
    # Provider-specific settings (aws_*, vertex_*, ...) kept raw for adapters.
    settings: dict[str, Any] = field(default_factory=dict)
    model_info: dict[str, Any] = field(default_factory=dict)
    # Wildcard deployments: the `litellm_params.model` template (`openai/*`, `*`) and an
    # explicit `custom_llm_provider`, resolved per requested model by the router.
    template: str | None = None
    custom_provider: str | None = None
    # Prices resolved once at build time (table, base_model, custom pricing); `None` when
    # the model is not priced, so the request path never looks a price up by name.
    price: Prices | None = None
    # Wildcard deployments: prices of a concrete (model, provider), cached per model.
    pricer: Callable[[str, str], Prices | None] | None = None
    # Where the deployment runs (`routing.region`), for end users' `allowed_model_region`.
    region: str | None = None
