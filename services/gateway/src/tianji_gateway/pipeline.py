"""The LLM request path: route, call upstream with retries, relay, account.

Why framework-free: the handler in `api/llm.py` only adapts Litestar's request and
response; everything here is plain async code, testable and cheap. One usage event is
recorded per parsed request on every exit: success, upstream failure, stream end or
client disconnect (the generator's `finally`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
from tianji_common.errors import (
    GatewayError,
    InvalidRequest,
    NotImplementedFeature,
    UpstreamError,
    UpstreamTimeout,
    encode_error,
)
from tianji_common.events import UsageRecorded
from tianji_common.pricing import cost

from tianji_gateway.auth import Principal
from tianji_gateway.closing import ClosingStream
from tianji_gateway.providers._messages_bridge import MessagesBridge
from tianji_gateway.providers.base import Op, ProviderAdapter, Usage
from tianji_gateway.providers.registry import KNOWN_LITELLM_PROVIDERS
from tianji_gateway.request import ParsedRequest
from tianji_gateway.request_multipart import with_form_content_type
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.routing.resolve import UnsupportedProvider
from tianji_gateway.routing.router import ModelGroup, Router
from tianji_gateway.streaming.sse import frame
from tianji_gateway.upstream.client import UpstreamClient, UpstreamResponse, UpstreamStream
from tianji_gateway.upstream.tokens import TokenCache
from tianji_gateway.usage import UsagePublisher

__all__ = ["Complete", "Pipeline", "Streaming"]

_INCLUDE_USAGE = msgspec.Raw(b'{"include_usage":true}')
_DONE_FRAME = b"data: [DONE]\n\n"
_MAX_FOLLOW_UPS = 600  # polls; the deployment timeout bounds them in time too
# Stream answers are SSE, AWS's binary event stream (Bedrock ConverseStream), or
# newline-delimited JSON (Ollama's native API).
_STREAM_TYPES = (
    "text/event-stream",
    "application/vnd.amazon.eventstream",
    "application/x-ndjson",
)
_CALL_TYPES = {
    Op.CHAT: "acompletion",
    Op.COMPLETION: "atext_completion",
    Op.EMBEDDING: "aembedding",
    Op.MESSAGES: "anthropic_messages",
    Op.RERANK: "arerank",
    Op.IMAGE_GENERATION: "aimage_generation",
    Op.AUDIO_SPEECH: "aspeech",
    Op.AUDIO_TRANSCRIPTION: "atranscription",
}


@dataclass(slots=True)
class Complete:
    """A whole JSON answer."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Streaming:
    """An SSE answer whose body is produced as the upstream sends it."""

    headers: dict[str, str]
    body: AsyncIterator[bytes]


@dataclass(slots=True)
class _Call:
    """Per-request bookkeeping, turned into the one usage event at the end."""

    request_id: str
    op: Op
    principal: Principal
    parsed: ParsedRequest
    started: float
    attempts: int = 0
    dep: Deployment | None = None
    upstream_ns: int = 0
    ttft_ms: float | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    cost: Decimal | None = None  # set when usage is recorded, if the deployment is priced


_cost_param: msgspec.json.Decoder[str | int | None] = msgspec.json.Decoder(str | int | None)


def _param(call: _Call, name: str) -> str | int | None:
    """One request parameter the price depends on; a malformed one counts as absent."""
    raw = call.parsed.body.get(name)
    if raw is None:
        return None
    try:
        return _cost_param.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _cost(call: _Call, usage: Usage | None) -> Decimal | None:
    """The request's cost from the deployment's pre-resolved prices (no lookups here).

    Request parameters are read only when the prices depend on them: `service_tier`
    for models with tier prices; `n`, `size` and `quality` for image generations
    (LiteLLM prices `n` images when the answer does not say how many it made).
    """
    dep = call.dep
    if usage is None or dep is None or dep.price is None:
        return None
    price = dep.price
    tier = _param(call, "service_tier") if price.tiers else None
    quality = size = None
    if call.op is Op.IMAGE_GENERATION:
        if not usage.images:
            n = _param(call, "n")
            usage = msgspec.structs.replace(usage, images=n if isinstance(n, int) and n > 0 else 1)
        q, sz = _param(call, "quality"), _param(call, "size")
        quality, size = (q if isinstance(q, str) else None), (sz if isinstance(sz, str) else None)
    return cost(
        usage,
        price,
        seconds=call.upstream_ns / 1e9,
        service_tier=tier if isinstance(tier, str) else None,
        image_quality=quality,
        image_size=size,
    )


