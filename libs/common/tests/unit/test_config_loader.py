"""Loading LiteLLM config files: good files, bad files, includes and env references."""

from __future__ import annotations

from pathlib import Path

import pytest
from tianji_common.config.fields import NOT_IMPLEMENTED
from tianji_common.config.loader import load_config, load_config_text
from tianji_common.config.model import ProxyConfig
from tianji_common.config.report import ConfigError, ConfigReport

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "configs"
EXAMPLE = ROOT / "examples" / "config.yaml"

BIG_ENV = {
    "AZURE_API_BASE": "https://eu.example.openai.azure.com",
    "AZURE_API_KEY": "azure-secret",
    "OPENAI_API_KEY": "sk-openai-secret",
    "AWS_ACCESS_KEY_ID": "AKIA-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "LITELLM_MASTER_KEY": "sk-master-secret",
    "DATABASE_URL": "postgresql://localhost/test",
    "LOCAL_KEY": "local-secret",
}


def lines(report: ConfigReport) -> list[str]:
    return report.render().splitlines()


def load_text(text: str, env: dict[str, str] | None = None) -> tuple[ProxyConfig, list[str]]:
    result = load_config_text(text, Path("."), env or {})
    return result.config, lines(result.report)


def load_errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, Path("."), env or {})
    return lines(info.value.report)


# --- good files ---------------------------------------------------------------------------


def test_example_config_loads_without_keys() -> None:
    result = load_config(EXAMPLE, env={})
    cfg = result.config
    assert [m.model_name for m in cfg.model_list] == ["gpt-4o-mini", "claude-sonnet"]
    assert cfg.model_list[0].litellm_params.model == "openai/gpt-4o-mini"
    assert cfg.model_list[1].litellm_params.model == "anthropic/claude-sonnet-4-20250514"
    assert cfg.litellm_settings.drop_params is True
    assert cfg.router_settings.num_retries == 2
    assert cfg.general_settings.master_key is None
    assert result.report.errors == []
    assert lines(result.report) == [
        "warning: model_list[0].litellm_params.api_key: "
        "environment variable 'OPENAI_API_KEY' is not set; using null",
        "warning: model_list[1].litellm_params.api_key: "
        "environment variable 'ANTHROPIC_API_KEY' is not set; using null",
    ]


def test_example_config_with_keys_is_clean() -> None:
    env = {"OPENAI_API_KEY": "sk-a", "ANTHROPIC_API_KEY": "sk-b"}
    result = load_config(EXAMPLE, env=env)
    assert result.report.findings == []
    assert result.config.model_list[0].litellm_params.api_key == "sk-a"
    assert result.config.model_list[1].litellm_params.api_key == "sk-b"


def test_big_litellm_config_types() -> None:
    cfg = load_config(FIXTURES / "big_litellm.yaml", env=BIG_ENV).config
    azure, openai, bedrock, local, embed = (m.litellm_params for m in cfg.model_list)
    assert (azure.api_base, azure.api_key) == (
        "https://eu.example.openai.azure.com",
        "azure-secret",
    )
    assert (azure.rpm, azure.tpm, azure.weight, azure.timeout) == (900, 100000, 2.0, 30.0)
    assert azure.tags == ["eu", "default"]
    info = cfg.model_list[0].model_info
    assert (info.id, info.mode, info.access_groups, info.max_input_tokens) == (
        "gpt-4o-eu",
        "chat",
        ["beta"],
        128000,
    )
    assert info.extra == {"supports_vision": True, "input_cost_per_token": 0.0000025}
    assert openai.extra == {"temperature": 0.2, "max_tokens": 1024}
    assert openai.extra_headers == {"X-Team": "platform"}
    assert openai.additional_drop_params == ["logit_bias"]
    assert bedrock.settings == {
        "aws_region_name": "us-east-1",
        "aws_access_key_id": "AKIA-secret",
        "aws_secret_access_key": "aws-secret",
    }
    assert bedrock.extra == {}
    assert local.api_base == "http://localhost:8000/v1"
    assert local.extra == {"reasoning_effort": "low", "top_k": 20, "repetition_penalty": 1.1}
    assert embed.settings == {"input_cost_per_token": 0.00000002}
    assert cfg.litellm_settings.model_alias_map == {"gpt4": "gpt-4o"}
    assert cfg.litellm_settings.request_timeout == 600.0
    assert "cache_params" in cfg.litellm_settings.extra
    assert cfg.general_settings.master_key == "sk-master-secret"
    assert cfg.general_settings.extra["store_model_in_db"] is True
    assert cfg.router_settings.model_group_alias == {"gpt-4": "gpt-4o"}
    assert cfg.router_settings.extra["redis_host"] == "localhost"  # from environment_variables
    assert cfg.credential_list[0].credential_values["api_key"] == "local-secret"
    assert cfg.guardrails[0]["guardrail_name"] == "pii-mask"
    assert cfg.environment_variables == {
        "REDIS_HOST": "localhost",
        "LANGFUSE_HOST": "https://cloud.langfuse.com",
    }


