"""Turn the config's `model_list` into resolved deployments, once, at startup.

Why: credentials, provider, timeouts and pre-encoded default parameters are computed
here so the request path only merges dictionaries (PP-1). A deployment whose provider
is not served is kept as a startup warning and answers 400 at request time, which is
what LiteLLM users expect from a misconfigured entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import msgspec
from tianji_common.config.model import Credential, LiteLLMParams, ModelEntry, ProxyConfig
from tianji_common.errors import GatewayError, InvalidRequest
from tianji_common.pricing import (
    PRICING_FILE_ENV,
    Prices,
    PriceTable,
    custom_prices,
    load_prices,
    resolve_prices,
)

from tianji_gateway.providers.base import ProviderAdapter
from tianji_gateway.providers.registry import KNOWN_LITELLM_PROVIDERS
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.routing.region import deployment_region
from tianji_gateway.routing.resolve import resolve_provider

__all__ = [
    "BuildResult",
    "DeploymentBuilder",
    "WildcardPrices",
    "build_deployments",
    "deployment_id",
]

DEFAULT_TIMEOUT = 600.0
DEFAULT_NUM_RETRIES = 2
WILDCARD_PRICE_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class BuildResult:
    """Deployments ready to serve, plus what could not be resolved (by group)."""

    deployments: tuple[Deployment, ...]
    broken: Mapping[str, GatewayError]
    warnings: tuple[str, ...]


def deployment_id(entry: ModelEntry) -> str:
    """`model_info.id`, else a stable hash of the entry (LiteLLM hashes it too)."""
    if entry.model_info.id:
        return entry.model_info.id
    canon = msgspec.json.encode(
        {
            "model_name": entry.model_name,
            "litellm_params": msgspec.to_builtins(entry.litellm_params),
        },
        order="sorted",
    )
    return hashlib.sha256(canon).hexdigest()


def _credential(params: LiteLLMParams, creds: Mapping[str, Credential]) -> Mapping[str, object]:
    if not params.litellm_credential_name:
        return {}
    cred = creds.get(params.litellm_credential_name)
    return cred.credential_values if cred else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _one(
    entry: ModelEntry,
    cfg: ProxyConfig,
    env: Mapping[str, str],
    adapters: Mapping[str, ProviderAdapter],
    creds: Mapping[str, Credential],
    prices: PriceTable,
) -> Deployment:
    p = entry.litellm_params
    cred = _credential(p, creds)
    api_base = p.api_base or _str(cred.get("api_base"))
    template = p.model if "*" in p.model else None
    if template is not None:
        provider, upstream = _wildcard_provider(p.model, p.custom_llm_provider, adapters), p.model
    else:
        provider, upstream = resolve_provider(
            p.model,
            p.custom_llm_provider,
            api_base,
            served=adapters.keys(),
            known=KNOWN_LITELLM_PROVIDERS,
        )
    adapter = adapters.get(provider)
    api_key = p.api_key or _str(cred.get("api_key"))
    api_version = p.api_version or _str(cred.get("api_version"))
    settings = dict(getattr(p, "settings", {}) or {})
    if adapter is not None:
        key_vars = ((adapter.env_key,) if adapter.env_key else ()) + adapter.env_key_fallbacks
        api_key = api_key or _first_env(env, key_vars)
        api_base = api_base or (env.get(adapter.env_base) if adapter.env_base else None)
        api_version = api_version or (env.get(adapter.env_version) if adapter.env_version else None)
        for name, variables in adapter.env_settings.items():
            if settings.get(name) in (None, ""):
                value = _first_env(env, variables)
                if value is not None:
                    settings[name] = value
    rs, ls = cfg.router_settings, cfg.litellm_settings
    timeout = p.timeout or rs.timeout or ls.request_timeout or DEFAULT_TIMEOUT
    retries = next(
        (v for v in (p.num_retries, rs.num_retries, ls.num_retries) if v is not None),
        DEFAULT_NUM_RETRIES,
    )
    headers = {**(p.headers or {}), **(p.extra_headers or {})}
    drop = p.drop_params if p.drop_params is not None else ls.drop_params
    return Deployment(
        id=deployment_id(entry),
        model_name=entry.model_name,
        provider=provider,
        model=upstream,
        api_base=api_base,
        api_key=api_key,
        api_version=api_version,
        organization=p.organization,
        timeout=float(timeout),
        stream_timeout=p.stream_timeout or rs.stream_timeout,
        num_retries=retries,
        weight=float(p.weight) if p.weight else 0.0,
        rpm=p.rpm,
        tpm=p.tpm,
        drop_params=drop,
        additional_drop_params=frozenset(p.additional_drop_params or ()),
        default_body={k: msgspec.Raw(msgspec.json.encode(v)) for k, v in p.extra.items()},
        extra_headers=tuple((k.lower(), str(v)) for k, v in headers.items()),
        settings=settings,
        model_info=msgspec.to_builtins(entry.model_info),
        template=template,
        custom_provider=p.custom_llm_provider,
        price=None if template is not None else _price(entry, provider, upstream, prices),
        pricer=_wildcard_pricer(entry, prices) if template is not None else None,
        region=deployment_region(p.region_name, entry.model_info.extra, settings),
    )


def _custom(entry: ModelEntry) -> dict[str, Decimal]:
    try:
        return custom_prices(entry.model_info.extra, entry.litellm_params.settings)
    except ValueError as exc:
        raise InvalidRequest(f"custom pricing: {exc}", param="model_info") from None


def _price(entry: ModelEntry, provider: str, model: str, prices: PriceTable) -> Prices | None:
    """Table entry (via `base_model` if set) with the deployment's custom pricing over it."""
    base = entry.litellm_params.base_model or entry.model_info.base_model
    return resolve_prices(prices, model, provider, base_model=base, custom=_custom(entry))


