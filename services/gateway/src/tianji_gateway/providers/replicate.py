"""Replicate: OpenAI chat in, a prediction out, polled (or streamed) to its end.

Why native: Replicate's predictions API (https://replicate.com/docs/reference/http)
answers "created" (`status: starting`) with `urls.get` to poll and, for language
models, `urls.stream` for server-sent events (`output` tokens, `done`, `error`:
https://replicate.com/docs/topics/predictions/streaming). The input is the model's
own: LiteLLM's `ReplicateConfig` builds `prompt` from the messages (and we send system
messages as `system_prompt`), `max_new_tokens`, `temperature`, `top_p`,
`stop_sequences`. Poll and stream URLs are followed only on Replicate's own origins,
so a forged answer cannot send our token elsewhere (LiteLLM's same-origin check).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import msgspec
from tianji_common.errors import InvalidRequest, UpstreamError

from tianji_gateway.providers._others_openai import (
    ChunkWriter,
    MessageOut,
    classify_error,
    completion_bytes,
    decode_param,
    encoder,
    is_null,
    reject_n,
)
from tianji_gateway.providers.base import (
    Decoded,
    Op,
    ProviderAdapter,
    ProviderCaps,
    UpstreamCall,
    Usage,
)

if TYPE_CHECKING:
    from tianji_gateway.providers.base import ChunkTransformer
    from tianji_gateway.routing.deployment import Deployment
    from tianji_gateway.streaming.sse import SSEEvent

__all__ = ["ReplicateAdapter"]

_TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
# A version id is 64 hex digits (LiteLLM's REPLICATE_MODEL_NAME_WITH_ID_LENGTH).
_VERSION_LEN = 64
# Stream URLs live on Replicate's streaming hosts, not the API host.
_STREAM_DOMAINS = ("replicate.com", "replicate.net")

# OpenAI features a raw prompt-in, text-out prediction cannot honour.
_UNSUPPORTED = frozenset(
    {
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "parallel_tool_calls",
        "response_format",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "store",
        "service_tier",
        "reasoning_effort",
    }
)
_CONSUMED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "user",
        "max_tokens",
        "max_completion_tokens",
        "stop",
    }
)
_CONTEXT_MARKERS = (
    "maximum input length",
    "context length",
    "context window",
    "too many tokens",
    "prompt is too long",
)
_POLICY_MARKERS = ("nsfw", "flagged as sensitive", "content policy", "safety")


class _Urls(msgspec.Struct):
    get: str | None = None
    stream: str | None = None


class _Metrics(msgspec.Struct):
    input_token_count: int | None = None
    output_token_count: int | None = None


class _Prediction(msgspec.Struct):
    id: str = ""
    status: str = ""
    output: Any = None
    error: Any = None
    urls: _Urls | None = None
    metrics: _Metrics | None = None


class _Problem(msgspec.Struct):
    detail: Any = None
    title: str | None = None


_prediction_decoder = msgspec.json.Decoder(_Prediction)
_problem_decoder = msgspec.json.Decoder(_Problem)


class ReplicateAdapter(ProviderAdapter):
    """Replicate language models through predictions."""

    name: ClassVar[str] = "replicate"
    default_api_base: ClassVar[str] = "https://api.replicate.com/v1"
    # LiteLLM also reads REPLICATE_API_TOKEN when REPLICATE_API_KEY is unset.
    env_key: ClassVar[str | None] = "REPLICATE_API_KEY"
    env_base: ClassVar[str | None] = "REPLICATE_API_BASE"
    env_key_fallbacks: ClassVar[tuple[str, ...]] = ("REPLICATE_API_TOKEN",)
    caps: ClassVar[ProviderCaps] = ProviderCaps(
        stream_usage=False, unsupported_params=_UNSUPPORTED, ops=frozenset({Op.CHAT})
    )
    passthrough: ClassVar[bool] = False
    poll_interval: ClassVar[float] = 0.5

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`/models/{owner}/{name}/predictions`, `/deployments/...`, or `/predictions`."""
        base = _api_root(dep.api_base or self.default_api_base)
        model = dep.model
        if model.startswith("deployments/"):
            return f"{base}/{model}/predictions"
        if _version(model) is not None:
            return f"{base}/predictions"
        return f"{base}/models/{model}/predictions"

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """Bearer auth (Replicate also takes LiteLLM's older `Token` scheme)."""
        out = [("content-type", "application/json")]
        if dep.api_key:
            out.append(("authorization", "Bearer " + dep.api_key))
        out.extend(dep.extra_headers)
        return out

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """`{"input": {...}}`, plus `version` for a pinned version and `stream`."""
        params = self.map_params(dict(body), dep)
        reject_n("replicate", params, dep.drop_params)
        out: dict[str, Any] = {"input": _input(params, dep.model)}
        version = _version(dep.model)
        if version is not None:
            out["version"] = version
        if stream:
            out["stream"] = True
        return encoder.encode(out)

    def follow_up(
        self, dep: Deployment, op: Op, stream: bool, status: int, body: bytes
    ) -> UpstreamCall | None:
        """Poll `urls.get` until the prediction ends; for a stream, open `urls.stream`."""
        pred = _decode(body)
        urls = pred.urls or _Urls()
        auth = [(k, v) for k, v in self.headers(dep) if k != "content-type"]
        if stream:
            if not urls.stream:
                raise InvalidRequest(
                    f"replicate model {dep.model!r} does not support streaming", param="stream"
                )
            self._check_origin(dep, urls.stream, streaming=True)
            accept = [("accept", "text/event-stream"), ("cache-control", "no-store")]
            return UpstreamCall("GET", urls.stream, accept + auth)
        if pred.status in _TERMINAL:
            return None
        if not urls.get:
            raise UpstreamError(f"replicate answered without urls.get: {pred.status}", status=502)
        self._check_origin(dep, urls.get, streaming=False)
        return UpstreamCall("GET", urls.get, auth)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """A finished prediction as a chat completion; failed or canceled is an error."""
        pred = _decode(raw)
        if pred.status != "succeeded":
            raise _prediction_error(pred)
        text = _output_text(pred.output)
        metrics = pred.metrics or _Metrics()
        prompt, completion = metrics.input_token_count or 0, metrics.output_token_count or 0
        usage = Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
        body = completion_bytes(
            id=pred.id,
            created=int(time.time()),
            model=dep.model,
            message=MessageOut(content=text),
            finish="stop",
            usage=usage,
        )
        return Decoded(body=body, usage=usage, model=dep.model)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """Per-stream state for Replicate's `output` / `done` / `error` events."""
        return ReplicateStream(dep.model, include_usage, int(time.time()))

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """Replicate's problem-details body (`title`, `detail`); 422 is a bad input."""
        try:
            problem = _problem_decoder.decode(body)
            detail = problem.detail if isinstance(problem.detail, str) else None
            message = detail or problem.title or ""
        except (msgspec.DecodeError, msgspec.ValidationError):
            message = body[:500].decode("utf-8", "replace").strip()
        err = classify_error(
            status,
            message or f"replicate returned HTTP {status}",
            context=_CONTEXT_MARKERS,
            policy=_POLICY_MARKERS,
        )
        if status == 402:  # monthly spend limit: another attempt cannot help
            err.retryable = False
        retry_after = headers.get("retry-after")
        if retry_after and status == 429:
            err.headers["retry-after"] = retry_after
        return err

    def _check_origin(self, dep: Deployment, url: str, *, streaming: bool) -> None:
        """Follow only the API's own origin (or, for streams, Replicate's stream hosts)."""
        got = urlsplit(url)
        api = urlsplit(self.url(dep, Op.CHAT, False))
        if (got.scheme, got.netloc) == (api.scheme, api.netloc):
            return
        host = got.hostname or ""
        ours = any(host == d or host.endswith("." + d) for d in _STREAM_DOMAINS)
        if streaming and got.scheme == "https" and ours:
            return
        raise UpstreamError(f"replicate: refusing to follow off-origin URL {url!r}", status=502)