def _unsupported_op(op: Op, provider: str) -> GatewayError:
    if op is Op.MESSAGES:
        return NotImplementedFeature(
            f"/v1/messages for {provider} deployments (Anthropic-format requests to a "
            "non-Anthropic provider) is not implemented in TianjiLLM yet"
        )
    return InvalidRequest(
        f"provider {provider} does not support {op.value} requests",
        param="model",
        code="unsupported_operation",
    )


class _AnthropicErrorDetail(msgspec.Struct):
    type: str
    message: str


class _AnthropicError(msgspec.Struct):
    error: _AnthropicErrorDetail
    type: str = "error"


def _anthropic_error_frame(exc: GatewayError) -> bytes:
    """A mid-stream error in Anthropic's event shape, for Messages clients."""
    body = _AnthropicError(_AnthropicErrorDetail(exc.body().error.type, exc.message))
    return frame(msgspec.json.encode(body), "error")


class Pipeline:
    """Everything a request needs, built once at startup."""

    def __init__(
        self,
        *,
        router: Router,
        adapters: Mapping[str, ProviderAdapter],
        upstream: UpstreamClient,
        usage: UsagePublisher,
        tokens: TokenCache | None = None,
        retry_after: float = 0.0,
        version: str = "0",
    ) -> None:
        self._router = router
        self._adapters = adapters
        # Anthropic-format requests to chat-only providers go through one bridge each,
        # made on first use (adapters themselves are imported lazily).
        self._bridges: dict[str, ProviderAdapter] = {}
        self._upstream = upstream
        self._usage = usage
        self._tokens = tokens or TokenCache(upstream)
        self._retry_after = retry_after
        self._version = version

    async def run(
        self, op: Op, principal: Principal, parsed: ParsedRequest
    ) -> Complete | Streaming:
        """Serve one parsed request; raises GatewayError (already accounted)."""
        call = _Call(uuid.uuid4().hex, op, principal, parsed, time.perf_counter())
        try:
            group = self._router.resolve(parsed.model)
            return await self._attempts(call, group)
        except GatewayError as exc:
            exc.headers.update(self._headers(call))
            self._record(
                call,
                None,
                status="failure",
                http_status=exc.http_status,
                error_type=type(exc).__name__,
            )
            raise
        except asyncio.CancelledError:
            # The client went away before the answer began: still exactly one event.
            self._record(
                call, None, status="disconnected", http_status=499, error_type="ClientDisconnected"
            )
            raise
        except Exception as exc:
            self._record(
                call, None, status="failure", http_status=500, error_type=type(exc).__name__
            )
            raise

    async def _attempts(self, call: _Call, group: ModelGroup) -> Complete | Streaming:
        tried: set[str] = set()
        while True:
            dep = self._router.pick(group, tried)
            call.dep = dep
            call.attempts += 1
            try:
                if call.parsed.stream:
                    return await self._stream(call, dep)
                return await self._complete(call, dep)
            except UpstreamError as exc:
                retries = dep.num_retries or 0
                if not exc.retryable or call.attempts > retries:
                    raise
                tried.add(dep.id)
                if self._retry_after:
                    await asyncio.sleep(self._retry_after)

    async def _prepare(
        self, call: _Call, dep: Deployment
    ) -> tuple[ProviderAdapter, str, list[tuple[str, str]], bytes]:
        adapter = self._adapters.get(dep.provider)
        if adapter is None:  # a wildcard resolved to a provider we do not serve
            raise UnsupportedProvider(dep.provider, known=dep.provider in KNOWN_LITELLM_PROVIDERS)
        caps = adapter.caps.ops
        if call.op is Op.MESSAGES and Op.MESSAGES not in caps and Op.CHAT in caps:
            bridge = self._bridges.get(dep.provider)
            if bridge is None:
                bridge = self._bridges[dep.provider] = MessagesBridge(adapter)
            adapter = bridge
        if call.op not in adapter.caps.ops:
            raise _unsupported_op(call.op, dep.provider)
        parsed = call.parsed
        body = {**dep.default_body, **parsed.body} if dep.default_body else dict(parsed.body)
        body["model"] = msgspec.Raw(msgspec.json.encode(dep.model))
        if call.op is not Op.MESSAGES:  # native Messages bodies are the vendor's own
            if parsed.stream and adapter.caps.stream_usage:
                body["stream_options"] = _INCLUDE_USAGE
            body = adapter.map_params(body, dep, call.op)
        payload = adapter.encode_request(body, dep, call.op, parsed.stream)
        url = adapter.url(dep, call.op, parsed.stream)
        token = await self._tokens.get(adapter, dep)
        headers = adapter.headers(dep, token)
        if call.op is Op.AUDIO_TRANSCRIPTION:  # the form's boundary, before any signing
            headers = with_form_content_type(headers, payload)
        headers = adapter.sign(dep, url, headers, payload, time.time())
        return adapter, url, headers, payload

    async def _complete(self, call: _Call, dep: Deployment) -> Complete:
        adapter, url, headers, payload = await self._prepare(call, dep)
        t0 = time.perf_counter_ns()
        resp = await self._upstream.post(url, headers, payload, dep.timeout)
        resp = await self._follow_ups(adapter, call, dep, resp)
        call.upstream_ns += time.perf_counter_ns() - t0
        if resp.status >= 400:
            raise adapter.map_error(resp.status, resp.headers, resp.body)
        decoded = adapter.decode_response(resp.body, dep, call.op)
        self._record(call, decoded.usage, status="success", http_status=200)
        headers_out = self._headers(call)
        if decoded.content_type != "application/json":
            headers_out["content-type"] = decoded.content_type
        return Complete(200, headers_out, decoded.body)

    async def _follow_ups(
        self, adapter: ProviderAdapter, call: _Call, dep: Deployment, resp: UpstreamResponse
    ) -> UpstreamResponse:
        """Polling for APIs that answer "created, come back later" (bounded)."""
        try:
            async with asyncio.timeout(dep.timeout):
                for _ in range(_MAX_FOLLOW_UPS):
                    if resp.status >= 400:
                        return resp
                    nxt = adapter.follow_up(dep, call.op, False, resp.status, resp.body)
                    if nxt is None:
                        return resp
                    await asyncio.sleep(adapter.poll_interval)
                    resp = await self._upstream.request(
                        nxt.method, nxt.url, nxt.headers, nxt.body, dep.timeout
                    )
        except TimeoutError:
            raise UpstreamTimeout(
                f"{adapter.name}: no final answer within the timeout", retryable=False
            ) from None
        raise UpstreamError(
            f"{adapter.name}: no final answer after {_MAX_FOLLOW_UPS} polls",
            status=504,
            retryable=False,
        )

    async def _stream(self, call: _Call, dep: Deployment) -> Streaming:
        adapter, url, headers, payload = await self._prepare(call, dep)
        stack = AsyncExitStack()
        t0 = time.perf_counter_ns()
        timeout = dep.stream_timeout or dep.timeout
        try:
            up = await stack.enter_async_context(
                self._upstream.stream(url, headers, payload, timeout)
            )
            if up.status >= 400:
                body = await up.read_all()
                raise adapter.map_error(up.status, up.headers, body)
            if not up.headers.get("content-type", "").startswith(_STREAM_TYPES):
                # A JSON answer to a stream request: the vendor names the stream's URL.
                nxt = adapter.follow_up(dep, call.op, True, up.status, await up.read_all())
                if nxt is not None:
                    await stack.aclose()
                    stack = AsyncExitStack()
                    up = await stack.enter_async_context(
                        self._upstream.stream(
                            nxt.url, nxt.headers, nxt.body, timeout, method=nxt.method
                        )
                    )
                    if up.status >= 400:
                        raise adapter.map_error(up.status, up.headers, await up.read_all())
        except BaseException:
            await stack.aclose()
            raise
        call.upstream_ns += time.perf_counter_ns() - t0
        headers_out = self._headers(call)

        async def never_started() -> None:  # the client left before the first byte
            self._record(call, None, status="disconnected", http_status=200)
            await stack.aclose()

        relay = self._relay(call, adapter, dep, up, stack)
        return Streaming(headers_out, ClosingStream(relay, never_started))

    async def _relay(
        self,
        call: _Call,
        adapter: ProviderAdapter,
        dep: Deployment,
        up: UpstreamStream,
        stack: AsyncExitStack,
    ) -> AsyncGenerator[bytes, None]:
        parser = adapter.stream_parser(dep)
        tx = adapter.new_stream(dep, call.op, call.parsed.include_usage)
        framed = getattr(tx, "framed", False)  # the transformer writes whole SSE frames
        anthropic_client = call.op is Op.MESSAGES
        outcome, http_status, error_type = "disconnected", 200, None
        try:
            async for chunk in up.iter_chunks():
                for event in parser.feed(chunk):
                    for out in tx.feed(event):
                        if call.ttft_ms is None:
                            call.ttft_ms = (time.perf_counter() - call.started) * 1000
                        yield out if framed else frame(out)
            for event in parser.flush():
                for out in tx.feed(event):
                    yield out if framed else frame(out)
            if not anthropic_client:
                yield _DONE_FRAME
            outcome = "success"
        except GatewayError as exc:
            # Mid-stream failure: a final error event, then the stream closes.
            outcome, http_status, error_type = "failure", exc.http_status, type(exc).__name__
            yield (
                _anthropic_error_frame(exc)
                if anthropic_client
                else (b"data: " + encode_error(exc) + b"\n\n")
            )
        finally:
            # Record first: it is synchronous, so a cancelled disconnect cannot skip it.
            self._record(
                call, tx.finish(), status=outcome, http_status=http_status, error_type=error_type
            )
            await stack.aclose()

    def _headers(self, call: _Call) -> dict[str, str]:
        elapsed = (time.perf_counter() - call.started) * 1000
        overhead = elapsed - call.upstream_ns / 1e6
        h = {
            "x-litellm-call-id": call.request_id,
            "x-litellm-attempted-retries": str(max(call.attempts - 1, 0)),
            "x-litellm-response-duration-ms": f"{elapsed:.3f}",
            "x-litellm-overhead-duration-ms": f"{overhead:.3f}",
            "x-litellm-version": self._version,
        }
        dep = call.dep
        if dep is not None:
            h["x-litellm-model-id"] = dep.id
            h["x-litellm-model-group"] = dep.model_name
            h["x-litellm-model-api-base"] = self._api_base(dep)
        if call.cost is not None:  # LiteLLM sends `str(float)`; streams carry it in the event
            h["x-litellm-response-cost"] = str(float(call.cost))
        return h

    def _api_base(self, dep: Deployment) -> str:
        if dep.api_base:
            return dep.api_base
        adapter = self._adapters.get(dep.provider)
        return adapter.default_api_base if adapter else ""

    def _record(
        self,
        call: _Call,
        usage: Usage | None,
        *,
        status: str,
        http_status: int,
        error_type: str | None = None,
    ) -> None:
        u = usage or Usage()
        call.cost = _cost(call, usage)
        dep, p = call.dep, call.principal
        now = time.time()
        self._usage.record(
            UsageRecorded(
                event_id=call.request_id,
                occurred_at=now,
                request_id=call.request_id,
                call_type=_CALL_TYPES[call.op],
                model_group=dep.model_name if dep else call.parsed.model,
                model=dep.model if dep else "",
                provider=dep.provider if dep else "",
                deployment_id=dep.id if dep else "",
                api_base=self._api_base(dep) if dep else "",
                key_hash=p.key_hash,
                key_alias=p.key_alias,
                user_id=p.user_id,
                team_id=p.team_id,
                org_id=p.org_id,
                end_user=call.parsed.user,
                status=status,
                http_status=http_status,
                error_type=error_type,
                stream=call.parsed.stream,
                prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens,
                total_tokens=u.total_tokens,
                cached_tokens=u.cached_tokens,
                cache_creation_tokens=u.cache_creation_tokens,
                reasoning_tokens=u.reasoning_tokens,
                cost=format(call.cost, "f") if call.cost is not None else "0",
                latency_ms=(time.perf_counter() - call.started) * 1000,
                ttft_ms=call.ttft_ms,
                started_at=now - (time.perf_counter() - call.started),
            )
        )
