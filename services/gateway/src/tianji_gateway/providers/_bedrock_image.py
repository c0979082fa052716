"""Bedrock image generation (InvokeModel), OpenAI `/v1/images/generations` shaped.

Why: each model family on Bedrock has its own InvokeModel body, and LiteLLM's
`bedrock/image/*_transformation.py` decide the mapping we must match. Amazon Nova
Canvas and Titan Image Generator take `taskType` + `textToImageParams` +
`imageGenerationConfig` and answer `{"images": [...]}`
(https://docs.aws.amazon.com/nova/latest/userguide/image-gen-req-resp-structure.html);
Stability SD3 / Stable Image take `{"prompt", "aspect_ratio", ...}` and answer
`{"images", "finish_reasons"}`; Stable Diffusion XL takes `text_prompts` and answers
`{"artifacts": [{"base64", "finishReason"}]}`. Bedrock only returns base64, so every
answer is `data[].b64_json` whatever `response_format` asked for (as LiteLLM does).
Content filtering shows up as "blocked by our content filters" errors or filtered
finish reasons; both become `ContentPolicyViolation`, which routing keys on.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import ContentPolicyViolation, InvalidRequest

from tianji_gateway.providers._bedrock_errors import http_error
from tianji_gateway.providers._bedrock_request import decode_param
from tianji_gateway.providers._bedrock_response import encoder
from tianji_gateway.providers.base import Decoded, Usage, error_from_status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.errors import UpstreamError

    from tianji_gateway.routing.deployment import Deployment

__all__ = ["decode_image", "image_error", "image_request"]

Block = dict[str, Any]

# OpenAI image parameters we translate (or, for `user`/`response_format`, consume).
_OPENAI_MAPPED = frozenset({"model", "prompt", "n", "size", "quality", "response_format", "user"})
# OpenAI image parameters no Bedrock family takes: dropped with drop_params, else a 400.
_OPENAI_UNSUPPORTED = frozenset({"style", "background", "moderation", "output_compression"})
# Amazon `imageGenerationConfig` fields a client may send at the top level.
_AMAZON_CONFIG = frozenset({"numberOfImages", "width", "height", "quality", "cfgScale", "seed"})
# Amazon `textToImageParams` fields a client may send at the top level.
_AMAZON_TEXT = frozenset({"negativeText"})
# LiteLLM's AmazonStability3Config aspect ratios, matched to the closest `size`.
_ASPECT_RATIOS: tuple[tuple[str, float], ...] = (
    ("16:9", 16 / 9),
    ("1:1", 1.0),
    ("21:9", 21 / 9),
    ("2:3", 2 / 3),
    ("3:2", 3 / 2),
    ("4:5", 4 / 5),
    ("5:4", 5 / 4),
    ("9:16", 9 / 16),
    ("9:21", 9 / 21),
)
# How Bedrock words a blocked prompt or image (Titan, Nova Canvas, Stability).
_FILTER_MARKERS = ("content filter", "filter reason", "content_filtered")


def _family(model: str) -> str:
    """`amazon`, `stability3` or `stability1`, by LiteLLM's model-name tests."""
    if model.startswith(("amazon.nova-canvas", "amazon.titan-image")):
        return "amazon"
    if model.startswith("stability."):
        if "sd3" in model or "stable-image" in model:
            return "stability3"
        return "stability1"
    raise InvalidRequest(
        "bedrock image generation supports amazon.nova-canvas-*, amazon.titan-image-* and "
        f"stability.* models, not {model!r}",
        param="model",
    )


def _size(params: Mapping[str, msgspec.Raw]) -> tuple[int, int] | None:
    """`"1024x768"` -> (1024, 768); `auto` or absent is None, anything else a 400."""
    size = decode_param(params, "size", str)
    if size is None or size == "auto":
        return None
    width, sep, height = size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise InvalidRequest(f"invalid 'size' {size!r}: expected WIDTHxHEIGHT", param="size")
    return int(width), int(height)


def _reject(names: list[str], dep: Deployment) -> None:
    """Raise the 400 LiteLLM raises for unsupported params, unless they are dropped."""
    for name in names:
        if not dep.drop_params and name not in dep.additional_drop_params:
            raise InvalidRequest(
                f"bedrock does not support parameter {name!r} for this image model. "
                "Set drop_params: true to drop it.",
                param=name,
                code="unsupported_parameter",
            )


def _extras(params: Mapping[str, msgspec.Raw], dep: Deployment) -> dict[str, msgspec.Raw]:
    """Vendor-native fields sent as they are; additional_drop_params removed."""
    skip = _OPENAI_MAPPED | _OPENAI_UNSUPPORTED | dep.additional_drop_params
    return {k: v for k, v in params.items() if k not in skip}


def _n(params: Mapping[str, msgspec.Raw]) -> int | None:
    return decode_param(params, "n", int)


def _amazon_quality(value: str | None) -> str | None:
    """LiteLLM's Titan mapping: hd/premium/high -> premium, standard/medium/low -> standard."""
    if value in ("hd", "premium", "high"):
        return "premium"
    if value in ("standard", "medium", "low"):
        return "standard"
    return None


