"""Field recognition: known, implemented, unknown (did-you-mean), one warning per subtree."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from tianji_common.config.fields import (
    EXTENSIONS,
    FORWARDED_PARAMS,
    IMPLEMENTED,
    LITELLM_PARAMS,
    LOWER_BOUNDS,
    MISPLACED,
    NOT_IMPLEMENTED,
    check_fields,
    is_implemented,
    join_pattern,
    known_fields,
    split_pattern,
)
from tianji_common.config.loader import load_config_text
from tianji_common.config.model import LiteLLMParams
from tianji_common.config.report import ConfigReport

REFERENCE = Path("/work/shared/reference/litellm/config-fields.txt")
FORWARD_MSG = "not a known LiteLLM parameter; forwarded to the provider as a request parameter"
_ONE_MODEL = "model_list:\n- model_name: m\n  litellm_params:\n    model: x/y\n"


def shipped_paths() -> list[str]:
    text = resources.files("tianji_common.config").joinpath("known_fields.txt").read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def warnings_of(text: str) -> list[str]:
    result = load_config_text(text, Path("."), {})
    assert result.report.errors == []
    return result.report.render().splitlines()


# --- the shipped key list -----------------------------------------------------------------


def test_known_fields_is_package_data_with_all_reference_paths() -> None:
    paths = shipped_paths()
    assert len(paths) == 1183
    assert len(set(paths)) == 1183
    if REFERENCE.exists():
        ref = [ln for ln in REFERENCE.read_text().splitlines() if ln and not ln.startswith("#")]
        assert sorted(paths) == sorted(ref)


def test_every_shipped_path_is_known() -> None:
    known = known_fields()
    for path in shipped_paths():
        pattern = split_pattern(path)
        parent, last = pattern[:-1], pattern[-1]
        if last == "[]":
            assert known.has_items(parent), path
        else:
            assert known.child(parent, last) == pattern, path


def test_implemented_patterns_are_all_known_litellm_keys() -> None:
    known = known_fields()
    for text in (*IMPLEMENTED, *EXTENSIONS):
        pattern = tuple(s for s in split_pattern(text) if s != "**")
        parent = pattern[:-1]
        assert known.child(parent, pattern[-1]) is not None, text


def test_forwarded_params_and_typed_fields_are_implemented() -> None:
    for name in FORWARDED_PARAMS:
        assert is_implemented((*LITELLM_PARAMS, name)), name
    for field in msgspec.structs.fields(LiteLLMParams):
        if field.name not in ("extra", "settings"):
            assert is_implemented((*LITELLM_PARAMS, field.name)), field.name
    assert not set(FORWARDED_PARAMS) & {f.name for f in msgspec.structs.fields(LiteLLMParams)}


def test_bounds_and_misplaced_refer_to_real_fields() -> None:
    for text in LOWER_BOUNDS:
        assert known_fields().child(split_pattern(text)[:-1], split_pattern(text)[-1]), text
    for target in MISPLACED.values():
        pattern = split_pattern(target)
        assert known_fields().child(pattern[:-1], pattern[-1]) == pattern


def test_pattern_round_trip() -> None:
    text = "general_settings.pass_through_endpoints[].guardrails.*.request_fields"
    assert join_pattern(split_pattern(text)) == text


def test_implemented_star_star_covers_subtree() -> None:
    assert is_implemented(("model_list", "[]", "model_info", "anything", "deeper"))
    assert is_implemented(("credential_list", "[]", "credential_values"))
    assert is_implemented(("environment_variables", "*"))
    assert not is_implemented(("litellm_settings", "cache"))
    assert is_implemented((*LITELLM_PARAMS, "input_cost_per_token"))
    assert not is_implemented((*LITELLM_PARAMS, "mock_response"))


def _document_from_paths(paths: list[str]) -> dict[str, Any]:
    """One nested document containing every path; leaves are null (defaults apply)."""
    children: dict[tuple[str, ...], set[str]] = {}
    for path in paths:
        segs = split_pattern(path)
        for i, seg in enumerate(segs):
            children.setdefault(segs[:i], set()).add(seg)

    def build(pattern: tuple[str, ...]) -> Any:
        names = children.get(pattern, set())
        if not names:
            return None
        if names == {"[]"}:
            return [build((*pattern, "[]"))]
        return {("any_name" if n == "*" else n): build((*pattern, n)) for n in sorted(names)}

    doc = build(())
    assert isinstance(doc, dict)
    return doc


def test_document_with_every_known_path_has_no_unrecognised_key() -> None:
    doc = _document_from_paths([p for p in shipped_paths() if p != "include"])
    doc["model_list"][0].update(model_name="m")
    doc["model_list"][0]["litellm_params"]["model"] = "openai/gpt-4o"
    doc["credential_list"][0]["credential_name"] = "c"
    result = load_config_text(yaml.safe_dump(doc), Path("."), {})
    assert result.report.errors == []
    messages = Counter(f.message for f in result.report.findings)
    assert set(messages) == {NOT_IMPLEMENTED, "has no value; not exported"}
    paths = Counter(f.path for f in result.report.findings)
    assert max(paths.values()) == 1


def test_walk_reports_each_not_implemented_top_level_once() -> None:
    doc = _document_from_paths(shipped_paths())
    report = ConfigReport()
    check_fields(doc, report)
    flagged = {f.path for f in report.findings}
    for top in ("guardrails", "mcp_servers", "policies", "search_tools", "agent_list"):
        assert top in flagged
        assert not any(p.startswith((f"{top}.", f"{top}[")) for p in flagged)


# --- unknown keys and did-you-mean --------------------------------------------------------


def test_typo_in_general_settings_suggests_master_key() -> None:
    assert warnings_of("general_settings: {master_kye: sk-1}\n") == [
        "warning: general_settings.master_kye: unrecognised key; ignored; "
        "did you mean 'master_key'?"
    ]


def test_typo_in_litellm_params_is_forwarded_with_suggestion() -> None:
    result = load_config_text(_ONE_MODEL + "    temprature: 0.3\n", Path("."), {})
    assert result.report.render().splitlines() == [
        f"warning: model_list[0].litellm_params.temprature: {FORWARD_MSG}; "
        "did you mean 'temperature'?"
    ]
    assert result.config.model_list[0].litellm_params.extra == {"temprature": 0.3}


def test_unknown_litellm_param_without_close_match() -> None:
    result = load_config_text(_ONE_MODEL + "    my_vendor_flag: on\n", Path("."), {})
    assert result.report.render().splitlines() == [
        f"warning: model_list[0].litellm_params.my_vendor_flag: {FORWARD_MSG}"
    ]
    assert result.config.model_list[0].litellm_params.extra == {"my_vendor_flag": True}


def test_unknown_key_without_close_match_has_no_suggestion() -> None:
    assert warnings_of("general_settings: {zzz_qqq: 1}\n") == [
        "warning: general_settings.zzz_qqq: unrecognised key; ignored"
    ]


def test_unknown_top_level_key_suggests() -> None:
    assert warnings_of("model_lst: []\n") == [
        "warning: model_lst: unrecognised key; ignored; did you mean 'model_list'?"
    ]


def test_unknown_model_info_key_is_kept_as_metadata() -> None:
    result = load_config_text(_ONE_MODEL + "  model_info: {acess_groups: [a]}\n", Path("."), {})
    assert result.report.render().splitlines() == [
        "warning: model_list[0].model_info.acess_groups: not a known LiteLLM model_info key; "
        "kept as metadata; did you mean 'access_groups'?"
    ]
    assert result.config.model_list[0].model_info.extra == {"acess_groups": ["a"]}


def test_router_settings_typo_suggests() -> None:
    assert warnings_of("router_settings: {enable_pre_call_check: true}\n") == [
        "warning: router_settings.enable_pre_call_check: unrecognised key; ignored; "
        "did you mean 'enable_pre_call_checks'?"
    ]


def test_unknown_subtree_reported_once() -> None:
    assert warnings_of("general_settings: {custom_thing: {a: {b: 1}, c: [1, 2]}}\n") == [
        "warning: general_settings.custom_thing: unrecognised key; ignored"
    ]


def test_free_form_maps_accept_any_key() -> None:
    text = (
        "environment_variables: {ANYTHING_AT_ALL: x}\n"
        "credential_list:\n- credential_name: c\n"
        "  credential_values: {aws_access_key_id: a, whatever: b}\n"
        "  credential_info: {owner: me}\n"
        "router_settings: {model_group_alias: {gpt-4: {model: gpt-4o, hidden: true}}}\n"
        + _ONE_MODEL
        + "    extra_headers: {X-Anything: v}\n    extra_body: {vendor: {deep: 1}}\n"
    )
    assert warnings_of(text) == []


# --- not implemented ----------------------------------------------------------------------


def test_not_implemented_warning_once_per_path() -> None:
    text = (
        "litellm_settings:\n  cache: true\n"
        "  cache_params: {type: redis, host: h, port: 1, not_a_param: x, nested: {a: 1}}\n"
        "  callbacks: [prometheus, otel]\n"
        "general_settings:\n  litellm_jwtauth: {admin_jwt_scope: s, typo_fieldd: 1}\n"
        + _ONE_MODEL
        + "    mock_response: hi\n    input_cost_per_character: 0.1\n"
        "- model_name: m2\n  litellm_params: {model: x/z, mock_response: hi}\n"
    )
    assert warnings_of(text) == [
        f"warning: litellm_settings.cache: {NOT_IMPLEMENTED}",
        f"warning: litellm_settings.cache_params: {NOT_IMPLEMENTED}",
        f"warning: litellm_settings.callbacks: {NOT_IMPLEMENTED}",
        f"warning: general_settings.litellm_jwtauth: {NOT_IMPLEMENTED}",
        f"warning: model_list[0].litellm_params.mock_response: {NOT_IMPLEMENTED}",
        f"warning: model_list[0].litellm_params.input_cost_per_character: {NOT_IMPLEMENTED}",
        f"warning: model_list[1].litellm_params.mock_response: {NOT_IMPLEMENTED}",
    ]


def test_not_implemented_litellm_params_go_to_settings_not_extra() -> None:
    text = _ONE_MODEL + "    mock_response: hi\n    input_cost_per_token: 0.1\n    top_p: 0.9\n"
    params = load_config_text(text, Path("."), {}).config.model_list[0].litellm_params
    assert params.settings == {"mock_response": "hi", "input_cost_per_token": 0.1}
    assert params.extra == {"top_p": 0.9}


@pytest.mark.parametrize(
    ("body", "expected_extra"),
    [
        ("extra_body: {a: 1, temperature: 0.9}\n    temperature: 0.1\n",
         {"a": 1, "temperature": 0.9}),
        ("stop: END\n", {"stop": "END"}),
        ("stop: [a, b]\n", {"stop": ["a", "b"]}),
        ("tool_choice: auto\n", {"tool_choice": "auto"}),
        ("response_format: {type: json_object}\n", {"response_format": {"type": "json_object"}}),
        ("max_tokens: '256'\n", {"max_tokens": 256}),
    ],
)  # fmt: skip
def test_forwarded_params_land_in_extra(body: str, expected_extra: dict[str, Any]) -> None:
    result = load_config_text(_ONE_MODEL + "    " + body, Path("."), {})
    assert result.report.findings == []
    assert result.config.model_list[0].litellm_params.extra == expected_extra


def test_base_url_is_api_base_alias() -> None:
    result = load_config_text(_ONE_MODEL + "    base_url: http://h/v1\n", Path("."), {})
    assert result.config.model_list[0].litellm_params.api_base == "http://h/v1"
    assert result.report.findings == []


def test_api_base_wins_over_base_url() -> None:
    text = _ONE_MODEL + "    base_url: http://b\n    api_base: http://a\n"
    result = load_config_text(text, Path("."), {})
    assert result.config.model_list[0].litellm_params.api_base == "http://a"
    assert result.report.render().splitlines() == [
        "warning: model_list[0].litellm_params.base_url: "
        "both api_base and base_url set; using api_base"
    ]