def test_big_litellm_config_warnings_are_exact() -> None:
    report = load_config(FIXTURES / "big_litellm.yaml", env=BIG_ENV).report
    not_implemented = [
        *(
            f"litellm_settings.{k}"
            for k in [
                "success_callback",
                "callbacks",
                "cache",
                "cache_params",
                "fallbacks",
                "context_window_fallbacks",
                "max_budget",
                "budget_duration",
            ]
        ),
        *(
            f"general_settings.{k}"
            for k in [
                "alerting_threshold",
                "proxy_batch_write_at",
                "health_check_interval",
                "background_health_checks",
                "store_model_in_db",
            ]
        ),
        *(
            f"router_settings.{k}"
            for k in [
                "allowed_fails",
                "cooldown_time",
                "enable_pre_call_checks",
            ]
        ),
        "guardrails",
        "mcp_servers",
        "callback_settings",
    ]
    assert lines(report) == [f"warning: {p}: {NOT_IMPLEMENTED}" for p in not_implemented]


def test_raw_holds_resolved_document_without_include(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text("general_settings: {master_key: os.environ/MK}\n")
    text = "include: [extra.yaml]\nmodel_list: []\n"
    cfg = load_config_text(text, tmp_path, {"MK": "sk-x"}).config
    assert cfg.raw == {"model_list": [], "general_settings": {"master_key": "sk-x"}}


# --- bad files ----------------------------------------------------------------------------


def _file_errors(name: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / name, env={})
    return lines(info.value.report)


def test_wrong_types_are_errors_with_paths() -> None:
    assert _file_errors("bad_wrong_type.yaml") == [
        "error: model_list[0].litellm_params.rpm: expected int, got str 'abc'",
        "error: model_list[0].litellm_params.tags[1]: expected str, got int 7",
        "error: router_settings.num_retries: must be a finite number >= 0, got int -1",
    ]


def test_missing_model_and_model_name_are_errors() -> None:
    assert _file_errors("bad_missing_model.yaml") == [
        "error: model_list[0].litellm_params.model: required: the provider model, "
        "e.g. openai/gpt-4o",
        "error: model_list[1].model_name: required: the model name clients send",
    ]


def test_health_check_interval_in_router_settings_is_an_error() -> None:
    assert _file_errors("bad_router_health_check.yaml") == [
        "error: router_settings.health_check_interval: LiteLLM rejects this key in "
        "router_settings; move it to general_settings.health_check_interval",
    ]


def test_config_error_carries_report_and_message() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "bad_wrong_type.yaml", env={})
    assert len(info.value.report.errors) == 3
    assert str(info.value) == info.value.report.render()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model_list: {a: 1}\n", "error: model_list: expected a list of models, got mapping"),
        ("model_list: [3]\n", "error: model_list[0]: expected a mapping with model_name and "
         "litellm_params, got int"),
        ("general_settings: [1]\n", "error: general_settings: expected a mapping, got list"),
        ("litellm_settings: yes\n", "error: litellm_settings: expected a mapping, got bool"),
        ("router_settings: {timeout: 0}\n",
         "error: router_settings.timeout: must be a finite number > 0, got int 0"),
        ("model_list:\n- model_name: m\n  litellm_params: {model: x/y, weight: 0}\n",
         "error: model_list[0].litellm_params.weight: must be a finite number > 0, got int 0"),
        ("model_list:\n- model_name: m\n  litellm_params: {model: x/y, timeout: -5}\n",
         "error: model_list[0].litellm_params.timeout: must be a finite number > 0, got int -5"),
        ("model_list:\n- model_name: m\n  litellm_params: {model: x/y, temperature: hot}\n",
         "error: model_list[0].litellm_params.temperature: expected float, got str 'hot'"),
        ("model_list:\n- model_name: m\n  litellm_params: x/y\n",
         "error: model_list[0].litellm_params: expected a mapping, got str"),
        ("model_list:\n- model_name: m\n", "error: model_list[0].litellm_params: required: how to "
         "call this deployment (at least `model`)"),
        ("credential_list: [{credential_values: {}}]\n",
         "error: credential_list[0].credential_name: required: the name models refer to"),
        ("- a\n- b\n", "error: <config>: the top level must be a mapping, got list"),
        ("a: [1\n", "error: <config>: invalid YAML: expected ',' or ']', but got '<stream end>' "
         "(line 2, column 1)"),
    ],
)  # fmt: skip
def test_single_error(text: str, expected: str) -> None:
    assert load_errors(text) == [expected]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    assert lines(info.value.report) == [
        f"error: {tmp_path / 'nope.yaml'}: cannot read the config file (No such file or directory)"
    ]


