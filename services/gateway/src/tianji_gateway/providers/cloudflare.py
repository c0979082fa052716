"""Cloudflare Workers AI: OpenAI chat in, `/ai/run/{model}` out.

Why native: the `run` endpoint (https://developers.cloudflare.com/workers-ai/models/)
takes OpenAI-style `messages` but answers `{"result": {"response": ...}, "success":
true}` and streams `data: {"response": "tok"}` events. LiteLLM's `CloudflareChatConfig`
is the target: the URL is `api_base + model`, where the default `api_base` is
`https://api.cloudflare.com/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}/ai/run/`.
Hooks are sans-IO, so the account id comes from `dep.settings["cloudflare_account_id"]`
(resolved from the environment at config load), or is part of a configured `api_base`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from tianji_common.errors import UpstreamError

from tianji_gateway.providers._others_openai import (
    ChunkWriter,
    FunctionOut,
    MessageOut,
    ToolCallOut,
    classify_error,
    completion_bytes,
    decode_param,
    encoder,
    reject_n,
)
from tianji_gateway.providers.base import Decoded, Op, ProviderAdapter, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_gateway.providers.base import ChunkTransformer
    from tianji_gateway.routing.deployment import Deployment
    from tianji_gateway.streaming.sse import SSEEvent

__all__ = ["ACCOUNT_SETTING", "CloudflareAdapter"]

# Where the account id is looked up; build.py fills it from CLOUDFLARE_ACCOUNT_ID.
ACCOUNT_SETTING = "cloudflare_account_id"

# Not in LiteLLM's supported list for Workers AI: dropped with drop_params, else a 400.
_UNSUPPORTED = frozenset(
    {
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "functions",
        "function_call",
        "parallel_tool_calls",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "store",
        "service_tier",
        "reasoning_effort",
    }
)
# Not sent: the model is in the URL, usage is always reported, `user` is accounting only.
_CONSUMED = frozenset({"model", "stream", "stream_options", "n", "user", "max_completion_tokens"})
_CONTEXT_MARKERS = ("context window", "context length", "too many tokens", "maximum context")
_POLICY_MARKERS = ("content policy", "unsafe content", "flagged")


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def to_usage(self) -> Usage:
        prompt, completion = self.prompt_tokens or 0, self.completion_tokens or 0
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=self.total_tokens or prompt + completion,
        )


class _Result(msgspec.Struct):
    # A string for chat; an object when JSON mode is on.
    response: Any = None
    tool_calls: list[dict[str, Any]] | None = None
    usage: _Usage | None = None
    finish_reason: str | None = None


class _CfError(msgspec.Struct):
    message: str = ""
    code: int | None = None


class _Envelope(msgspec.Struct):
    result: _Result | None = None
    success: bool = True
    errors: list[_CfError] = []


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_chunk_decoder = msgspec.json.Decoder(_Result)
_DONE = b"[DONE]"


class CloudflareAdapter(ProviderAdapter):
    """Workers AI text generation through the REST `run` endpoint."""

    name: ClassVar[str] = "cloudflare"
    default_api_base: ClassVar[str] = "https://api.cloudflare.com/client/v4"
    env_key: ClassVar[str | None] = "CLOUDFLARE_API_KEY"
    env_base: ClassVar[str | None] = "CLOUDFLARE_API_BASE"
    env_settings: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType(
        {"cloudflare_account_id": ("CLOUDFLARE_ACCOUNT_ID",)}
    )
    caps: ClassVar[ProviderCaps] = ProviderCaps(
        stream_usage=False, unsupported_params=_UNSUPPORTED, ops=frozenset({Op.CHAT})
    )
    passthrough: ClassVar[bool] = False

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`api_base + model` (LiteLLM), the default base naming the account."""
        base = dep.api_base
        if not base:
            account = dep.settings.get(ACCOUNT_SETTING)
            if not account:
                raise UpstreamError(
                    "cloudflare: no account id; set CLOUDFLARE_ACCOUNT_ID or api_base",
                    status=500,
                )
            base = f"{self.default_api_base}/accounts/{account}/ai/run/"
        # LiteLLM concatenates with no "/"; add it when the configured base lacks one.
        return (base if base.endswith("/") else base + "/") + dep.model

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """`{messages, stream, max_tokens, ...}`: OpenAI's names, the model in the URL."""
        params = self.map_params(dict(body), dep)
        reject_n("cloudflare", params, dep.drop_params)
        out: dict[str, Any] = {k: v for k, v in params.items() if k not in _CONSUMED}
        if "max_tokens" not in out:
            max_tokens = decode_param(params, "max_completion_tokens", int)
            if max_tokens is not None:
                out["max_tokens"] = max_tokens
        if stream:
            out["stream"] = True
        return encoder.encode(out)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """`result.response` as the assistant message; `success: false` is an error."""
        env = _decode_envelope(raw)
        if not env.success or env.result is None:
            raise _envelope_error(200, env)
        res = env.result
        calls = _tool_calls(res.tool_calls or [])
        message = MessageOut(content=_text(res.response) or (None if calls else ""))
        if calls:
            message.tool_calls = calls
        usage = res.usage.to_usage() if res.usage else Usage()
        body = completion_bytes(
            id="chatcmpl-" + uuid.uuid4().hex,
            created=int(time.time()),
            model=dep.model,
            message=message,
            finish="tool_calls" if calls else "stop",
            usage=usage,
        )
        return Decoded(body=body, usage=usage, model=dep.model)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """Per-stream state for `data: {"response": ...}` events."""
        return CloudflareStream(dep.model, include_usage, int(time.time()))

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """The v4 envelope's `errors[0]` (https://developers.cloudflare.com/workers-ai/platform/errors/)."""
        try:
            env = _envelope_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            text = body[:500].decode("utf-8", "replace").strip()
            env = _Envelope(success=False, errors=[_CfError(message=text)])
        err = _envelope_error(status, env)
        retry_after = headers.get("retry-after")
        if retry_after and status == 429:
            err.headers["retry-after"] = retry_after
        return err


