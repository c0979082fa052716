"""Azure AI Foundry (model inference): OpenAI chat with Azure's URL and auth rules.

Why its own module: LiteLLM's `AzureAIStudioConfig` adds `/models/chat/completions` on
`*.services.ai.azure.com` hosts (plain `/chat/completions` elsewhere, e.g. serverless
`*.models.ai.azure.com`), appends `api-version` only when one is configured, sends the
key as `api-key` to Azure-owned hosts and as a bearer token to the rest, and flattens
text-only content lists, which some Foundry models reject.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tianji_gateway.providers._compat_a_common import (
    add_path,
    add_query,
    flatten_text,
    parse_vendor_error,
    raw_has,
    require_api_base,
    transform_messages,
    vendor_error,
)
from tianji_gateway.providers.base import Op, ProviderAdapter, ProviderCaps

if TYPE_CHECKING:
    import msgspec
    from tianji_common.errors import UpstreamError

    from tianji_gateway.routing.deployment import Deployment

__all__ = ["AzureAIAdapter"]

_KEY_HEADER_HOSTS = (".services.ai.azure.com", ".openai.azure.com")
_POLICY_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation"})


def _flatten(messages: list[dict[str, Any]]) -> bool:
    changed = False
    for message in messages:
        text = flatten_text(message.get("content"))
        if text:  # LiteLLM keeps the list when it has no text at all
            message["content"] = text
            changed = True
    return changed


class AzureAIAdapter(ProviderAdapter):
    """Models deployed on Azure AI Foundry / AI Studio endpoints."""

    name = "azure_ai"
    default_api_base = ""
    env_key = "AZURE_AI_API_KEY"
    env_base = "AZURE_AI_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT, Op.EMBEDDING}))

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`/models/chat/completions` on services.ai.azure.com, else `/chat/completions`."""
        base = require_api_base(dep, self.name)
        path = self._paths[op]
        if op is Op.CHAT and "services.ai.azure.com" in base:
            path = "/models" + path
        return add_query(add_path(base, path), "api-version", dep.api_version)

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """`api-key` for Azure-owned hosts, `Authorization: Bearer` elsewhere."""
        out = [("content-type", "application/json")]
        if dep.api_key:
            host = urlsplit(dep.api_base or "").hostname or ""
            if host.endswith(_KEY_HEADER_HOSTS):
                out.append(("api-key", dep.api_key))
            else:
                out.append(("authorization", "Bearer " + dep.api_key))
        out.extend(dep.extra_headers)
        return out

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """Text-only content lists become strings; images and audio are sent as they are."""
        if op is Op.CHAT and raw_has(body, "messages", b'"type"'):
            transform_messages(body, _flatten)
        return super().encode_request(body, dep, op, stream)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """OpenAI's error shape; Azure content-filter codes are policy errors."""
        info = parse_vendor_error(body)
        if info.code in _POLICY_CODES or info.inner_code in _POLICY_CODES:
            info = type(info)(info.message, info.type, "content_policy_violation")
        return vendor_error(self.name, status, headers, info)