def _amazon_request(params: Mapping[str, msgspec.Raw], prompt: str, dep: Deployment) -> Block:
    extras = _extras(params, dep)
    task = decode_param(extras, "taskType", str) or "TEXT_IMAGE"
    if task != "TEXT_IMAGE":
        raise InvalidRequest(
            f"bedrock image generation supports taskType TEXT_IMAGE, not {task!r}",
            param="taskType",
        )
    config: Block = {}
    n, size = _n(params), _size(params)
    if n is not None:
        config["numberOfImages"] = n
    if size is not None:
        config["width"], config["height"] = size
    quality = _amazon_quality(decode_param(params, "quality", str))
    if quality is not None:
        config["quality"] = quality
    text: Block = {"text": prompt}
    body: Block = {"taskType": task}
    for key, value in extras.items():
        if key in _AMAZON_CONFIG:
            config[key] = value
        elif key in _AMAZON_TEXT:
            text[key] = value
        elif key not in ("taskType", "textToImageParams", "imageGenerationConfig"):
            body[key] = value
    # The client's own nested objects win over mapped OpenAI values (LiteLLM's Titan order).
    text.update(decode_param(extras, "textToImageParams", dict[str, Any]) or {})
    config.update(decode_param(extras, "imageGenerationConfig", dict[str, Any]) or {})
    body["textToImageParams"] = text
    if config:
        body["imageGenerationConfig"] = config
    return body


def _aspect_ratio(width: int, height: int) -> str:
    wanted = width / height if height else 1.0
    return min(_ASPECT_RATIOS, key=lambda item: abs(item[1] - wanted))[0]


def _stability_request(
    params: Mapping[str, msgspec.Raw], prompt: str, dep: Deployment, family: str
) -> Block:
    n = _n(params)
    _reject(["n"] if n is not None and n > 1 else [], dep)
    _reject(["quality"] if "quality" in params else [], dep)
    size = _size(params)
    if family == "stability3":
        body: Block = {"prompt": prompt}
        if size is not None:
            body["aspect_ratio"] = _aspect_ratio(*size)
    else:
        body = {"text_prompts": [{"text": prompt.replace("\n", " "), "weight": 1}]}
        if size is not None:
            body["width"], body["height"] = size
    body.update(_extras(params, dep))  # native fields (seed, mode, cfg_scale...) win
    return body


def image_request(params: Mapping[str, msgspec.Raw], family_model: str, dep: Deployment) -> Block:
    """The InvokeModel body for an OpenAI image generation request."""
    params = {k: v for k, v in params.items() if k not in dep.additional_drop_params}
    prompt = decode_param(params, "prompt", str)
    if not prompt:
        raise InvalidRequest("missing required parameter: 'prompt'", param="prompt")
    family = _family(family_model)
    unsupported = sorted(k for k in params if k in _OPENAI_UNSUPPORTED)
    if family == "amazon" and "output_format" in params:
        unsupported.append("output_format")  # a Stability field; Amazon answers PNG
    _reject(unsupported, dep)
    if family == "amazon":
        plain = {k: v for k, v in params.items() if k != "output_format"}
        return _amazon_request(plain, prompt, dep)
    return _stability_request(params, prompt, dep, family)


class _Artifact(msgspec.Struct, rename="camel"):
    base64: str | None = None
    finish_reason: str | None = None


class _ImageAnswer(msgspec.Struct):
    images: list[str] = []
    artifacts: list[_Artifact] = []
    finish_reasons: list[str | None] = []
    error: str | None = None


def _filtered(text: str | None) -> bool:
    return text is not None and any(m in text.lower() for m in _FILTER_MARKERS)


def _answer_images(answer: _ImageAnswer) -> tuple[list[str], str | None]:
    """The base64 images kept, and why some were withheld (a finish reason or error)."""
    reasons = answer.finish_reasons
    kept = [img for i, img in enumerate(answer.images) if i >= len(reasons) or not reasons[i]]
    why = next((r for r in reasons if r), None)
    for art in answer.artifacts:
        if art.base64 and art.finish_reason in (None, "SUCCESS"):
            kept.append(art.base64)
        elif art.finish_reason:
            why = why or art.finish_reason
    return kept, answer.error or why


def decode_image(raw: bytes, model: str) -> Decoded:
    """OpenAI's images answer `{"created", "data": [{"b64_json"}]}` from any family."""
    try:
        answer = msgspec.json.decode(raw, type=_ImageAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise error_from_status(502, f"malformed bedrock image response: {exc}") from exc
    images, why = _answer_images(answer)
    if not images and why is not None:
        if _filtered(why):
            raise ContentPolicyViolation(
                f"bedrock blocked the image: {why}",
                status=400,
                type_="invalid_request_error",
                code="content_policy_violation",
            )
        raise error_from_status(502, f"bedrock image generation failed: {why}")
    out = {"created": int(time.time()), "data": [{"b64_json": img} for img in images]}
    return Decoded(body=encoder.encode(out), usage=Usage(), model=model)


def image_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """Bedrock's HTTP error mapping, plus the image models' "content filters" wording.

    Why: Titan and Nova Canvas refuse with a ValidationException saying the request
    "has been blocked by our content filters", which the shared chat markers do not
    cover; it must still become `ContentPolicyViolation`.
    """
    err = http_error(status, headers, body)
    if isinstance(err, ContentPolicyViolation) or not _filtered(err.message):
        return err
    upgraded = error_from_status(
        status, err.message, type_=err.instance_type, code="content_policy_violation"
    )
    upgraded.headers.update(err.headers)
    return upgraded
