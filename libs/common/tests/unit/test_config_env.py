"""`os.environ/NAME` references and `environment_variables`, as LiteLLM resolves them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tianji_common.config.loader import load_config_text
from tianji_common.config.model import ProxyConfig
from tianji_common.config.report import ConfigError


def load_text(text: str, env: dict[str, str] | None = None) -> tuple[ProxyConfig, list[str]]:
    result = load_config_text(text, Path("."), env or {})
    return result.config, result.report.render().splitlines()


def load_errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, Path("."), env or {})
    return info.value.report.render().splitlines()


# --- environment references ---------------------------------------------------------------

_ONE_MODEL = "model_list:\n- model_name: m\n  litellm_params:\n    model: x/y\n"


def test_env_reference_set() -> None:
    cfg, found = load_text(_ONE_MODEL + "    api_key: os.environ/KEY\n", {"KEY": "sk-secret"})
    assert cfg.model_list[0].litellm_params.api_key == "sk-secret"
    assert found == []


def test_env_reference_unset_is_null_and_warns() -> None:
    cfg, found = load_text(_ONE_MODEL + "    api_key: os.environ/KEY\n", {"OTHER": "x"})
    assert cfg.model_list[0].litellm_params.api_key is None
    assert found == [
        "warning: model_list[0].litellm_params.api_key: "
        "environment variable 'KEY' is not set; using null"
    ]


def test_env_references_nested_in_lists_and_maps() -> None:
    text = _ONE_MODEL + (
        "    tags: [os.environ/TAG, fixed]\n"
        "    tools:\n    - type: function\n      function: {name: os.environ/FN}\n"
        "    extra_headers: {X-Key: os.environ/HDR}\n"
    )
    env = {"TAG": "team-a", "FN": "lookup", "HDR": "h-secret"}
    cfg, found = load_text(text, env)
    params = cfg.model_list[0].litellm_params
    assert params.tags == ["team-a", "fixed"]
    assert params.extra["tools"] == [{"type": "function", "function": {"name": "lookup"}}]
    assert params.extra_headers == {"X-Key": "h-secret"}
    assert found == []


def test_env_reference_unset_in_list_warns_with_index() -> None:
    text = _ONE_MODEL + "  model_info:\n    metadata: {owners: [ok, os.environ/NOPE]}\n"
    cfg, found = load_text(text)
    assert cfg.model_list[0].model_info.extra == {"metadata": {"owners": ["ok", None]}}
    assert found == [
        "warning: model_list[0].model_info.metadata.owners[1]: "
        "environment variable 'NOPE' is not set; using null"
    ]


def test_env_reference_unset_in_typed_list_is_an_error() -> None:
    found = load_errors(_ONE_MODEL + "    tags: [ok, os.environ/NOPE]\n")
    assert found == [
        "warning: model_list[0].litellm_params.tags[1]: "
        "environment variable 'NOPE' is not set; using null",
        "error: model_list[0].litellm_params.tags[1]: expected str, got null (value hidden)",
    ]


def test_env_value_never_printed_in_errors() -> None:
    found = load_errors(_ONE_MODEL + "    rpm: os.environ/RPM\n", {"RPM": "hunter2-secret"})
    assert found == [
        "error: model_list[0].litellm_params.rpm: expected int, got str (value hidden)"
    ]


def test_secret_field_value_never_printed() -> None:
    found = load_errors("general_settings: {master_key: [sk-literal-secret]}\n")
    assert found == ["error: general_settings.master_key: expected str, got list (value hidden)"]


def test_environment_variables_feed_resolution_without_touching_os_environ() -> None:
    assert "TIANJI_TEST_FILE_ONLY" not in os.environ
    text = (
        "environment_variables: {TIANJI_TEST_FILE_ONLY: sk-file, PORT: 8080, DEBUG: true}\n"
        + _ONE_MODEL
        + "    api_key: os.environ/TIANJI_TEST_FILE_ONLY\n"
    )
    cfg, found = load_text(text, {})
    assert cfg.model_list[0].litellm_params.api_key == "sk-file"
    assert cfg.environment_variables == {
        "TIANJI_TEST_FILE_ONLY": "sk-file",
        "PORT": "8080",
        "DEBUG": "True",
    }
    assert "TIANJI_TEST_FILE_ONLY" not in os.environ
    assert found == []


def test_live_env_wins_over_environment_variables() -> None:
    text = "environment_variables: {KEY: sk-file}\n" + _ONE_MODEL + "    api_key: os.environ/KEY\n"
    cfg, _ = load_text(text, {"KEY": "sk-live"})
    assert cfg.model_list[0].litellm_params.api_key == "sk-live"
    assert cfg.environment_variables == {"KEY": "sk-live"}


def test_environment_variables_may_reference_env() -> None:
    text = "environment_variables: {A: os.environ/B, C: os.environ/MISSING}\n"
    cfg, found = load_text(text, {"B": "b-value"})
    assert cfg.environment_variables == {"A": "b-value"}
    assert found == [
        "warning: environment_variables.C: environment variable 'MISSING' is not set; using null"
    ]


def test_default_env_is_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANJI_TEST_KEY", "sk-from-os")
    text = _ONE_MODEL + "    api_key: os.environ/TIANJI_TEST_KEY\n"
    cfg = load_config_text(text, Path(".")).config
    assert cfg.model_list[0].litellm_params.api_key == "sk-from-os"
