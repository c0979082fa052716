"""`check_file`: exit codes and the report text `tianji config check` prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from tianji_common.config.check import check_file

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "configs"


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # check_file reads the real environment; make the expected text independent of it.
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_example_is_ok_with_warnings() -> None:
    code, text = check_file(ROOT / "examples" / "config.yaml")
    assert code == 0
    assert text.splitlines() == [
        "warning: model_list[0].litellm_params.api_key: "
        "environment variable 'OPENAI_API_KEY' is not set; using null",
        "warning: model_list[1].litellm_params.api_key: "
        "environment variable 'ANTHROPIC_API_KEY' is not set; using null",
        "config OK: 2 models, 2 warnings",
    ]


def test_clean_file_prints_only_the_summary(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_list:\n- model_name: m\n  litellm_params: {model: openai/gpt-4o}\n")
    assert check_file(str(cfg)) == (0, "config OK: 1 model, 0 warnings")


def test_explicit_env_is_used(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "model_list:\n- model_name: m\n  litellm_params: {model: x/y, api_key: os.environ/K}\n"
    )
    assert check_file(cfg, env={"K": "sk-1"}) == (0, "config OK: 1 model, 0 warnings")


def test_errors_exit_1_with_summary() -> None:
    code, text = check_file(FIXTURES / "bad_wrong_type.yaml")
    assert code == 1
    assert text.splitlines() == [
        "error: model_list[0].litellm_params.rpm: expected int, got str 'abc'",
        "error: model_list[0].litellm_params.tags[1]: expected str, got int 7",
        "error: router_settings.num_retries: must be a finite number >= 0, got int -1",
        "config invalid: 3 errors, 0 warnings",
    ]


def test_errors_and_warnings_counted(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "general_settings: {master_kye: x, cache: 1}\nrouter_settings: {health_check_interval: 5}\n"
    )
    code, text = check_file(cfg)
    assert code == 1
    assert text.splitlines()[-1] == "config invalid: 1 error, 2 warnings"


def test_missing_file_exits_1(tmp_path: Path) -> None:
    code, text = check_file(tmp_path / "missing.yaml")
    assert code == 1
    assert text.splitlines()[-1] == "config invalid: 1 error, 0 warnings"


def test_big_config_is_ok() -> None:
    code, text = check_file(FIXTURES / "big_litellm.yaml")
    assert code == 0
    assert text.splitlines()[-1].startswith("config OK: 5 models, ")
