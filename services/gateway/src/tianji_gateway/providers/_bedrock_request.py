"""OpenAI chat parameters translated into a Bedrock Converse request body.

Why a module of its own: the Converse request
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html)
splits OpenAI's flat parameters into `inferenceConfig`, `toolConfig`, `system` and
`additionalModelRequestFields`; LiteLLM's `AmazonConverseConfig` decides where each
one goes, and we follow it: unknown parameters become model-specific fields, `top_k`
and reasoning go where the model family expects them, and `response_format` rides on
a forced tool. Message translation lives in `_bedrock_messages.py`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._bedrock_messages import Block, has_tool_blocks, translate

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_gateway.routing.deployment import Deployment

__all__ = [
    "JSON_TOOL_NAME",
    "UNSUPPORTED_PARAMS",
    "base_model",
    "converse_request",
    "decode_param",
]

T = TypeVar("T")

# LiteLLM's RESPONSE_FORMAT_TOOL_NAME. The name is fixed (not the schema's name) so
# the answer can be recognised without request state: decoding is stateless.
JSON_TOOL_NAME = "json_tool_call"
# LiteLLM's DEFAULT_MAX_TOKENS, added on top of a thinking budget when max_tokens is unset.
_DEFAULT_MAX_TOKENS = 4096
# LiteLLM's DEFAULT_REASONING_EFFORT_*_THINKING_BUDGET (Anthropic models).
_THINKING_BUDGETS: Mapping[str, int] = MappingProxyType(
    {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}
)
_NOVA_EFFORTS = frozenset({"low", "medium", "high"})
# Cross-region inference profile prefixes (`us.anthropic.claude-...`); the model id
# passes through unchanged, the prefix only hides the model family.
_REGION_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.")

# OpenAI chat parameters Converse has no equivalent for: dropped with drop_params,
# else a 400 naming the parameter (LiteLLM's UnsupportedParamsError).
UNSUPPORTED_PARAMS = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "modalities",
        "audio",
        "prediction",
        "functions",
        "function_call",
        "web_search_options",
        "store",
    }
)
# Converse's own top-level request fields, passed through when the client sends them.
_TOP_LEVEL = frozenset(
    {
        "guardrailConfig",
        "performanceConfig",
        "requestMetadata",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "serviceTier",
    }
)
# Parameters translated here (or LiteLLM-internal); everything else unknown becomes an
# `additionalModelRequestFields` entry, as LiteLLM sends it.
_CONSUMED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "metadata",
        "reasoning_effort",
        "thinking",
        "additionalModelRequestFields",
    }
)


def decode_param(params: Mapping[str, msgspec.Raw], key: str, type_: type[T]) -> T | None:
    """One parameter as `type_`; absent or null is None, a wrong shape is a 400."""
    raw = params.get(key)
    if raw is None or bytes(raw).strip() == b"null":
        return None
    try:
        return msgspec.json.decode(raw, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"invalid {key!r}: {exc}", param=key) from exc


def base_model(dep: Deployment) -> str:
    """The model family id: `model_info.base_model` if set, minus route and region prefixes.

    ARNs and inference-profile ids hide the family; LiteLLM users name it in
    `model_info.base_model`, which decides top_k and reasoning placement.
    """
    declared = dep.model_info.get("base_model")
    model = declared if isinstance(declared, str) and declared else dep.model
    for prefix in ("bedrock/", "converse/", "invoke/"):
        model = model.removeprefix(prefix)
    for prefix in _REGION_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


def converse_request(params: Mapping[str, msgspec.Raw], dep: Deployment) -> Block:
    """The Converse body for an OpenAI chat request (model id goes in the URL)."""
    family = base_model(dep)
    _check_n(params, dep)
    reasoning = _reasoning_fields(params, family)
    messages = decode_param(params, "messages", list[dict[str, Any]])
    if not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system, turns = translate(messages)
    out: Block = {"messages": turns}
    if system:
        out["system"] = system
    inference = _inference_config(params, reasoning.get("thinking"))
    if inference:
        out["inferenceConfig"] = inference
    tool_config = _tool_config(params, dep, _thinking_on(reasoning.get("thinking")))
    if tool_config:
        out["toolConfig"] = tool_config
    elif has_tool_blocks(turns):
        raise InvalidRequest(
            "Bedrock doesn't support tool calling without `tools=` param specified. "
            "Pass `tools=` with the tools used in the conversation.",
            param="tools",
        )
    extra = _additional_fields(params, family, reasoning)
    if extra:
        out["additionalModelRequestFields"] = extra
    for key in _TOP_LEVEL:
        if key in params:
            out[key] = params[key]
    return out


def _check_n(params: Mapping[str, msgspec.Raw], dep: Deployment) -> None:
    n = decode_param(params, "n", int)
    if n is not None and n > 1 and not dep.drop_params:
        raise InvalidRequest(
            "bedrock does not support parameter 'n' greater than 1. "
            "Set drop_params: true to drop it.",
            param="n",
            code="unsupported_parameter",
        )


# --- inference and reasoning ---------------------------------------------------------


def _thinking_on(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")


def _inference_config(params: Mapping[str, msgspec.Raw], thinking: Any) -> Block:
    """maxTokens, temperature, topP and stopSequences (empty strings dropped, as LiteLLM)."""
    out: Block = {}
    for key in ("max_completion_tokens", "max_tokens"):
        value = decode_param(params, key, int)
        if value is not None:
            out["maxTokens"] = value
            break
    if "maxTokens" not in out and _thinking_on(thinking):
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int):  # max tokens must exceed the thinking budget
            out["maxTokens"] = budget + _DEFAULT_MAX_TOKENS
    for key, name in (("temperature", "temperature"), ("top_p", "topP")):
        number = decode_param(params, key, float)
        if number is not None:
            out[name] = params[key]
    stop: Any = decode_param(params, "stop", str | list[str])  # type: ignore[arg-type]  # union is a valid msgspec type
    if isinstance(stop, str):
        stop = [stop] if stop else None
    if stop:
        out["stopSequences"] = stop
    return out


def _reasoning_fields(params: Mapping[str, msgspec.Raw], family: str) -> Block:
    """`thinking` for Anthropic models, `reasoningConfig` for Nova 2, as LiteLLM maps them."""
    thinking = decode_param(params, "thinking", dict[str, Any])
    effort = decode_param(params, "reasoning_effort", str)
    if effort == "none":
        effort = None
    if family.startswith("anthropic."):
        if thinking is not None:
            return {"thinking": thinking}
        if effort is None:
            return {}
        budget = _THINKING_BUDGETS.get(effort)
        if budget is None:
            raise InvalidRequest(
                f"reasoning_effort must be low, medium or high, got {effort!r}",
                param="reasoning_effort",
            )
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}
    if family.startswith("amazon.nova-2") and effort is not None:
        if effort not in _NOVA_EFFORTS:
            raise InvalidRequest(
                f"reasoning_effort for Nova 2 models must be low, medium or high, got {effort!r}",
                param="reasoning_effort",
            )
        return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}}
    out: Block = {}
    if thinking is not None:
        out["thinking"] = thinking
    if effort is not None:
        out["reasoning_effort"] = effort
    return out


def _additional_fields(params: Mapping[str, msgspec.Raw], family: str, reasoning: Block) -> Block:
    """Model-specific fields: reasoning, `top_k` where the family takes it, unknown params."""
    out: Block = dict(decode_param(params, "additionalModelRequestFields", dict[str, Any]) or {})
    out.update(reasoning)
    top_k = decode_param(params, "top_k", int)
    if top_k is not None:
        # LiteLLM's `_handle_top_k_value`: other families drop it.
        if family.startswith("anthropic."):
            out["top_k"] = top_k
        elif family.startswith("amazon.nova"):
            out["inferenceConfig"] = {"topK": top_k}
    for key, raw in params.items():
        if key not in _CONSUMED and key not in _TOP_LEVEL and key not in UNSUPPORTED_PARAMS:
            out[key] = raw
    return out


# --- tools ---------------------------------------------------------------------------


def _tool_config(params: Mapping[str, msgspec.Raw], dep: Deployment, thinking: bool) -> Block:
    """`toolConfig.tools` and `toolChoice`, with `response_format` as a forced tool."""
    tools = [_tool(t) for t in decode_param(params, "tools", list[dict[str, Any]]) or []]
    json_tool = _json_tool(params)
    if json_tool is not None:
        tools.append(json_tool)
    if not tools:
        return {}
    out: Block = {"tools": tools}
    choice = _tool_choice(params, dep)
    # Forced tool use is not allowed with extended thinking (LiteLLM keeps auto then).
    if json_tool is not None and not thinking:
        choice = {"tool": {"name": JSON_TOOL_NAME}}
    if choice is not None:
        out["toolChoice"] = choice
    return out


def _tool(tool: Block) -> Block:
    """An OpenAI function tool as `{"toolSpec": {name, description, inputSchema.json}}`."""
    if "toolSpec" in tool or "cachePoint" in tool or "systemTool" in tool:
        return tool  # already Bedrock-shaped
    fn = tool.get("function")
    if tool.get("type") != "function" or not isinstance(fn, dict):
        raise InvalidRequest("each tool must be a function tool", param="tools")
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("each function tool needs function.name", param="tools")
    schema = fn.get("parameters") or {"type": "object", "properties": {}}
    # Converse requires a description; LiteLLM falls back to the name.
    spec = {"name": name, "description": fn.get("description") or name}
    spec["inputSchema"] = {"json": schema}
    return {"toolSpec": spec}


def _json_tool(params: Mapping[str, msgspec.Raw]) -> Block | None:
    """LiteLLM's `_create_json_tool_call_for_response_format`."""
    fmt = decode_param(params, "response_format", dict[str, Any])
    if not fmt or fmt.get("type") == "text":
        return None
    schema: Any = None
    description: Any = None
    spec = fmt.get("json_schema")
    if isinstance(spec, dict):
        schema, description = spec.get("schema"), spec.get("description")
    elif "response_schema" in fmt:
        schema = fmt["response_schema"]
    if not isinstance(schema, dict):  # json_object: any object
        schema = {"type": "object", "additionalProperties": True, "properties": {}}
    tool = {"name": JSON_TOOL_NAME, "description": description or JSON_TOOL_NAME}
    tool["inputSchema"] = {"json": schema}
    return {"toolSpec": tool}


def _tool_choice(params: Mapping[str, msgspec.Raw], dep: Deployment) -> Block | None:
    """auto -> auto, required -> any, a function -> tool; none is not expressible."""
    choice: Any = decode_param(params, "tool_choice", str | dict[str, Any])  # type: ignore[arg-type]  # union is a valid msgspec type
    if choice is None:
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"tool": {"name": choice["function"].get("name", "")}}
    if isinstance(choice, dict) and ("auto" in choice or "any" in choice or "tool" in choice):
        return choice  # already Bedrock-shaped
    if choice == "none" and dep.drop_params:
        return None
    raise InvalidRequest(
        f"Bedrock doesn't support tool_choice={choice!r}. Supported tool_choice values="
        "['auto', 'required', json object]. Set drop_params: true to drop it.",
        param="tool_choice",
        code="unsupported_parameter",
    )
