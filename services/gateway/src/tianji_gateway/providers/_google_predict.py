"""Embeddings and image generation on Google: AI Studio batchEmbedContents, Vertex predict.

Why: OpenAI's `/v1/embeddings` and `/v1/images/generations` map onto three Google
shapes: AI Studio `models/{m}:batchEmbedContents` (LiteLLM's
`batch_embed_content_transformation.py`), Vertex text-embedding `:predict` with
`instances` (LiteLLM's `vertex_embeddings`), and Imagen `:predict` (LiteLLM's
`vertex_imagen_transformation.py`). Responses become OpenAI's list shapes.
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import Any

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Decoded, Usage, error_from_status

__all__ = [
    "gemini_embedding_request",
    "gemini_embedding_response",
    "imagen_request",
    "imagen_response",
    "vertex_embedding_request",
    "vertex_embedding_response",
]

Obj = dict[str, Any]
Params = dict[str, msgspec.Raw]

# LiteLLM's `_map_size_to_aspect_ratio` for Imagen.
_ASPECT_RATIOS = MappingProxyType(
    {
        "1024x1024": "1:1",
        "1792x1024": "16:9",
        "1024x1792": "9:16",
        "1280x896": "4:3",
        "896x1280": "3:4",
    }
)
_encoder = msgspec.json.Encoder()


def _get(params: Params, key: str) -> Any:
    raw = params.get(key)
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"invalid {key!r}: {exc}", param=key) from exc


def _texts(params: Params) -> list[str]:
    value = _get(params, "input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise InvalidRequest(
        "input must be a string or a list of strings for Google embeddings", param="input"
    )


def _decode_json(raw: bytes, what: str) -> Obj:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise error_from_status(502, f"malformed {what} response: {exc}") from exc
    if not isinstance(value, dict):
        raise error_from_status(502, f"malformed {what} response: not an object")
    return value


def _embedding_list(vectors: list[Any], model: str, usage: Usage) -> Decoded:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens},
    }
    return Decoded(body=_encoder.encode(body), usage=usage, model=model)


# --- AI Studio batchEmbedContents ----------------------------------------------------


def gemini_embedding_request(params: Params, model: str) -> bytes:
    """One `EmbedContentRequest` per input text; `dimensions` is outputDimensionality."""
    extra: Obj = {}
    dimensions = _get(params, "dimensions")
    if dimensions is not None:
        extra["outputDimensionality"] = dimensions
    task = _get(params, "task_type")
    if task is not None:
        extra["taskType"] = task
    requests = [
        {"model": "models/" + model, "content": {"parts": [{"text": text}]}, **extra}
        for text in _texts(params)
    ]
    return _encoder.encode({"requests": requests})


def gemini_embedding_response(raw: bytes, model: str) -> Decoded:
    """`{"embeddings": [{"values": [...]}]}` as OpenAI's list.

    batchEmbedContents reports no token counts unless it sends `usageMetadata`; LiteLLM
    estimates them with a local tokenizer, which a gateway cannot do without the
    request, so usage is 0 then.
    """
    body = _decode_json(raw, "gemini embedding")
    vectors = [e.get("values", []) for e in body.get("embeddings", []) if isinstance(e, dict)]
    meta = body.get("usageMetadata") or {}
    prompt = int(meta.get("promptTokenCount", 0)) if isinstance(meta, dict) else 0
    usage = Usage(prompt_tokens=prompt, total_tokens=prompt)
    return _embedding_list(vectors, model, usage)


# --- Vertex text-embedding :predict --------------------------------------------------


def vertex_embedding_request(params: Params) -> bytes:
    """`{"instances": [{"content": ...}], "parameters": {...}}` for `:predict`."""
    task = _get(params, "task_type")
    instances = [
        {"content": text, **({"task_type": task} if task is not None else {})}
        for text in _texts(params)
    ]
    out: Obj = {"instances": instances}
    dimensions = _get(params, "dimensions")
    if dimensions is not None:
        out["parameters"] = {"outputDimensionality": dimensions}
    return _encoder.encode(out)


def vertex_embedding_response(raw: bytes, model: str) -> Decoded:
    """predictions[].embeddings.values, with usage summed from statistics.token_count."""
    body = _decode_json(raw, "vertex embedding")
    vectors: list[Any] = []
    tokens = 0
    for prediction in body.get("predictions", []):
        embeddings = prediction.get("embeddings", {}) if isinstance(prediction, dict) else {}
        vectors.append(embeddings.get("values", []))
        tokens += int((embeddings.get("statistics") or {}).get("token_count", 0))
    return _embedding_list(vectors, model, Usage(prompt_tokens=tokens, total_tokens=tokens))


# --- Imagen :predict -----------------------------------------------------------------


def imagen_request(params: Params) -> bytes:
    """The prompt as one instance; `n` is sampleCount, `size` an aspect ratio."""
    prompt = _get(params, "prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("prompt is required", param="prompt")
    parameters: Obj = {"sampleCount": _get(params, "n") or 1}
    size = _get(params, "size")
    if isinstance(size, str):
        parameters["aspectRatio"] = _ASPECT_RATIOS.get(size, "1:1")
    return _encoder.encode({"instances": [{"prompt": prompt}], "parameters": parameters})


def imagen_response(raw: bytes) -> Decoded:
    """`predictions[].bytesBase64Encoded` as OpenAI `data[].b64_json`."""
    body = _decode_json(raw, "imagen")
    data = [
        {"b64_json": p["bytesBase64Encoded"]}
        for p in body.get("predictions", [])
        if isinstance(p, dict) and "bytesBase64Encoded" in p
    ]
    out = {"created": int(time.time()), "data": data}
    return Decoded(body=_encoder.encode(out), usage=Usage())
