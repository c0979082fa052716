"""Provider resolution, deployment building and the minimal router."""

from __future__ import annotations

from pathlib import Path

import pytest
from tianji_common.config.loader import load_config_text
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.registry import KNOWN_LITELLM_PROVIDERS, load_adapters
from tianji_gateway.routing.build import build_deployments
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.routing.resolve import UnsupportedProvider, resolve_provider
from tianji_gateway.routing.router import Router

SERVED = {"openai", "anthropic"}


def resolve(model: str, custom: str | None = None, base: str | None = None) -> tuple[str, str]:
    return resolve_provider(model, custom, base, served=SERVED, known=KNOWN_LITELLM_PROVIDERS)


@pytest.mark.parametrize(
    ("model", "custom", "base", "expected"),
    [
        ("openai/gpt-4o", None, None, ("openai", "gpt-4o")),
        ("anthropic/claude-3-5-sonnet", None, None, ("anthropic", "claude-3-5-sonnet")),
        ("gpt-4o-mini", None, None, ("openai", "gpt-4o-mini")),
        ("claude-sonnet-4", None, None, ("anthropic", "claude-sonnet-4")),
        ("meta-llama/Llama-3", "openai", "http://vllm:8000/v1", ("openai", "meta-llama/Llama-3")),
        ("openai/my-model", "openai", None, ("openai", "my-model")),
        ("my-model", None, "https://api.anthropic.com", ("anthropic", "my-model")),
    ],
)
def test_resolution_order(
    model: str, custom: str | None, base: str | None, expected: tuple[str, str]
) -> None:
    assert resolve(model, custom, base) == expected


def test_unknown_prefix_is_unsupported_provider() -> None:
    with pytest.raises(UnsupportedProvider) as e:
        resolve("foo/bar")
    assert e.value.message == "unsupported provider: foo"
    assert e.value.http_status == 400


def test_known_but_unserved_provider_names_it() -> None:
    with pytest.raises(UnsupportedProvider) as e:
        resolve("replicate/meta/llama")
    assert e.value.message.startswith("unsupported provider: replicate")


def test_bare_unknown_model_asks_for_prefix() -> None:
    with pytest.raises(InvalidRequest, match="unsupported provider: cannot infer"):
        resolve("mystery-model")


CONFIG = """
model_list:
  - model_name: chat
    litellm_params: {model: openai/a, api_base: "http://a/v1", weight: 3, temperature: 0.2}
  - model_name: chat
    litellm_params: {model: openai/b, api_base: "http://b/v1", weight: 1}
  - model_name: rpm-group
    litellm_params: {model: openai/x, rpm: 100}
    model_info: {id: fixed-id}
  - model_name: rpm-group
    litellm_params: {model: openai/y, rpm: 300}
  - model_name: "openai/*"
    litellm_params: {model: "openai/*"}
  - model_name: "*"
    litellm_params: {model: "*"}
  - model_name: broken
    litellm_params: {model: nosuch/thing}
litellm_settings: {drop_params: true}
router_settings: {num_retries: 4, timeout: 30, model_group_alias: {fast: chat}}
"""


def build() -> tuple[list[Deployment], Router]:
    cfg = load_config_text(CONFIG, Path("."), {"OPENAI_API_KEY": "sk-env"}).config
    adapters = load_adapters()
    res = build_deployments(
        cfg, {"OPENAI_API_KEY": "sk-env", "ANTHROPIC_API_KEY": "sk-ant"}, adapters
    )
    assert len(res.warnings) == 1 and "nosuch" in res.warnings[0]
    router = Router(
        res.deployments, served=adapters.keys(), aliases={"fast": "chat"}, broken=res.broken
    )
    return list(res.deployments), router


def test_build_resolves_credentials_defaults_and_ids() -> None:
    deps, _ = build()
    a = deps[0]
    assert (a.provider, a.model, a.api_key, a.timeout, a.num_retries) == (
        "openai",
        "a",
        "sk-env",
        30.0,
        4,
    )
    assert bytes(a.default_body["temperature"]) == b"0.2"
    assert a.drop_params is True
    assert deps[2].id == "fixed-id"
    assert len({d.id for d in deps}) == len(deps)


def test_weighted_pick_follows_weights() -> None:
    _, router = build()
    group = router.resolve("chat")
    points = iter(i / 100 for i in range(100))
    router2 = Router(group.deployments, served=SERVED, rng=lambda: next(points))
    g2 = router2.resolve("chat")
    picks = [router2.pick(g2).model for _ in range(100)]
    assert picks.count("a") == 75 and picks.count("b") == 25


def test_rpm_used_as_weight_when_no_weight() -> None:
    _, router = build()
    assert router.resolve("rpm-group").weights == (100.0, 300.0)


