"""Azure OpenAI: OpenAI's wire format behind per-deployment URLs, `api-key` or Entra ID auth.

Why its own module: the URL carries the deployment and `api-version`
(`{api_base}/openai/deployments/{deployment}/chat/completions?api-version=...`, what
LiteLLM gets from the `AzureOpenAI` SDK client), keys go in `api-key`, Entra ID
client-credentials tokens come from `login.microsoftonline.com`, and some parameters
depend on the api-version (LiteLLM's `AzureOpenAIConfig.map_openai_params`). The
`v1`/`latest`/`preview` versions use the unversioned `/openai/v1` API with a bearer key,
as LiteLLM does through the plain OpenAI client.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import msgspec
from tianji_common.errors import InvalidRequest, UpstreamError

from tianji_gateway.providers._compat_a_common import (
    VendorErrorInfo,
    add_query,
    get_json,
    parse_vendor_error,
    require_api_base,
    set_json,
    vendor_error,
)
from tianji_gateway.providers.base import (
    Op,
    OpenAIChunkRelay,
    ProviderAdapter,
    ProviderCaps,
    Token,
    UpstreamCall,
)

if TYPE_CHECKING:
    from tianji_gateway.providers.base import ChunkTransformer, Usage
    from tianji_gateway.routing.deployment import Deployment
    from tianji_gateway.streaming.sse import SSEEvent

__all__ = ["DEFAULT_API_VERSION", "AzureAdapter"]

# litellm.AZURE_DEFAULT_API_VERSION, used when neither config nor env names one.
DEFAULT_API_VERSION = "2025-02-01-preview"
_V1_VERSIONS = frozenset({"v1", "latest", "preview"})  # BaseAzureLLM._is_azure_v1_api_version
_DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
_AUTHORITY = "https://login.microsoftonline.com"
# LiteLLM's routing prefixes (`azure/o_series/<deployment>`) name a model family only.
_ROUTE_PREFIXES = ("o_series/", "gpt5_series/")
# Reasoning deployments reject `max_tokens` (AzureOpenAIConfig.requires_max_completion_tokens).
_REASONING = re.compile(r"^(o1|o3|o4)|gpt-?5|o_series/|gpt5_series/")
# Azure names a refusal by its content filter with these codes
# (https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter).
_POLICY_CODES = frozenset({"content_filter", "contentFilter", "ResponsibleAIPolicyViolation"})
_FILTER_ONLY = b'"prompt_filter_results"'


def _deployment(dep: Deployment) -> str:
    model = dep.model
    for prefix in _ROUTE_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


def _is_v1(dep: Deployment) -> bool:
    return (dep.api_version or "") in _V1_VERSIONS


def _setting(dep: Deployment, key: str) -> str | None:
    value = dep.settings.get(key)
    return value if isinstance(value, str) and value else None


def _static_token(dep: Deployment) -> str | None:
    """`azure_ad_token` from config; `oidc/...` references need a secret manager."""
    token = _setting(dep, "azure_ad_token")
    return None if token is None or token.startswith("oidc/") else token


def _version_parts(version: str) -> tuple[str, str, str] | None:
    parts = version.split("-")
    return (parts[0], parts[1], parts[2]) if len(parts) >= 3 else None


def _tool_choice_problem(value: object, version: str) -> str | None:
    """Why this api-version cannot take `tool_choice=value`, or None if it can."""
    parts = _version_parts(version)
    if parts is None:
        return None
    year, month, _ = parts
    if year < "2023" or (year == "2023" and month < "12"):
        return (
            f"Azure does not support 'tool_choice' for api_version={version}; it needs "
            "'2023-12-01-preview' or later."
        )
    if value == "required" and year == "2024" and month <= "05":
        return f"Azure does not support tool_choice='required' for api_version={version}."
    return None


class AzureAdapter(ProviderAdapter):
    """Azure OpenAI deployments: chat, completions, embeddings, images and audio."""

    name = "azure"
    default_api_base = ""  # the resource URL is always the user's
    env_key = "AZURE_API_KEY"
    env_base = "AZURE_API_BASE"
    env_version = "AZURE_API_VERSION"
    # Entra ID client credentials, as LiteLLM reads them when the config omits them.
    env_settings = MappingProxyType(
        {
            "tenant_id": ("AZURE_TENANT_ID",),
            "client_id": ("AZURE_CLIENT_ID",),
            "client_secret": ("AZURE_CLIENT_SECRET",),
        }
    )
    caps = ProviderCaps(
        ops=frozenset(
            {
                Op.CHAT,
                Op.COMPLETION,
                Op.EMBEDDING,
                Op.IMAGE_GENERATION,
                Op.AUDIO_SPEECH,
                Op.AUDIO_TRANSCRIPTION,
            }
        )
    )

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """The deployment URL with `api-version`, or the `/openai/v1` URL."""
        parts = urlsplit(require_api_base(dep, self.name))
        root = parts.path.rstrip("/")
        path = self._paths[op]
        if _is_v1(dep):
            prefix = root if root.endswith("/openai/v1") else root + "/openai/v1"
            return urlunsplit((parts.scheme, parts.netloc, prefix + path, parts.query, ""))
        if "/openai/deployments" not in root:  # an endpoint, not a deployment base_url
            root += "/openai/deployments/" + quote(_deployment(dep), safe="")
        url = urlunsplit((parts.scheme, parts.netloc, root + path, parts.query, ""))
        return add_query(url, "api-version", dep.api_version or DEFAULT_API_VERSION)

    def token_request(self, dep: Deployment, now: float) -> UpstreamCall | None:
        """Entra ID client credentials (or username/password) when no key is set."""
        if dep.api_key or _static_token(dep):
            return None
        client_id = _setting(dep, "client_id")
        form: dict[str, str] = {"scope": _setting(dep, "azure_scope") or _DEFAULT_SCOPE}
        tenant = _setting(dep, "tenant_id")
        secret = _setting(dep, "client_secret")
        user, password = _setting(dep, "azure_username"), _setting(dep, "azure_password")
        if tenant and client_id and secret:
            form |= {"grant_type": "client_credentials", "client_id": client_id}
            form["client_secret"] = secret
        elif client_id and user and password:
            tenant = tenant or "organizations"  # azure.identity's default authority
            form |= {"grant_type": "password", "client_id": client_id, "username": user}
            form["password"] = password
        else:
            return None
        return UpstreamCall(
            "POST",
            f"{_AUTHORITY}/{quote(tenant, safe='')}/oauth2/v2.0/token",
            [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")],
            urlencode(form).encode(),
        )

    def parse_token(self, status: int, body: bytes, now: float) -> Token:
        """`access_token` and `expires_in` (seconds) from the token endpoint."""
        try:
            data = msgspec.json.decode(body, type=_TokenAnswer)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamError(
                "azure: the Entra ID token endpoint answered without an access_token",
                status=502,
                type_="auth_error",
            ) from None
        return Token(data.access_token, now + float(data.expires_in))

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """`api-key`, or a bearer Entra token (a static `azure_ad_token` wins, as in the SDK)."""
        out = [("content-type", "application/json")]
        bearer = _static_token(dep) or token
        if bearer:
            out.append(("authorization", "Bearer " + bearer))
        elif dep.api_key:
            out.append(
                ("authorization", "Bearer " + dep.api_key)
                if _is_v1(dep)
                else ("api-key", dep.api_key)
            )
        out.extend(dep.extra_headers)
        return out

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Unsupported-param rules, then the api-version and deployment-family quirks."""
        body = super().map_params(body, dep, op)
        if "tool_choice" in body:
            self._check_tool_choice(body, dep)
        if "max_tokens" in body and _REASONING.search(dep.model.lower()):
            value = body.pop("max_tokens")
            body.setdefault("max_completion_tokens", value)
        return body

    def _check_tool_choice(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        if "tools" not in body and "functions" not in body:
            del body["tool_choice"]  # AzureOpenAIConfig.transform_request drops it too
            return
        if _is_v1(dep):
            return
        problem = _tool_choice_problem(get_json(body, "tool_choice"), dep.api_version or "")
        if problem is None:
            return
        if dep.drop_params:
            del body["tool_choice"]
            return
        raise InvalidRequest(
            problem + " Set drop_params: true to drop it.",
            param="tool_choice",
            code="unsupported_parameter",
        )

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The client's body; `model` is the bare deployment name."""
        if dep.model != _deployment(dep) and "model" in body:
            set_json(body, "model", _deployment(dep))
        return super().encode_request(body, dep, op, stream)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """OpenAI chunks, minus Azure's leading content-filter-only chunk."""
        return AzureChunkRelay(include_usage)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """OpenAI's error shape; content-filter codes (also inner ones) are policy errors."""
        info = parse_vendor_error(body)
        if info.code in _POLICY_CODES or info.inner_code in _POLICY_CODES:
            info = VendorErrorInfo(info.message, info.type, "content_policy_violation")
        return vendor_error(self.name, status, headers, info)


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: int | str = 3599


class _FilterView(msgspec.Struct):
    choices: list[Any] = []
    usage: Any = None


_filter_view = msgspec.json.Decoder(_FilterView)


class AzureChunkRelay:
    """`OpenAIChunkRelay`, dropping chunks that carry only `prompt_filter_results`.

    Azure opens a stream with `{"choices": [], "prompt_filter_results": [...]}`;
    LiteLLM never forwards it, and clients reading `choices[0]` would fail on it.
    """

    __slots__ = ("_relay",)

    def __init__(self, include_usage: bool) -> None:
        self._relay = OpenAIChunkRelay(include_usage)

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Relay one chunk unless it is a filter-results-only chunk."""
        if _FILTER_ONLY in event.data:
            try:
                view = _filter_view.decode(event.data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                view = None
            if view is not None and not view.choices and view.usage is None:
                return []
        return self._relay.feed(event)

    def finish(self) -> Usage | None:
        """The usage chunk's numbers, if Azure sent one."""
        return self._relay.finish()