def _wildcard_pricer(entry: ModelEntry, prices: PriceTable) -> WildcardPrices:
    base = entry.litellm_params.base_model or entry.model_info.base_model
    return WildcardPrices(prices, _custom(entry), base)


class WildcardPrices:
    """A wildcard deployment's prices per concrete model, each resolved once.

    Why: `openai/*` names its models only at request time. The router calls this when
    it makes a deployment concrete (itself cached per model name); the bounded dict
    here keeps the table lookup off the request path even past the router's cache.
    Custom pricing and `base_model` apply to every model the wildcard serves.
    """

    __slots__ = ("_base", "_cache", "_custom", "_table")

    def __init__(self, table: PriceTable, custom: Mapping[str, Decimal], base: str | None) -> None:
        self._table, self._custom, self._base = table, custom, base
        self._cache: dict[tuple[str, str], Prices | None] = {}

    def __call__(self, model: str, provider: str) -> Prices | None:
        """`model` as served by `provider`, priced like a concrete deployment of it."""
        key = (provider, model)
        if key in self._cache:
            return self._cache[key]
        found = resolve_prices(
            self._table, model, provider, base_model=self._base, custom=self._custom
        )
        if len(self._cache) < WILDCARD_PRICE_CACHE_MAX:
            self._cache[key] = found
        return found


def _wildcard_provider(
    model: str, custom: str | None, adapters: Mapping[str, ProviderAdapter]
) -> str:
    """The provider a wildcard template names (`openai/*`), or `*` if it names none."""
    if custom:
        return custom
    prefix, sep, _ = model.partition("/")
    return prefix if sep and (prefix in adapters or prefix in KNOWN_LITELLM_PROVIDERS) else "*"


def _first_env(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[n] for n in names if env.get(n)), None)


class DeploymentBuilder:
    """Builds deployments from the config plus, later, the DB models of the snapshot.

    Why a class: the price table and the config's credentials are read once; each
    policy change that touches DB models or credentials rebuilds the whole list from
    here (config entries first, then the database's), which takes milliseconds.
    The config's `credential_list` wins over a database credential of the same name,
    as in LiteLLM (its config credentials are looked up first).
    """

    def __init__(
        self, cfg: ProxyConfig, env: Mapping[str, str], adapters: Mapping[str, ProviderAdapter]
    ) -> None:
        self._cfg = cfg
        self._env = env
        self._adapters = adapters
        self._creds = {c.credential_name: c for c in cfg.credential_list}
        self._prices = load_prices(env.get(PRICING_FILE_ENV) or None)

    @property
    def env(self) -> Mapping[str, str]:
        """The environment deployments resolve `os.environ/` and provider keys from."""
        return self._env

    def build(
        self,
        extra: Sequence[ModelEntry] = (),
        credentials: Mapping[str, Credential] | None = None,
    ) -> BuildResult:
        """Resolve every config entry, then `extra`; keep going past broken ones."""
        creds = {**(credentials or {}), **self._creds}
        out: list[Deployment] = []
        broken: dict[str, GatewayError] = {}
        warnings: list[str] = []
        entries = [*(("model_list", e) for e in self._cfg.model_list), *(("db", e) for e in extra)]
        for i, (source, entry) in enumerate(entries):
            try:
                out.append(_one(entry, self._cfg, self._env, self._adapters, creds, self._prices))
            except GatewayError as exc:
                broken.setdefault(entry.model_name, exc)
                where = f"model_list[{i}]" if source == "model_list" else "database model"
                warnings.append(f"{where} ({entry.model_name}): {exc.message}")
        return BuildResult(tuple(out), broken, tuple(warnings))


def build_deployments(
    cfg: ProxyConfig, env: Mapping[str, str], adapters: Mapping[str, ProviderAdapter]
) -> BuildResult:
    """Resolve every `model_list` entry; keep going past broken ones."""
    return DeploymentBuilder(cfg, env, adapters).build()