def test_pick_skips_tried_deployments() -> None:
    _, router = build()
    group = router.resolve("chat")
    first = group.deployments[0]
    assert all(router.pick(group, {first.id}).id != first.id for _ in range(20))


def test_alias_and_wildcards() -> None:
    _, router = build()
    assert router.resolve("fast").name == "chat"
    g = router.resolve("openai/gpt-4.1")
    assert (g.deployments[0].provider, g.deployments[0].model) == ("openai", "gpt-4.1")
    g = router.resolve("anthropic/claude-x")
    assert (g.deployments[0].provider, g.deployments[0].model) == ("anthropic", "claude-x")


def test_wildcard_captures_fill_the_template() -> None:
    cfg = load_config_text(
        "model_list:\n"
        "  - {model_name: 'team-a/*', litellm_params: {model: 'openai/*'}}\n"
        "  - {model_name: 'claude-*', litellm_params: {model: 'anthropic/claude-*'}}\n",
        Path("."),
        {},
    ).config
    adapters = load_adapters()
    router = Router(build_deployments(cfg, {}, adapters).deployments, served=adapters.keys())
    dep = router.resolve("team-a/gpt-4o").deployments[0]
    assert (dep.provider, dep.model, dep.model_name) == ("openai", "gpt-4o", "team-a/gpt-4o")
    dep = router.resolve("claude-3-haiku").deployments[0]
    assert (dep.provider, dep.model) == ("anthropic", "claude-3-haiku")


def test_wildcard_unknown_provider_is_400() -> None:
    _, router = build()
    with pytest.raises(UnsupportedProvider, match="unsupported provider: foo"):
        router.resolve("foo/bar")


def test_broken_group_answers_its_error() -> None:
    _, router = build()
    with pytest.raises(UnsupportedProvider, match="nosuch"):
        router.resolve("broken")


def test_unknown_model_without_wildcard() -> None:
    cfg = load_config_text(
        "model_list: [{model_name: m, litellm_params: {model: openai/m}}]", Path("."), {}
    ).config
    adapters = load_adapters()
    router = Router(build_deployments(cfg, {}, adapters).deployments, served=adapters.keys())
    with pytest.raises(InvalidRequest, match="Invalid model name passed in model=zzz"):
        router.resolve("zzz")


def test_every_op_has_a_litellm_call_type() -> None:
    from tianji_gateway.pipeline import _CALL_TYPES
    from tianji_gateway.providers.base import Op

    assert set(_CALL_TYPES) == set(Op)


def test_env_fallbacks_and_env_settings_resolved_at_load() -> None:
    cfg = load_config_text(
        "model_list:\n"
        "  - {model_name: c, litellm_params: {model: cohere/command-r}}\n"
        "  - {model_name: cf, litellm_params: {model: cloudflare/@cf/meta/llama-3-8b}}\n",
        Path("."),
        {},
    ).config
    env = {
        "CO_API_KEY": "co-fallback",
        "CLOUDFLARE_ACCOUNT_ID": "acct-1",
        "CLOUDFLARE_API_KEY": "cf-key",
    }
    deps = {d.model_name: d for d in build_deployments(cfg, env, load_adapters()).deployments}
    assert deps["c"].api_key == "co-fallback"
    assert deps["cf"].settings["cloudflare_account_id"] == "acct-1"


def test_openai_stream_error_chunk_raises() -> None:
    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import OpenAIChunkRelay
    from tianji_gateway.streaming.sse import SSEEvent

    relay = OpenAIChunkRelay(include_usage=False)
    assert relay.feed(SSEEvent(b'{"choices":[{"delta":{"content":"a"}}]}')) != []
    with pytest.raises(UpstreamError, match="overloaded"):
        relay.feed(SSEEvent(b'{"error":{"message":"overloaded","type":"server_error"}}'))


def test_registry_index_matches_the_group_files() -> None:
    import importlib

    from tianji_gateway.providers import registry

    ids: dict[str, str] = {}
    hosts: dict[str, str] = {}
    for name in registry.GROUPS:
        group = importlib.import_module("tianji_gateway.providers." + name)
        for provider, cls in group.ADAPTERS.items():
            assert provider not in ids, f"{provider} registered twice"
            ids[provider] = name
            assert registry.ADAPTERS[provider] is cls
        hosts.update(group.HOSTS)
    assert ids == dict(registry._INDEX)
    assert hosts == dict(registry.HOSTS)


def test_adapters_are_imported_only_when_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tianji_gateway.providers.registry import load_adapters\n"
        "a = load_adapters()\n"
        "assert 'bedrock' in a.keys()\n"
        "assert 'tianji_gateway.providers.bedrock' not in sys.modules\n"
        "assert a['bedrock'].name == 'bedrock'\n"
        "assert 'tianji_gateway.providers.bedrock' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
