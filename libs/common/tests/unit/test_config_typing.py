"""Typing of numeric litellm_params: any valid numbers load, as numbers or as strings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tianji_common.config.build import describe_type
from tianji_common.config.loader import load_config_text

_INT = st.integers(min_value=-(2**53), max_value=2**53)
_NON_NEG_INT = st.integers(min_value=0, max_value=2**53)
_POS_INT = st.integers(min_value=1, max_value=2**53)
_POS_FLOAT = st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)

# Typed LiteLLMParams fields (with their bounds) and forwarded OpenAI params.
TYPED: dict[str, st.SearchStrategy[Any]] = {
    "rpm": _NON_NEG_INT,
    "tpm": _NON_NEG_INT,
    "weight": _POS_FLOAT | _POS_INT,
    "order": _INT,
    "timeout": _POS_FLOAT | _POS_INT,
    "stream_timeout": _POS_FLOAT | _POS_INT,
    "max_retries": _NON_NEG_INT,
    "num_retries": _NON_NEG_INT,
    "max_parallel_requests": _POS_INT,
}
FORWARDED: dict[str, st.SearchStrategy[Any]] = {
    "temperature": _FLOAT | _INT,
    "top_p": _FLOAT | _INT,
    "presence_penalty": _FLOAT,
    "frequency_penalty": _FLOAT,
    "max_tokens": _INT,
    "max_completion_tokens": _INT,
    "n": _INT,
    "top_logprobs": _INT,
    "seed": _INT,
    "top_k": _INT,
}


def _maybe_str(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # os.environ/ values and quoted YAML arrive as strings; LiteLLM accepts them.
    return strategy | strategy.map(repr)


PARAMS = st.fixed_dictionaries(
    {}, optional={k: _maybe_str(v) for k, v in {**TYPED, **FORWARDED}.items()}
)


@settings(max_examples=150, deadline=None)
@given(PARAMS)
def test_valid_numeric_litellm_params_load_without_errors(params: dict[str, Any]) -> None:
    doc = {"model_list": [{"model_name": "m", "litellm_params": {"model": "x/y", **params}}]}
    result = load_config_text(yaml.safe_dump(doc), Path("."), {})
    assert result.report.findings == []
    loaded = result.config.model_list[0].litellm_params
    for key, value in params.items():
        expected = float(value) if isinstance(value, str) else value
        got = loaded.extra[key] if key in FORWARDED else getattr(loaded, key)
        assert got == expected, key


def test_describe_type() -> None:
    assert describe_type(int | None) == "int"
    assert describe_type(list[str]) == "list of str"
    assert describe_type(str | dict[str, Any]) == "str or mapping"
    assert describe_type(dict[str, str]) == "mapping of str to str"
    assert describe_type(Any) == "any value"
