"""A `models` list compiled once into a cheap membership test, access groups expanded.

LiteLLM's rules, kept: an empty list, `*` or `all-proxy-models` allows every model;
`prefix/*` allows every model under the prefix; a name that is a model access group
(`/model_access_group/*`, or a deployment's `model_info.access_groups` in the config)
allows every model in the group. `no-default-models` (users) allows nothing by
itself. `all-team-models` is resolved by the caller (it means the key's team's list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["ALL_TEAM_MODELS", "EVERYTHING", "Allowed", "compile_models"]

_ALL: Final = frozenset({"*", "all-proxy-models"})
ALL_TEAM_MODELS: Final = "all-team-models"
_NO_DEFAULT: Final = "no-default-models"


@dataclass(frozen=True, slots=True)
class Allowed:
    """Which model names a list admits: everything, exact names, or name prefixes."""

    everything: bool
    names: frozenset[str]
    prefixes: tuple[str, ...] = ()

    def __contains__(self, model: object) -> bool:
        if self.everything or model in self.names:
            return True
        return isinstance(model, str) and model.startswith(self.prefixes)

    def any_of(self, models: Iterable[str]) -> bool:
        """Whether any name in `models` is admitted (requested name, alias targets)."""
        return any(m in self for m in models)


EVERYTHING: Final = Allowed(True, frozenset())


def compile_models(
    models: list[str],
    groups: Mapping[str, list[str]],
    deployment_groups: Mapping[str, frozenset[str]],
) -> Allowed:
    """Expand access groups (one level, as LiteLLM does) and sort names from prefixes."""
    if not models:
        return EVERYTHING
    names: set[str] = set()
    prefixes: list[str] = []
    for entry in models:
        if entry in _ALL:
            return EVERYTHING
        if entry == _NO_DEFAULT:
            continue
        names.add(entry)
        members: list[str] = [*groups.get(entry, ()), *deployment_groups.get(entry, ())]
        for member in (entry, *members):
            if member in _ALL:
                return EVERYTHING
            if member.endswith("/*"):
                prefixes.append(member[:-1])
            else:
                names.add(member)
    return Allowed(False, frozenset(names), tuple(prefixes))
