"""Gateway wiring: build state from config, expose a Component, or a whole app.

Why a Component: the split gateway serves it alone; `tianji up` composes it with the
control plane's routes into one app on one port.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from litestar.types import ASGIApp
from tianji_common.config.model import ProxyConfig
from tianji_common.crypto import box_from_env
from tianji_common.http import Component, compose_app

from tianji_gateway.api.llm import llm_routes, make_serve
from tianji_gateway.api.messages import messages_routes
from tianji_gateway.api.models import model_routes
from tianji_gateway.auth import Authenticator, check_master_key_strength
from tianji_gateway.fastpath import FastPath
from tianji_gateway.lifecycle import Lifecycle
from tianji_gateway.limits import LimitedRouter, Limits, LimitsSettings
from tianji_gateway.pipeline import Pipeline
from tianji_gateway.providers.registry import load_adapters
from tianji_gateway.routing.build import DeploymentBuilder
from tianji_gateway.routing.router import Router
from tianji_gateway.settings import GatewaySettings
from tianji_gateway.state import GatewayState
from tianji_gateway.upstream.client import PoolSettings, UpstreamClient
from tianji_gateway.usage import Publisher, UsagePublisher

if TYPE_CHECKING:
    from tianji_gateway.policy import GatewayPolicy

__all__ = ["build_gateway", "create_app", "gateway_version"]

log = logging.getLogger("tianji.gateway")


def gateway_version() -> str:
    """The installed distribution's version (sent as `x-litellm-version`)."""
    try:
        return version("tianji-gateway")
    except PackageNotFoundError:
        return "0.0.0"


def build_gateway(
    cfg: ProxyConfig,
    env: Mapping[str, str],
    bus: Publisher,
    *,
    settings: GatewaySettings | None = None,
    policy: GatewayPolicy | None = None,
) -> tuple[GatewayState, Component]:
    """Resolve deployments and build the request path; raises on a weak master key.

    `policy` (virtual keys, teams, model access from the control plane's snapshot)
    is None when only the master key exists.
    """
    settings = settings or GatewaySettings.from_config(cfg, env)
    check_master_key_strength(settings.master_key, permit_weak=settings.permit_weak_master_key)
    adapters = load_adapters()
    builder = DeploymentBuilder(cfg, env, adapters)
    built = builder.build()
    for warning in built.warnings:
        log.warning("%s", warning)
    aliases: dict[str, str] = dict(cfg.litellm_settings.model_alias_map or {})
    for alias, target in (cfg.router_settings.model_group_alias or {}).items():
        aliases[alias] = target["model"] if isinstance(target, dict) else str(target)
    # Rate limits and budgets (issue 4): counters in Redis when REDIS_URL is set, else memory.
    limits = Limits(
        LimitsSettings.from_config(cfg, env), policy.store if policy is not None else None
    )
    router_cls = LimitedRouter if limits.enabled else Router
    router = router_cls(
        built.deployments, served=adapters.keys(), aliases=aliases, broken=built.broken
    )
    if policy is not None:  # DB models from the snapshot join the config's, live
        policy.attach_router(router, builder, box_from_env(env, master_key=settings.master_key))
    upstream = UpstreamClient(PoolSettings(max_response_bytes=settings.max_response_bytes))
    usage = UsagePublisher(bus, on_event=limits.on_usage)
    lifecycle = Lifecycle()
    pipeline = Pipeline(
        router=router,
        adapters=adapters,
        upstream=upstream,
        usage=usage,
        retry_after=cfg.router_settings.retry_after,
        version=gateway_version(),
    )
    pipeline = limits.wrap(pipeline, router)  # inside the model check: aliases resolved
    if policy is not None:
        pipeline = policy.guard(pipeline)
    keys = policy.resolver if policy is not None else None
    auth = Authenticator(settings.master_key, header_name=settings.key_header_name, keys=keys)
    state = GatewayState(settings, auth, router, pipeline, upstream, usage, lifecycle)

    async def startup() -> None:
        await upstream.start()
        usage.start()
        await limits.start(bus)
        if policy is not None:
            await policy.start()
        lifecycle.ready = True
        log.info(
            "gateway ready: %d deployments, %d model names",
            len(built.deployments),
            len(router.model_names),
        )

    async def shutdown() -> None:
        drained = await lifecycle.drain(settings.shutdown_grace_seconds)
        if not drained:
            log.warning(
                "shutdown grace period ended with %d requests in flight", lifecycle.inflight
            )
        await limits.close()
        await usage.close()
        await upstream.close()
        if policy is not None:
            await policy.close()

    serve = make_serve(state)
    models = model_routes(state) if policy is None else policy.model_routes(state)
    routes = [*llm_routes(serve), *models, *messages_routes(state, adapters)]

    def wrap(app: ASGIApp) -> ASGIApp:
        return FastPath(app, serve, max_body=settings.max_request_bytes)  # type: ignore[arg-type,return-value]  # litestar types ASGI scopes as TypedDicts; ours are plain mappings

    component = Component(
        "gateway",
        routes,
        (startup,),
        (shutdown,),
        ready=lambda: (
            lifecycle.ready and not lifecycle.draining and (policy is None or policy.loaded)
        ),
        wrap=wrap,
    )
    return state, component


create_app = compose_app  # the gateway alone, or composed with other components