def _api_root(base: str) -> str:
    """The `/v1` API root; a bare host gets `/v1` added."""
    base = base.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _version(model: str) -> str | None:
    """The pinned version of `owner/name:version` (or of a bare version id)."""
    _, sep, version = model.rpartition(":")
    if sep and version:
        return version
    if len(model) == _VERSION_LEN and all(c in "0123456789abcdef" for c in model):
        return model
    return None


def _decode(raw: bytes) -> _Prediction:
    try:
        return _prediction_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(f"malformed replicate prediction: {exc}", status=502) from exc


def _prediction_error(pred: _Prediction) -> UpstreamError:
    """A prediction that ended without output (LiteLLM answers these with 422)."""
    detail = pred.error if isinstance(pred.error, str) else None
    message = f"replicate prediction {pred.status or 'unknown'}: {detail or 'no output'}"
    return classify_error(422, message, context=_CONTEXT_MARKERS, policy=_POLICY_MARKERS)


def _output_text(output: Any) -> str:
    """Language models return a list of tokens (or, for some, one string)."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(o if isinstance(o, str) else encoder.encode(o).decode() for o in output)
    return encoder.encode(output).decode()


# --- input ----------------------------------------------------------------------------


class _MessageIn(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]] | None = None


def _input(params: dict[str, msgspec.Raw], model: str) -> dict[str, Any]:
    """The model input: prompt (+ system_prompt) and renamed sampling parameters."""
    messages = decode_param(params, "messages", list[_MessageIn])
    if not messages:
        raise InvalidRequest("'messages' must be a non-empty list", param="messages")
    system = [_text(m) for m in messages if m.role in ("system", "developer")]
    rest = [_text(m) for m in messages if m.role not in ("system", "developer")]
    out: dict[str, Any] = {"prompt": " ".join(rest)}  # LiteLLM's default_pt
    if system:
        out["system_prompt"] = "\n".join(system)
    max_tokens = decode_param(params, "max_completion_tokens", int)
    if max_tokens is None:
        max_tokens = decode_param(params, "max_tokens", int)
    if max_tokens is not None:
        out[_max_tokens_field(model)] = max_tokens
    stop = decode_param(params, "stop", str | list[str])  # type: ignore[arg-type]  # a union is a valid msgspec type
    if stop:
        # A comma-separated string is what Replicate's language models document.
        out["stop_sequences"] = stop if isinstance(stop, str) else ",".join(stop)
    for key, raw in params.items():
        if key not in _CONSUMED and not is_null(raw):
            out[key] = raw  # temperature, top_p, top_k, seed, penalties, model extras
    return out


def _max_tokens_field(model: str) -> str:
    """LiteLLM's per-model name for the output length."""
    if "vicuna" in model or "flan" in model:
        return "max_length"
    if "meta/codellama-13b" in model:
        return "max_tokens"
    return "max_new_tokens"


