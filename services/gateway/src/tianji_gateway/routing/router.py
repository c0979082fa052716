"""Minimal router: model name → deployments, weighted simple-shuffle, retry choice.

Why this shape: the full router (latency/cost/usage strategies, fallbacks, cooldowns)
comes later behind the same two calls, `resolve` and `pick`. Simple-shuffle weights as
LiteLLM does: `weight` if any deployment in the group sets it, else `rpm`, else `tpm`,
else uniform.
"""

from __future__ import annotations

import fnmatch
import functools
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from tianji_common.errors import GatewayError, InvalidRequest

from tianji_gateway.providers.registry import KNOWN_LITELLM_PROVIDERS
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.routing.region import ALLOWED_REGION, region_allows
from tianji_gateway.routing.resolve import resolve_provider

__all__ = ["ModelGroup", "Router"]

_WILDCARD_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class ModelGroup:
    """Deployments serving one public model name, with their pick weights."""

    name: str
    deployments: tuple[Deployment, ...]
    weights: tuple[float, ...]


def _weights(deps: tuple[Deployment, ...]) -> tuple[float, ...]:
    for attr in ("weight", "rpm", "tpm"):
        values = [getattr(d, attr) or 0 for d in deps]
        if any(values):
            return tuple(float(v) for v in values)
    return tuple(1.0 for _ in deps)


@functools.lru_cache(maxsize=256)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """`openai/*` → `openai/(.*)`: one capture per `*`, everything else literal."""
    return re.compile("(.*)".join(re.escape(p) for p in pattern.split("*")))


def _group(name: str, deps: Iterable[Deployment]) -> ModelGroup:
    t = tuple(deps)
    return ModelGroup(name, t, _weights(t))


@dataclass(frozen=True, slots=True)
class _Table:
    """Everything that changes when deployments change, swapped as one reference."""

    exact: dict[str, ModelGroup]
    wild: list[tuple[str, ModelGroup]]
    broken: dict[str, GatewayError]
    wild_cache: dict[str, ModelGroup]
    access_groups: dict[str, frozenset[str]]
    rate_limited: bool  # some deployment has `rpm` or `tpm` (the limiter's fast path)


def _table(deployments: Iterable[Deployment], broken: Mapping[str, GatewayError]) -> _Table:
    by_name: dict[str, list[Deployment]] = {}
    groups: dict[str, set[str]] = {}
    rate_limited = False
    for d in deployments:
        by_name.setdefault(d.model_name, []).append(d)
        rate_limited = rate_limited or d.rpm is not None or d.tpm is not None
        for group in d.model_info.get("access_groups") or ():
            if isinstance(group, str):
                groups.setdefault(group, set()).add(d.model_name)
    return _Table(
        exact={n: _group(n, ds) for n, ds in by_name.items() if "*" not in n},
        # Most specific wildcard first: `openai/*` before `*`.
        wild=sorted(
            ((n, _group(n, ds)) for n, ds in by_name.items() if "*" in n),
            key=lambda item: -len(item[0].replace("*", "")),
        ),
        broken=dict(broken),
        wild_cache={},
        access_groups={g: frozenset(ns) for g, ns in groups.items()},
        rate_limited=rate_limited,
    )


def _in_region(group: ModelGroup, region: str, requested: str) -> ModelGroup:
    """The group's deployments in `region` (an end user's `allowed_model_region`)."""
    keep = [i for i, d in enumerate(group.deployments) if region_allows(region, d.region)]
    if len(keep) == len(group.deployments):
        return group
    if not keep:
        raise InvalidRequest(
            f"No deployments available for selected model, passed model={requested}. "
            f"allowed_model_region={region}: no deployment of this model is in that region",
            param="model",
            code="no_deployments_available",
        )
    deps = tuple(group.deployments[i] for i in keep)
    return ModelGroup(group.name, deps, tuple(group.weights[i] for i in keep))