def _decode_envelope(raw: bytes) -> _Envelope:
    try:
        return _envelope_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(
            f"malformed cloudflare response: {exc}", status=502, retryable=True
        ) from exc


def _envelope_error(status: int, env: _Envelope) -> UpstreamError:
    first = env.errors[0] if env.errors else _CfError()
    message = first.message or f"cloudflare returned HTTP {status}"
    if first.code is not None:
        message = f"{message} (code {first.code})"
    if status < 400:  # `success: false` on a 200: the envelope is the only signal
        status = 502
    return classify_error(status, message, context=_CONTEXT_MARKERS, policy=_POLICY_MARKERS)


def _text(response: Any) -> str:
    if response is None:
        return ""
    if isinstance(response, str):
        return response
    return encoder.encode(response).decode()  # JSON mode answers an object


def _tool_calls(raw: list[dict[str, Any]]) -> list[ToolCallOut]:
    """`{name, arguments: {...}}` (or OpenAI-style `{id, function}`) as OpenAI calls."""
    out: list[ToolCallOut] = []
    for call in raw:
        nested = call.get("function")
        fn: dict[str, Any] = nested if isinstance(nested, dict) else call
        args = fn.get("arguments", {})
        out.append(
            ToolCallOut(
                id=str(call.get("id") or "call_" + uuid.uuid4().hex[:24]),
                type="function",
                function=FunctionOut(
                    name=str(fn.get("name", "")),
                    arguments=args if isinstance(args, str) else encoder.encode(args).decode(),
                ),
            )
        )
    return out


class CloudflareStream:
    """`data: {"response": "tok"}` events in, OpenAI chunks out; finish at `[DONE]`."""

    __slots__ = ("_finished", "_include_usage", "_out", "_started", "_tools", "_usage")

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._out = ChunkWriter("chatcmpl-" + uuid.uuid4().hex, model, created)
        self._include_usage = include_usage
        self._usage: Usage | None = None
        self._started = False
        self._finished = False
        self._tools = 0

    def feed(self, event: SSEEvent) -> list[bytes]:
        """One token (or the usage-only last event); `[DONE]` closes the choice."""
        if not event.data:
            return []
        if event.data == _DONE:
            return self._finish(None)
        try:
            res = _chunk_decoder.decode(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"malformed cloudflare stream event: {exc}", status=502) from exc
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(self._out.delta(role="assistant", content=""))
        text = _text(res.response)
        if text:
            out.append(self._out.delta(content=text))
        if res.tool_calls:
            calls = _tool_calls(res.tool_calls)
            for call in calls:
                call.index = self._tools
                self._tools += 1
            out.append(self._out.delta(tool_calls=calls))
        if res.usage is not None:
            self._usage = res.usage.to_usage()
        if res.finish_reason:
            out.extend(self._finish(res.finish_reason))
        return out

    def finish(self) -> Usage | None:
        """Usage from the last event, when the model reports it."""
        return self._usage

    def _finish(self, reason: str | None) -> list[bytes]:
        if self._finished:
            return []
        self._finished = True
        finish = reason or ("tool_calls" if self._tools else "stop")
        out = [self._out.delta(finish_reason=finish)]
        if self._include_usage:
            out.append(self._out.usage(self._usage or Usage()))
        return out
