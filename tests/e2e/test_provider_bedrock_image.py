"""`client.images.generate` through `tianji up` to a fake Bedrock InvokeModel, SigV4-checked."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_bedrock_image import PNG_B64, FakeBedrockImage
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

NOVA = "amazon.nova-canvas-v1:0"
SD3 = "stability.sd3-5-large-v1:0"


def _config(fake: FakeBedrockImage) -> str:
    creds = f"""api_base: {fake.base}
      aws_access_key_id: AKIDFAKEIMAGE
      aws_secret_access_key: fake/image+secret
      aws_region_name: us-east-1
      num_retries: 0"""
    return f"""
model_list:
  - model_name: nova-canvas
    litellm_params:
      model: bedrock/{NOVA}
      {creds}
  - model_name: sd3
    litellm_params:
      model: bedrock/{SD3}
      {creds}
  - model_name: nova-blocked
    litellm_params:
      model: bedrock/amazon.nova-canvas-blocked
      {creds}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrockImage]:
    server = FakeBedrockImage().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tianji(fake: FakeBedrockImage) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=_config(fake))
    yield proc
    proc.stop()


def client(tianji: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tianji.base}/v1", api_key=MASTER_KEY, max_retries=0)


def test_nova_canvas_images(tianji: TianjiProcess, fake: FakeBedrockImage) -> None:
    resp = client(tianji).images.generate(
        model="nova-canvas",
        prompt="a lighthouse at dusk",
        size="1024x1024",
        n=2,
        quality="hd",
        response_format="b64_json",
    )
    assert resp.created > 0
    assert resp.data is not None
    assert [img.b64_json for img in resp.data] == [PNG_B64, PNG_B64]
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.raw_path == f"/model/{NOVA}/invoke"
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFAKEIMAGE/")
    assert sent.body == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lighthouse at dusk"},
        "imageGenerationConfig": {
            "numberOfImages": 2,
            "width": 1024,
            "height": 1024,
            "quality": "premium",
        },
    }


def test_stability_images(tianji: TianjiProcess, fake: FakeBedrockImage) -> None:
    resp = client(tianji).images.generate(
        model="sd3",
        prompt="a castle",
        size="1024x1024",
        response_format="b64_json",
        extra_body={"seed": 7, "output_format": "png"},
    )
    assert resp.data is not None and resp.data[0].b64_json == PNG_B64
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.raw_path == f"/model/{SD3}/invoke"
    assert sent.body == {
        "prompt": "a castle",
        "aspect_ratio": "1:1",
        "seed": 7,
        "output_format": "png",
    }


def test_content_filter_is_400(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(tianji).images.generate(
            model="nova-blocked", prompt="something", size="1024x1024", response_format="b64_json"
        )
    assert info.value.code == "content_policy_violation"
