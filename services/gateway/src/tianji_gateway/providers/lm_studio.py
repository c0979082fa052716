"""LM Studio's local OpenAI-compatible server (LiteLLM's `lm_studio/`).

Why its own module: LiteLLM's `LMStudioChatConfig` rewrites a `json_schema`
`response_format` that carries `schema` at the top level into OpenAI's nested
`json_schema.schema` form, which LM Studio's structured output requires; the server
listens on `http://localhost:1234/v1` by default and needs no key. Its errors are
`{"error": "..."}` strings; an over-long prompt reads "context length of only N tokens".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tianji_gateway.providers._compat_a_common import (
    CONTEXT_MARKERS,
    get_json,
    parse_vendor_error,
    set_json,
    vendor_error,
)
from tianji_gateway.providers.base import Op, ProviderAdapter, ProviderCaps

if TYPE_CHECKING:
    import msgspec
    from tianji_common.errors import UpstreamError

    from tianji_gateway.routing.deployment import Deployment

__all__ = ["LMStudioAdapter"]

_CONTEXT_MARKERS = (*CONTEXT_MARKERS, "context length of only", "context the overflows")


class LMStudioAdapter(ProviderAdapter):
    """Models served by LM Studio."""

    name = "lm_studio"
    default_api_base = "http://localhost:1234/v1"
    env_key = "LM_STUDIO_API_KEY"
    env_base = "LM_STUDIO_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING}))

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Nest a top-level `schema` under `json_schema`, as LM Studio expects."""
        body = super().map_params(body, dep, op)
        if "response_format" in body:
            fmt = get_json(body, "response_format")
            if (
                isinstance(fmt, dict)
                and fmt.get("type") == "json_schema"
                and "json_schema" not in fmt
                and "schema" in fmt
            ):
                set_json(
                    body,
                    "response_format",
                    {"type": "json_schema", "json_schema": {"schema": fmt["schema"]}},
                )
        return body

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """`{"error": "..."}` or OpenAI's shape; context overflows are named."""
        info = parse_vendor_error(body)
        return vendor_error(self.name, status, headers, info, context_markers=_CONTEXT_MARKERS)