def test_lax_scalars_like_litellm() -> None:
    text = (
        "model_list:\n- model_name: m\n  litellm_params:\n    model: x/y\n"
        "    rpm: '30'\n    timeout: '2.5'\n    drop_params: 'true'\n"
        "litellm_settings: {json_logs: 'True'}\n"
    )
    cfg, found = load_text(text)
    params = cfg.model_list[0].litellm_params
    assert (params.rpm, params.timeout, params.drop_params) == (30, 2.5, True)
    assert cfg.litellm_settings.json_logs is True
    assert found == []


def test_int_model_info_id_becomes_str() -> None:
    cfg, _ = load_text("model_list:\n- model_name: m\n  litellm_params: {model: x/y}\n"
                       "  model_info: {id: 42}\n")  # fmt: skip
    assert cfg.model_list[0].model_info.id == "42"


def test_routing_strategy_not_implemented_warns() -> None:
    cfg, found = load_text("router_settings: {routing_strategy: latency-based-routing}\n")
    assert cfg.router_settings.routing_strategy == "latency-based-routing"
    assert found == [
        "warning: router_settings.routing_strategy: routing strategy 'latency-based-routing' "
        "not implemented yet; using simple-shuffle"
    ]


def test_unknown_routing_strategy_suggests() -> None:
    _, found = load_text("router_settings: {routing_strategy: simple-shufle}\n")
    assert found == [
        "warning: router_settings.routing_strategy: unknown routing strategy; using "
        "simple-shuffle; did you mean 'simple-shuffle'?"
    ]


def test_undefined_credential_reference_warns() -> None:
    _, found = load_text(
        "model_list:\n- model_name: m\n  litellm_params: {model: x/y, "
        "litellm_credential_name: nope}\n"
    )
    assert found == [
        "warning: model_list[0].litellm_params.litellm_credential_name: "
        "credential 'nope' is not defined in credential_list"
    ]


# --- includes -----------------------------------------------------------------------------


def test_include_merges_lists_and_overwrites_other_keys() -> None:
    result = load_config(FIXTURES / "include_main.yaml", env={})
    cfg = result.config
    assert [m.model_name for m in cfg.model_list] == ["main-model", "included-model"]
    assert cfg.litellm_settings.drop_params is True
    assert cfg.litellm_settings.num_retries == 4
    assert result.report.findings == []


def test_include_missing_file_is_an_error() -> None:
    assert _file_errors("bad_include_missing.yaml") == [
        "error: include[1]: included file not found: does_not_exist.yaml"
    ]


def test_include_not_a_list_is_an_error() -> None:
    assert _file_errors("bad_include_not_list.yaml") == [
        "error: include: must be a list of file paths, got str"
    ]


def test_nested_include_is_not_processed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("include: [b.yaml]\nlitellm_settings: {num_retries: 1}\n")
    (tmp_path / "b.yaml").write_text("litellm_settings: {num_retries: 9}\n")
    result = load_config_text("include: [a.yaml]\n", tmp_path, {})
    assert result.config.litellm_settings.num_retries == 1
    assert lines(result.report) == [
        "warning: include[0]: nested include is not processed (LiteLLM ignores it too)"
    ]


def test_include_with_invalid_yaml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(ConfigError) as info:
        load_config_text("include: [bad.yaml]\n", tmp_path, {})
    assert lines(info.value.report) == [
        "error: include[0]: bad.yaml: invalid YAML: expected ',' or ']', but got "
        "'<stream end>' (line 2, column 1)"
    ]
