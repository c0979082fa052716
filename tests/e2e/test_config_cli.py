"""`tianji config check` and startup behaviour on good and bad config files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.proc import tianji_bin

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tianji_bin(), "config", "check", str(path)], capture_output=True, text=True, timeout=30
    )


def test_example_config_is_clean() -> None:
    out = check(ROOT / "examples" / "config.yaml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error:" not in out.stdout


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n"
        "general_settings: {master_kye: x, alerting_threshold: 300}\n"
    )
    out = check(f)
    assert out.returncode == 0
    assert "master_key" in out.stdout  # did you mean
    assert "general_settings.alerting_threshold" in out.stdout


def test_errors_fail_with_path(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, rpm: lots}\n"
    )
    out = check(f)
    assert out.returncode == 1
    assert "model_list[0].litellm_params.rpm" in out.stdout


def test_up_refuses_bad_config(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("model_list: {not: a list}\n")
    out = subprocess.run(
        [tianji_bin(), "up", "--config", str(f), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert "model_list" in out.stderr
