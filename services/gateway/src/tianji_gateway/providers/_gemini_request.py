"""OpenAI chat parameters to a Gemini `generateContent` body (AI Studio and Vertex).

Why: the mapping is LiteLLM's `VertexGeminiConfig.map_openai_params` plus
`_transform_request_body` (vertex_ai/gemini/*), so a config moved from LiteLLM sends
the same request: `max_tokens` -> `generationConfig.maxOutputTokens`, `n` ->
`candidateCount`, `stop` -> `stopSequences`, tools -> one `functionDeclarations` tool,
`tool_choice` -> `toolConfig.functionCallingConfig`, `response_format` ->
`responseMimeType`/`responseSchema`, `reasoning_effort` -> `thinkingConfig`. Keys that
are Gemini `GenerationConfig` fields pass into `generationConfig`; other unknown keys
are dropped, as LiteLLM drops them (Gemini 400s on unknown fields).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._gemini_messages import MessageIn, convert_messages
from tianji_gateway.providers._gemini_schema import clean_schema

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["UNSUPPORTED_PARAMS", "build_request"]

T = TypeVar("T")
Params = dict[str, msgspec.Raw]
Obj = dict[str, Any]

# OpenAI chat parameters Gemini has no equivalent for (LiteLLM's supported list lacks
# them): dropped with drop_params, else a 400 naming the parameter.
UNSUPPORTED_PARAMS = frozenset(
    {
        "logit_bias",
        "functions",
        "function_call",
        "audio",
        "prediction",
        "store",
        "service_tier",
    }
)

# `generationConfig` fields (https://ai.google.dev/api/generate-content#generationconfig)
# a client may pass directly, in camelCase or snake_case; LiteLLM forwards them too.
_GENERATION_FIELDS = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "seed",
        "responseLogprobs",
        "logprobs",
        "responseModalities",
        "thinkingConfig",
        "mediaResolution",
        "speechConfig",
        "imageConfig",
    }
)
# Top-level request fields a client may pass through (snake or camel case).
_TOP_LEVEL = MappingProxyType(
    {
        "safety_settings": "safetySettings",
        "cached_content": "cachedContent",
        "tool_config": "toolConfig",
        "labels": "labels",
    }
)
# OpenAI name -> generationConfig name, copied as-is.
_RENAMED = MappingProxyType(
    {
        "temperature": "temperature",
        "top_p": "topP",
        "top_k": "topK",
        "n": "candidateCount",
        "seed": "seed",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
        "logprobs": "responseLogprobs",
        "top_logprobs": "logprobs",
    }
)
_CONSUMED = frozenset(
    {
        *_RENAMED,
        "model",
        "messages",
        "stream",
        "stream_options",
        "user",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "thinking",
        "modalities",
        "web_search_options",
    }
)
# LiteLLM's DEFAULT_REASONING_EFFORT_*_THINKING_BUDGET constants.
_BUDGETS = MappingProxyType({"low": 1024, "medium": 2048, "high": 4096, "disable": 0, "none": 0})
_MINIMAL_BUDGETS = (
    ("gemini-2.5-flash-lite", 512),
    ("gemini-2.5-pro", 128),
    ("gemini-2.5-flash", 1),
)
# Gemini 3 takes a thinkingLevel, not a budget (LiteLLM's thinking-level map).
_LEVELS = MappingProxyType(
    {"minimal": "low", "low": "low", "medium": "high", "high": "high", "disable": "low"}
)
# Gemini's native tools, passed next to functionDeclarations (LiteLLM's VertexToolName).
_NATIVE_TOOLS = MappingProxyType(
    {
        "googleSearch": "googleSearch",
        "google_search": "googleSearch",
        "googleSearchRetrieval": "googleSearchRetrieval",
        "google_search_retrieval": "googleSearchRetrieval",
        "enterpriseWebSearch": "enterpriseWebSearch",
        "enterprise_web_search": "enterpriseWebSearch",
        "codeExecution": "codeExecution",
        "code_execution": "codeExecution",
        "urlContext": "urlContext",
        "url_context": "urlContext",
        "googleMaps": "googleMaps",
        "google_maps": "googleMaps",
    }
)
_MODES = MappingProxyType({"none": "NONE", "auto": "AUTO", "required": "ANY"})


def build_request(
    params: Params, model: str, *, vertex: bool, drop_params: bool, settings: Mapping[str, Any]
) -> Obj:
    """The generateContent body; `vertex` keeps the Vertex-only `labels` field."""
    messages = _decode(params, "messages", list[MessageIn]) or []
    system, contents = convert_messages(messages)
    out: Obj = {"contents": contents}
    if system is not None:
        out["systemInstruction"] = system
    tools = _tools(params)
    if tools:
        _check_parallel(params, drop_params)
        out["tools"] = tools
    tool_config = _tool_config(params, drop_params)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    safety = settings.get("safety_settings")
    if safety is not None:
        out["safetySettings"] = safety
    generation: Obj = {}
    for key, raw in params.items():
        if key not in _CONSUMED:
            _passthrough(out, generation, key, raw, vertex)
    generation.update(_generation_config(params, model))
    if _is_gemini_3(model):  # LiteLLM's Gemini 3 defaults
        generation.setdefault("temperature", 1.0)
        generation.setdefault("thinkingConfig", {"thinkingLevel": "low"})
    if generation:
        out["generationConfig"] = generation
    return out


def _decode(params: Params, key: str, type_: type[T]) -> T | None:
    """One parameter as `type_`; absent or null is None, a wrong shape is a 400."""
    raw = params.get(key)
    if raw is None or bytes(raw).strip() == b"null":
        return None
    try:
        return msgspec.json.decode(raw, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"invalid {key!r}: {exc}", param=key) from exc


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _passthrough(out: Obj, generation: Obj, key: str, raw: msgspec.Raw, vertex: bool) -> None:
    """Gemini fields sent by the client as-is; anything else is dropped (LiteLLM)."""
    camel = _camel(key)
    if camel in _GENERATION_FIELDS:
        generation[camel] = raw
        return
    target = _TOP_LEVEL.get(key) or (camel if camel in _TOP_LEVEL.values() else None)
    if target is None or (target == "labels" and not vertex):
        return
    if target == "toolConfig" and "toolConfig" in out:
        extra = _decode({key: raw}, key, dict[str, Any]) or {}
        out["toolConfig"] = {**extra, **out["toolConfig"]}
    else:
        out[target] = raw


# --- generationConfig ----------------------------------------------------------------


def _generation_config(params: Params, model: str) -> Obj:
    out: Obj = {}
    for name, target in _RENAMED.items():
        if name in ("presence_penalty", "frequency_penalty") and _is_gemini_3(model):
            continue  # LiteLLM drops penalties for Gemini 3, which rejects them
        value = _decode(params, name, Any)
        if value is not None:
            out[target] = value
    for name in ("max_completion_tokens", "max_tokens"):
        limit = _decode(params, name, int)
        if limit is not None:
            out["maxOutputTokens"] = limit
            break
    stop = _decode(params, "stop", Any)
    if isinstance(stop, str):
        out["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stopSequences"] = stop
    out.update(_response_format(params))
    modalities = _decode(params, "modalities", list[str])
    if modalities:
        out["responseModalities"] = [m.upper() for m in modalities]
    thinking = _thinking_config(params, model)
    if thinking is not None:
        out["thinkingConfig"] = thinking
    return out


def _is_gemini_3(model: str) -> bool:
    return "gemini-3" in model


def _response_format(params: Params) -> Obj:
    """json_object -> JSON mime type; json_schema -> mime type plus a Gemini schema."""
    fmt = _decode(params, "response_format", dict[str, Any])
    if not fmt:
        return {}
    kind = fmt.get("type")
    schema: Any = fmt.get("response_schema")
    if schema is None and kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
    if schema is not None:
        return {
            "responseMimeType": "application/json",
            "responseSchema": clean_schema(schema, property_ordering=True, param="response_format"),
        }
    if kind in ("json_object", "json_schema"):
        return {"responseMimeType": "application/json"}
    if kind == "text":
        return {"responseMimeType": "text/plain"}
    raise InvalidRequest(f"unsupported response_format type {kind!r}", param="response_format")


def _thinking_config(params: Params, model: str) -> Obj | None:
    """`thinking` (Anthropic-style) or `reasoning_effort`, mapped as LiteLLM does."""
    thinking = _decode(params, "thinking", dict[str, Any])
    if thinking is not None:
        budget = thinking.get("budget_tokens")
        out: Obj = {}
        if thinking.get("type") == "enabled" and budget != 0:
            out["includeThoughts"] = True
        if isinstance(budget, int):
            out["thinkingBudget"] = budget
        return out
    effort = _decode(params, "reasoning_effort", str)
    if effort is None:
        return None
    if _is_gemini_3(model) and (effort in _LEVELS or effort == "none"):
        include = effort not in ("disable", "none")
        return {"thinkingLevel": _LEVELS.get(effort, "low"), "includeThoughts": include}
    if effort == "minimal":
        budget = next((b for name, b in _MINIMAL_BUDGETS if name in model), 128)
        return {"thinkingBudget": budget, "includeThoughts": True}
    if effort in _BUDGETS:
        include = effort not in ("disable", "none")
        return {"thinkingBudget": _BUDGETS[effort], "includeThoughts": include}
    raise InvalidRequest(
        f"reasoning_effort must be minimal, low, medium, high or none, got {effort!r}",
        param="reasoning_effort",
    )


# --- tools ---------------------------------------------------------------------------


def _tools(params: Params) -> list[Obj]:
    """All function tools as one `functionDeclarations` tool, native tools beside them."""
    declarations: list[Obj] = []
    native: Obj = {}
    for tool in _decode(params, "tools", list[dict[str, Any]]) or []:
        body = {k: v for k, v in tool.items() if k != "type"}
        if isinstance(body.get("function"), dict):
            declarations.append(_declaration(body["function"]))
        elif len(body) == 1 and next(iter(body)) in _NATIVE_TOOLS:
            key, value = next(iter(body.items()))
            native[_NATIVE_TOOLS[key]] = value or {}
    if _decode(params, "web_search_options", dict[str, Any]) is not None:
        native.setdefault("googleSearch", {})  # LiteLLM's _map_web_search_options
    out: Obj = {}
    if declarations:
        out["functionDeclarations"] = declarations
    out.update(native)
    return [out] if out else []


def _declaration(fn: Obj) -> Obj:
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("each function tool needs function.name", param="tools")
    out: Obj = {"name": name}
    if fn.get("description") is not None:
        out["description"] = fn["description"]
    parameters = fn.get("parameters")
    if isinstance(parameters, dict):
        schema = clean_schema(parameters)
        # Gemini rejects an OBJECT with empty properties; "no arguments" is no schema.
        if schema and not (schema.get("type") == "object" and not schema.get("properties")):
            out["parameters"] = schema
    return out


def _check_parallel(params: Params, drop_params: bool) -> None:
    """parallel_tool_calls=false cannot be honoured with several tools (LiteLLM)."""
    if _decode(params, "parallel_tool_calls", bool) is not False or drop_params:
        return
    tools = _decode(params, "tools", list[Any]) or []
    if len(tools) > 1:
        raise InvalidRequest(
            "parallel_tool_calls=false is not supported by Gemini with more than one tool. "
            "Set drop_params: true to drop it.",
            param="parallel_tool_calls",
            code="unsupported_parameter",
        )


def _tool_config(params: Params, drop_params: bool) -> Obj | None:
    choice: Any = _decode(params, "tool_choice", Any)
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _MODES:
        return {"functionCallingConfig": {"mode": _MODES[choice]}}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name", "")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    if drop_params:
        return None
    raise InvalidRequest(
        f"Gemini does not support tool_choice={choice!r}; use auto, required, none or a function",
        param="tool_choice",
        code="unsupported_parameter",
    )
