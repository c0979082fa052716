"""End-to-end fixtures: a fake vendor on a real socket and `tianji up` as a process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess, start_tianji

MASTER_KEY = "sk-e2e-master-0123456789abcdef"


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def e2e_config(upstream: FakeUpstream, extra: str = "") -> str:
    """A LiteLLM-format config pointing every deployment at the fake vendor."""
    return f"""
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini-ok
      api_base: {upstream.base}/v1
      api_key: sk-upstream-openai-secret
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-ok
      api_base: {upstream.base}
      api_key: sk-ant-upstream-secret
  - model_name: limited
    litellm_params: {{model: openai/m-429, api_base: "{upstream.base}/v1", api_key: k, num_retries: 0}}
  - model_name: broken-upstream
    litellm_params: {{model: openai/m-500, api_base: "{upstream.base}/v1", api_key: k, num_retries: 1}}
  - model_name: flaky
    litellm_params: {{model: openai/m-flaky, api_base: "{upstream.base}/v1", api_key: k, num_retries: 2}}
  - model_name: gated
    litellm_params: {{model: openai/m-gated, api_base: "{upstream.base}/v1", api_key: k}}
  - model_name: slow
    litellm_params: {{model: openai/m-slow, api_base: "{upstream.base}/v1", api_key: k}}
  - model_name: hangs
    litellm_params: {{model: openai/m-hang, api_base: "{upstream.base}/v1", api_key: k,
                      timeout: 0.5, num_retries: 0}}
  - model_name: defaults
    litellm_params: {{model: openai/m-ok, api_base: "{upstream.base}/v1", api_key: k,
                      temperature: 0.1, max_tokens: 99}}
  - model_name: wild/*
    litellm_params: {{model: "openai/*", api_base: "{upstream.base}/v1", api_key: k}}
  - model_name: embed
    litellm_params: {{model: openai/text-embedding-3-small, api_base: "{upstream.base}/v1",
                      api_key: k}}
  - model_name: odd
    litellm_params: {{model: foo/bar}}
litellm_settings:
  drop_params: true
general_settings:
  master_key: {MASTER_KEY}
  max_request_size_mb: 1
{extra}
"""


@pytest.fixture(scope="module")
def tianji(upstream: FakeUpstream) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=e2e_config(upstream))
    yield proc
    proc.stop()
