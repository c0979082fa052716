"""Gateway settings: the parts of the config and environment the data plane reads.

Why a separate Struct: the gateway is stateless and reads these once at startup;
everything per tenant comes later from the policy snapshot, never from a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tianji_common.config.model import ProxyConfig

__all__ = ["GatewaySettings"]

_TRUE = {"1", "true", "yes", "on"}
DEFAULT_MAX_BODY_MB = 32.0
DEFAULT_MAX_RESPONSE_MB = 64.0


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Resolved once; env names follow LiteLLM's, with TIANJI_ spellings first."""

    master_key: str | None
    permit_weak_master_key: bool
    max_request_bytes: int
    max_response_bytes: int
    completion_model: str | None
    embedding_model: str | None
    key_header_name: str | None
    json_logs: bool
    debug: bool
    shutdown_grace_seconds: float = 25.0

    @classmethod
    def from_config(cls, cfg: ProxyConfig, env: Mapping[str, str]) -> GatewaySettings:
        """Config file first, then environment, as LiteLLM resolves the master key."""
        gs, ls = cfg.general_settings, cfg.litellm_settings
        master = gs.master_key or env.get("TIANJI_MASTER_KEY") or env.get("LITELLM_MASTER_KEY")
        permit_env = (
            env.get("TIANJI_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY")
            or env.get("LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY")
            or ""
        )
        max_mb = gs.max_request_size_mb or DEFAULT_MAX_BODY_MB
        debug_env = (env.get("LITELLM_LOG") or env.get("TIANJI_LOG") or "").upper() == "DEBUG"
        return cls(
            master_key=master,
            permit_weak_master_key=gs.dangerously_permit_weak_or_unset_master_key
            or permit_env.lower() in _TRUE,
            max_request_bytes=int(max_mb * 1024 * 1024),
            max_response_bytes=int(
                (gs.max_response_size_mb or DEFAULT_MAX_RESPONSE_MB) * 1024 * 1024
            ),
            completion_model=gs.completion_model,
            embedding_model=gs.embedding_model,
            key_header_name=gs.litellm_key_header_name,
            json_logs=ls.json_logs or env.get("JSON_LOGS", "").lower() in _TRUE,
            debug=ls.set_verbose or debug_env,
            shutdown_grace_seconds=float(env.get("TIANJI_SHUTDOWN_GRACE_SECONDS", "25")),
        )