class Router:
    """Resolves a requested model to a group and picks deployments from it.

    Why one `_Table` reference: DB models (`/model/new`) change the deployments at
    run time. `update` builds a whole new table and swaps it in one assignment, so a
    request sees either the old deployments or the new ones, never a mix, and
    requests already holding a group finish on it.
    """

    def __init__(
        self,
        deployments: Iterable[Deployment],
        *,
        served: Iterable[str],
        aliases: Mapping[str, str] | None = None,
        broken: Mapping[str, GatewayError] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._t = _table(deployments, broken or {})
        self._served = frozenset(served)
        self._aliases = dict(aliases or {})
        self._rng = rng

    def update(
        self, deployments: Iterable[Deployment], broken: Mapping[str, GatewayError] | None = None
    ) -> None:
        """Serve `deployments` from now on (atomically; aliases are kept)."""
        self._t = _table(deployments, broken or {})

    @property
    def model_names(self) -> list[str]:
        """Public model names (exact groups), as `/v1/models` lists them."""
        return list(self._t.exact)

    @property
    def generation(self) -> object:
        """Changes identity whenever `update` swaps the deployments (for callers' caches)."""
        return self._t

    @property
    def rate_limited(self) -> bool:
        """Whether any deployment has an `rpm` or `tpm` limit."""
        return self._t.rate_limited

    @property
    def access_groups(self) -> Mapping[str, frozenset[str]]:
        """Access groups the deployments name (`model_info.access_groups`) -> models."""
        return self._t.access_groups

    def resolve(self, requested: str) -> ModelGroup:
        """The group for a requested model, through aliases, wildcards and region."""
        group = self._resolve(requested)
        region = ALLOWED_REGION.get()
        return group if region is None else _in_region(group, region, requested)

    def _resolve(self, requested: str) -> ModelGroup:
        t = self._t
        name = self._aliases.get(requested, requested)
        group = t.exact.get(name)
        if group is not None:
            return group
        if name in t.broken:
            raise t.broken[name]
        cached = t.wild_cache.get(name)
        if cached is not None:
            return cached
        for pattern, wild in t.wild:
            if fnmatch.fnmatchcase(name, pattern):
                group = _group(
                    name, (self._materialize(d, name, pattern) for d in wild.deployments)
                )
                if len(t.wild_cache) < _WILDCARD_CACHE_MAX:
                    t.wild_cache[name] = group
                return group
        raise InvalidRequest(
            f"Invalid model name passed in model={requested}. "
            "Call `/v1/models` to view available models for your key.",
            param="model",
            code="model_not_found",
        )

    def _materialize(self, dep: Deployment, requested: str, pattern: str) -> Deployment:
        """A wildcard deployment made concrete for one requested model name.

        As LiteLLM's pattern router does: what each `*` of the model_name matched fills
        the `*` of `litellm_params.model` (`wild/*` + `openai/*`: `wild/x` → `openai/x`).
        """
        template = dep.template or "*"
        if template == "*":
            concrete = requested
        else:
            match = _pattern_regex(pattern).fullmatch(requested)
            captures = list(match.groups()) if match else []
            head, *rest = template.split("*")
            concrete = head + "".join((captures.pop(0) if captures else "") + p for p in rest)
        provider, upstream = resolve_provider(
            concrete,
            dep.custom_provider,
            dep.api_base,
            served=self._served,
            known=KNOWN_LITELLM_PROVIDERS,
        )
        price = dep.pricer(upstream, provider) if dep.pricer is not None else dep.price
        return replace(dep, model_name=requested, provider=provider, model=upstream, price=price)

    def pick(
        self, group: ModelGroup, exclude: frozenset[str] | set[str] = frozenset()
    ) -> Deployment:
        """Weighted random choice; deployments already tried are skipped if others remain."""
        deps, weights = group.deployments, group.weights
        if exclude and len(deps) > 1:
            keep = [i for i, d in enumerate(deps) if d.id not in exclude]
            if keep:
                deps = tuple(deps[i] for i in keep)
                weights = tuple(weights[i] for i in keep)
        if len(deps) == 1:
            return deps[0]
        total = sum(weights)
        if total <= 0:
            return deps[int(self._rng() * len(deps)) % len(deps)]
        point = self._rng() * total
        for dep, w in zip(deps, weights, strict=True):
            point -= w
            if point < 0:
                return dep
        return deps[-1]
