"""Bedrock image generation: InvokeModel bodies per model family, answers, errors."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import ContentPolicyViolation, InvalidRequest, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.bedrock import BedrockAdapter
from tianji_gateway.routing.deployment import Deployment

ADAPTER = BedrockAdapter()
NOVA = "amazon.nova-canvas-v1:0"
CREDS = {
    "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "aws_region_name": "us-east-1",
}
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def dep(model: str = NOVA, **kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "img",
        "provider": "bedrock",
        "model": model,
        "settings": dict(CREDS),
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(body: dict[str, Any], model: str = NOVA, **kw: Any) -> dict[str, Any]:
    d = dep(model, **kw)
    params = ADAPTER.map_params(raw_body({"model": model, **body}), d, Op.IMAGE_GENERATION)
    out: dict[str, Any] = json.loads(ADAPTER.encode_request(params, d, Op.IMAGE_GENERATION, False))
    return out


def test_image_generation_is_served() -> None:
    assert Op.IMAGE_GENERATION in ADAPTER.caps.ops


def test_url_is_invoke_with_model_id() -> None:
    assert (
        ADAPTER.url(dep(), Op.IMAGE_GENERATION, False)
        == "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-canvas-v1:0/invoke"
    )
    custom = dep(api_base="http://127.0.0.1:9999/")
    assert (
        ADAPTER.url(custom, Op.IMAGE_GENERATION, False)
        == "http://127.0.0.1:9999/model/amazon.nova-canvas-v1:0/invoke"
    )


def test_sigv4_header_present() -> None:
    d = dep()
    url = ADAPTER.url(d, Op.IMAGE_GENERATION, False)
    body = ADAPTER.encode_request(raw_body({"prompt": "a cat"}), d, Op.IMAGE_GENERATION, False)
    signed = dict(ADAPTER.sign(d, url, ADAPTER.headers(d), body, 1_700_000_000.0))
    auth = signed["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20231114/us-east-1/")
    assert "/bedrock/aws4_request" in auth
    assert "SignedHeaders=" in auth and "Signature=" in auth
    assert signed["x-amz-date"] == "20231114T221320Z"
    assert signed["content-type"] == "application/json"


def test_nova_canvas_body_field_by_field() -> None:
    body = encode(
        {
            "prompt": "a red fox",
            "n": 2,
            "size": "1024x768",
            "quality": "hd",
            "seed": 42,
            "cfgScale": 6.5,
            "negativeText": "blurry",
            "response_format": "b64_json",
            "user": "u-1",
        }
    )
    assert body["taskType"] == "TEXT_IMAGE"
    assert body["textToImageParams"] == {"text": "a red fox", "negativeText": "blurry"}
    assert body["imageGenerationConfig"] == {
        "numberOfImages": 2,
        "width": 1024,
        "height": 768,
        "quality": "premium",
        "seed": 42,
        "cfgScale": 6.5,
    }
    assert set(body) == {"taskType", "textToImageParams", "imageGenerationConfig"}


def test_titan_quality_standard_and_native_config_wins() -> None:
    body = encode(
        {
            "prompt": "a lake",
            "size": "512x512",
            "quality": "standard",
            "imageGenerationConfig": {"width": 768, "cfgScale": 8},
        },
        model="amazon.titan-image-generator-v2:0",
    )
    assert body == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lake"},
        "imageGenerationConfig": {
            "width": 768,
            "height": 512,
            "quality": "standard",
            "cfgScale": 8,
        },
    }


def test_inference_profile_prefix_is_family_aware() -> None:
    body = encode({"prompt": "x"}, model="us.amazon.nova-canvas-v1:0")
    assert body == {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}


def test_stability3_body() -> None:
    body = encode(
        {
            "prompt": "a castle",
            "size": "1792x1024",
            "seed": 7,
            "output_format": "jpeg",
            "mode": "text-to-image",
            "n": 1,
        },
        model="stability.sd3-5-large-v1:0",
    )
    assert body == {
        "prompt": "a castle",
        "aspect_ratio": "16:9",
        "seed": 7,
        "output_format": "jpeg",
        "mode": "text-to-image",
    }


def test_stable_image_ultra_square() -> None:
    body = encode({"prompt": "p", "size": "1024x1024"}, model="stability.stable-image-ultra-v1:1")
    assert body == {"prompt": "p", "aspect_ratio": "1:1"}


def test_sdxl_body() -> None:
    body = encode(
        {"prompt": "a\nboat", "size": "1024x1024", "cfg_scale": 10, "steps": 30},
        model="stability.stable-diffusion-xl-v1",
    )
    assert body == {
        "text_prompts": [{"text": "a boat", "weight": 1}],
        "width": 1024,
        "height": 1024,
        "cfg_scale": 10,
        "steps": 30,
    }


def test_unsupported_param_rejected_or_dropped() -> None:
    with pytest.raises(InvalidRequest) as info:
        encode({"prompt": "p", "style": "vivid"})
    assert info.value.param == "style"
    assert "textToImageParams" in encode({"prompt": "p", "style": "vivid"}, drop_params=True)
    with pytest.raises(InvalidRequest):
        encode({"prompt": "p", "n": 3}, model="stability.sd3-large-v1:0")
    assert encode({"prompt": "p", "n": 3}, model="stability.sd3-large-v1:0", drop_params=True) == {
        "prompt": "p"
    }


def test_chat_rules_do_not_touch_image_seed() -> None:
    # `seed` is unsupported on Converse, but a native image field.
    assert encode({"prompt": "p", "seed": 1}, model="stability.sd3-large-v1:0")["seed"] == 1


def test_bad_size_and_unknown_family() -> None:
    with pytest.raises(InvalidRequest) as info:
        encode({"prompt": "p", "size": "big"})
    assert info.value.param == "size"
    with pytest.raises(InvalidRequest) as info:
        encode({"prompt": "p"}, model="meta.llama3-70b-instruct-v1:0")
    assert info.value.param == "model"


def decode(answer: dict[str, Any], model: str = NOVA) -> dict[str, Any]:
    decoded = ADAPTER.decode_response(json.dumps(answer).encode(), dep(model), Op.IMAGE_GENERATION)
    out: dict[str, Any] = json.loads(decoded.body)
    return out


def test_amazon_response_mapping() -> None:
    out = decode({"images": [PNG_B64, PNG_B64]})
    assert isinstance(out["created"], int)
    assert out["data"] == [{"b64_json": PNG_B64}, {"b64_json": PNG_B64}]


def test_stability3_response_mapping() -> None:
    out = decode(
        {"seeds": [7], "finish_reasons": [None], "images": [PNG_B64]}, "stability.sd3-large-v1:0"
    )
    assert out["data"] == [{"b64_json": PNG_B64}]


def test_sdxl_response_mapping() -> None:
    out = decode(
        {
            "result": "success",
            "artifacts": [{"seed": 1, "base64": PNG_B64, "finishReason": "SUCCESS"}],
        },
        "stability.stable-diffusion-xl-v1",
    )
    assert out["data"] == [{"b64_json": PNG_B64}]


def test_filtered_answers_are_content_policy() -> None:
    with pytest.raises(ContentPolicyViolation):
        decode({"seeds": [7], "finish_reasons": ["Filter reason: prompt"], "images": []})
    with pytest.raises(ContentPolicyViolation):
        decode({"artifacts": [{"seed": 1, "base64": "", "finishReason": "CONTENT_FILTERED"}]})


def _error(status: int, kind: str, message: str) -> Exception:
    headers = {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return ADAPTER.map_error(status, headers, json.dumps({"message": message}).encode())


def test_content_filter_error_is_content_policy() -> None:
    err = _error(
        400,
        "ValidationException",
        "This request has been blocked by our content filters. Our filters automatically "
        "flagged this prompt because it may conflict our AUP or AWS Responsible AI Policy.",
    )
    assert isinstance(err, ContentPolicyViolation)
    assert err.http_status == 400
    assert err.body().error.code == "content_policy_violation"


def test_throttling_still_rate_limited() -> None:
    err = _error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
    assert isinstance(err, UpstreamRateLimited)


def test_additional_drop_params_removes_mapped_params() -> None:
    body = encode(
        {"prompt": "p", "quality": "hd", "seed": 3},
        additional_drop_params=frozenset({"quality", "seed"}),
    )
    assert body == {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "p"}}
