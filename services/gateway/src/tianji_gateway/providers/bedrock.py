"""The native Bedrock adapter: OpenAI chat in, Bedrock Converse out, SigV4-signed.

Why: Bedrock speaks neither OpenAI's wire format nor its auth. Chat goes to
`POST {runtime}/model/{modelId}/converse` (`/converse-stream` when streaming, which
answers in AWS's binary event stream), embeddings and images to
`/model/{modelId}/invoke`, rerank to bedrock-agent-runtime's `/rerank`. Every request
is signed with SigV4 (service `bedrock`) unless the deployment has a Bedrock API key,
sent as a Bearer token
(https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-use.html). LiteLLM's
`AmazonConverseConfig` and `BaseAWSLLM` are the compatibility target for endpoints,
region resolution and parameter placement.

Settings read from `dep.settings` (LiteLLM's litellm_params; environment fallbacks are
resolved into them at config load, never read here): aws_access_key_id,
aws_secret_access_key, aws_session_token, aws_region_name, aws_region_name_env,
aws_bedrock_runtime_endpoint, model_id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

import msgspec
from tianji_common.errors import UpstreamError

from tianji_gateway.providers._bedrock_embed import (
    decode_embeddings,
    decode_rerank,
    embedding_request,
    rerank_request,
)
from tianji_gateway.providers._bedrock_eventstream import EventStreamParser
from tianji_gateway.providers._bedrock_image import (
    decode_image,
    image_error,
    image_request,
)
from tianji_gateway.providers._bedrock_request import (
    UNSUPPORTED_PARAMS,
    base_model,
    converse_request,
)
from tianji_gateway.providers._bedrock_response import decode_converse, encoder
from tianji_gateway.providers._bedrock_sigv4 import AwsCredentials, sign_headers
from tianji_gateway.providers._bedrock_stream import ConverseStream
from tianji_gateway.providers.base import Op, ProviderAdapter, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.providers.base import ChunkTransformer, Decoded, StreamParser
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["BedrockAdapter"]

# LiteLLM's last-resort region (`_get_aws_region_name`), used when neither the config,
# the model ARN nor the environment names one.
_DEFAULT_REGION = "us-west-2"
# Bedrock's SigV4 signing name, for bedrock-runtime and bedrock-agent-runtime alike.
_SERVICE = "bedrock"
# LiteLLM route prefixes inside the model string (`bedrock/converse/<id>`).
_ROUTE_PREFIXES = ("converse/", "invoke/")


def _setting(dep: Deployment, key: str) -> str | None:
    value = dep.settings.get(key)
    return value if isinstance(value, str) and value else None


def _model_id(dep: Deployment) -> str:
    """`model_id` (provisioned throughput / profile ARNs) or the model, route prefix off."""
    model = _setting(dep, "model_id") or dep.model
    for prefix in _ROUTE_PREFIXES:
        model = model.removeprefix(prefix)
    return model


def _arn_region(model_id: str) -> str | None:
    """`arn:aws:bedrock:<region>:...` -> region (LiteLLM `_get_aws_region_from_model_arn`)."""
    if not model_id.startswith("arn:"):
        return None
    parts = model_id.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def _region(dep: Deployment) -> str:
    """aws_region_name, then the model ARN's region, then the environment's, then us-west-2."""
    return (
        _setting(dep, "aws_region_name")
        or _arn_region(_model_id(dep))
        or _setting(dep, "aws_region_name_env")
        or _DEFAULT_REGION
    )


def _path_model_id(dep: Deployment) -> str:
    """The model id as a path segment: `/` in ARNs escaped, `:` left as is.

    `:` is a legal path character that aiohttp (yarl) would send unescaped anyway; keeping
    it literal means the path we sign is byte for byte the path on the wire.
    """
    return quote(_model_id(dep), safe=":")


class BedrockAdapter(ProviderAdapter):
    """OpenAI chat, embeddings, rerank and images translated for Amazon Bedrock."""

    name: ClassVar[str] = "bedrock"
    default_api_base: ClassVar[str] = f"https://bedrock-runtime.{_DEFAULT_REGION}.amazonaws.com"
    # Bedrock API keys (LiteLLM reads AWS_BEARER_TOKEN_BEDROCK when api_key is unset).
    env_key: ClassVar[str | None] = "AWS_BEARER_TOKEN_BEDROCK"
    env_base: ClassVar[str | None] = None
    env_settings: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType(
        {
            "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
            "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
            "aws_session_token": ("AWS_SESSION_TOKEN",),
            "aws_bedrock_runtime_endpoint": ("AWS_BEDROCK_RUNTIME_ENDPOINT",),
            # A separate key keeps LiteLLM's order: config region, ARN region, env, default.
            "aws_region_name_env": ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"),
        }
    )
    caps: ClassVar[ProviderCaps] = ProviderCaps(
        # Converse streams always end with a `metadata` event carrying usage.
        stream_usage=False,
        unsupported_params=UNSUPPORTED_PARAMS,
        ops=frozenset({Op.CHAT, Op.EMBEDDING, Op.RERANK, Op.IMAGE_GENERATION}),
    )
    passthrough: ClassVar[bool] = False

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`api_base`, else aws_bedrock_runtime_endpoint, else the regional runtime host."""
        where = _region(dep)
        if op is Op.RERANK:
            base = dep.api_base or f"https://bedrock-agent-runtime.{where}.amazonaws.com"
            return base.rstrip("/") + "/rerank"
        base = (
            dep.api_base
            or _setting(dep, "aws_bedrock_runtime_endpoint")
            or f"https://bedrock-runtime.{where}.amazonaws.com"
        )
        action = "converse-stream" if stream else "converse"
        if op in (Op.EMBEDDING, Op.IMAGE_GENERATION):
            action = "invoke"
        return f"{base.rstrip('/')}/model/{_path_model_id(dep)}/{action}"

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """JSON content type; a Bedrock API key as Bearer, else SigV4 in `sign`."""
        out = [("content-type", "application/json")]
        if dep.api_key:
            out.append(("authorization", "Bearer " + dep.api_key))
        out.extend(dep.extra_headers)
        return out

    def sign(
        self, dep: Deployment, url: str, headers: list[tuple[str, str]], body: bytes, now: float
    ) -> list[tuple[str, str]]:
        """SigV4 over method, path, headers and payload, unless a Bearer key is used."""
        if dep.api_key:
            return headers
        key_id = _setting(dep, "aws_access_key_id")
        secret = _setting(dep, "aws_secret_access_key")
        if not key_id or not secret:
            raise UpstreamError(
                "bedrock deployment has no credentials: set aws_access_key_id and "
                "aws_secret_access_key (or api_key for a Bedrock API key)",
                status=500,
                type_="authentication_error",
            )
        creds = AwsCredentials(key_id, secret, _setting(dep, "aws_session_token"))
        return sign_headers(
            method="POST",
            url=url,
            headers=headers,
            body=body,
            creds=creds,
            region=_region(dep),
            service=_SERVICE,
            now=now,
        )

    def stream_parser(self, dep: Deployment) -> StreamParser:
        """ConverseStream answers in `application/vnd.amazon.eventstream` frames."""
        return EventStreamParser()

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The Converse, InvokeModel or Rerank body; idempotent with `map_params`."""
        if op is Op.EMBEDDING:
            return encoder.encode(embedding_request(body, base_model(dep)))
        if op is Op.RERANK:
            return encoder.encode(rerank_request(body, self._model_arn(dep)))
        if op is Op.IMAGE_GENERATION:
            return encoder.encode(image_request(body, base_model(dep), dep))
        params = self.map_params(dict(body), dep)
        return encoder.encode(converse_request(params, dep))

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """OpenAI chat completion / embeddings list, or Cohere's rerank shape."""
        if op is Op.EMBEDDING:
            return decode_embeddings(raw, base_model(dep), dep.model)
        if op is Op.RERANK:
            return decode_rerank(raw)
        if op is Op.IMAGE_GENERATION:
            return decode_image(raw, dep.model)
        return decode_converse(raw, dep.model)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """Per-stream state translating ConverseStream events into OpenAI chunks."""
        return ConverseStream(dep.model, include_usage, int(time.time()))

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """`{"message"}` plus `x-amzn-ErrorType`; throttling, context, content-filter by class."""
        return image_error(status, headers, body)

    def _model_arn(self, dep: Deployment) -> str:
        model = _model_id(dep)
        if model.startswith("arn:"):
            return model
        return f"arn:aws:bedrock:{_region(dep)}::foundation-model/{model}"
