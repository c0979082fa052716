"""NVIDIA NIM (build.nvidia.com): OpenAI-compatible chat and embeddings.

Quirks (LiteLLM `llms/nvidia_nim/chat/transformation.py`, docs.api.nvidia.com/nim):
- supported parameters differ per model; the table below is LiteLLM's, expressed as
  what each model family rejects (dropped or answered with 400);
- `max_completion_tokens` is sent as `max_tokens`;
- embeddings take NIM's own `input_type` / `truncate`, forwarded as sent;
- errors come as RFC 7807 problem+json (`title`, `detail`), read by the shared parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tianji_gateway.providers._openai_compat import MAX_TOKENS, CompatAdapter
from tianji_gateway.providers.base import Op, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["NvidiaNimAdapter"]

_DEFAULT = frozenset({"logit_bias", "logprobs", "top_logprobs", "n"})
_NO_TOOLS = _DEFAULT | {"tools", "tool_choice", "parallel_tool_calls", "response_format"}
_GEMMA = _NO_TOOLS | {"frequency_penalty", "presence_penalty"}
# Model -> parameters it rejects (LiteLLM's per-model supported lists, inverted).
_BY_MODEL: dict[str, frozenset[str]] = {
    "google/recurrentgemma-2b": _GEMMA,
    "google/gemma-2-27b-it": _GEMMA,
    "google/gemma-2-9b-it": _GEMMA,
    "gemma-2-9b-it": _GEMMA,
    "nvidia/nemotron-4-340b-instruct": _GEMMA | {"stop", "seed"},
    "nvidia/nemotron-4-340b-reward": _GEMMA
    | {"stop", "seed", "temperature", "top_p", "max_tokens"},
    "google/codegemma-1.1-7b": _NO_TOOLS | {"seed"},
}


class NvidiaNimAdapter(CompatAdapter):
    """integrate.api.nvidia.com/v1."""

    name = "nvidia_nim"
    default_api_base = "https://integrate.api.nvidia.com/v1"
    env_key = "NVIDIA_NIM_API_KEY"
    env_base = "NVIDIA_NIM_API_BASE"
    caps = ProviderCaps(unsupported_params=_DEFAULT, ops=frozenset({Op.CHAT, Op.EMBEDDING}))
    renames = MAX_TOKENS

    def unsupported(self, dep: Deployment) -> frozenset[str]:
        """The model's own list, else the common one."""
        return _BY_MODEL.get(dep.model, _DEFAULT)