def _text(msg: _MessageIn) -> str:
    if msg.content is None or isinstance(msg.content, str):
        return msg.content or ""
    texts: list[str] = []
    for part in msg.content:
        if part.get("type") != "text":
            raise InvalidRequest(
                f"replicate takes text content only, got {part.get('type')!r}", param="messages"
            )
        texts.append(str(part.get("text", "")))
    return "".join(texts)


# --- streaming ------------------------------------------------------------------------


class ReplicateStream:
    """`output` events carry raw text tokens; `done` ends the choice; `error` raises."""

    __slots__ = ("_finished", "_include_usage", "_out", "_started", "_tokens")

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._out = ChunkWriter("", model, created)
        self._include_usage = include_usage
        self._started = False
        self._finished = False
        self._tokens = 0

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one event; unknown event names (e.g. `logs`) emit nothing."""
        match event.event:
            case "output" | None:
                return self._output(event.data.decode("utf-8", "replace"))
            case "error":
                raise _stream_error(event.data)
            case "done":
                return self._done(event.data)
            case _:
                return []

    def finish(self) -> Usage | None:
        """An estimate: Replicate streams one token per `output` event, no usage."""
        if not self._started:
            return None
        return Usage(completion_tokens=self._tokens, total_tokens=self._tokens)

    def _output(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(self._out.delta(role="assistant", content=""))
        if text:
            self._tokens += 1
            out.append(self._out.delta(content=text))
        return out

    def _done(self, data: bytes) -> list[bytes]:
        if self._finished:
            return []
        reason = _done_reason(data)
        if reason in ("canceled", "error"):
            raise UpstreamError(f"replicate prediction {reason}", status=502)
        self._finished = True
        out = [] if self._started else [self._out.delta(role="assistant", content="")]
        self._started = True
        out.append(self._out.delta(finish_reason="stop"))
        if self._include_usage:
            out.append(self._out.usage(self.finish() or Usage()))
        return out


class _Done(msgspec.Struct):
    reason: str | None = None


def _done_reason(data: bytes) -> str | None:
    try:
        return msgspec.json.decode(data or b"{}", type=_Done).reason
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _stream_error(data: bytes) -> UpstreamError:
    try:
        problem = _problem_decoder.decode(data)
        message = problem.detail if isinstance(problem.detail, str) else data.decode()
    except (msgspec.DecodeError, msgspec.ValidationError):
        message = data.decode("utf-8", "replace")
    return classify_error(
        500, f"replicate stream error: {message}", context=_CONTEXT_MARKERS, policy=_POLICY_MARKERS
    )
