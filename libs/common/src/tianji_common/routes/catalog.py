"""Match a request against every route the LiteLLM proxy serves.

Why: a client calling a LiteLLM endpoint TianjiLLM does not serve yet must get a 501
that names the feature (FR-028), not a bare 404 that looks like a typo. The catalog is
data (`litellm_routes.tsv`: area, method, template) compiled once at startup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["RouteCatalog", "RouteInfo", "load_catalog"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """One LiteLLM route: the feature area it belongs to, its method and template."""

    area: str
    method: str
    template: str


def _compile(template: str) -> re.Pattern[str]:
    out = []
    pos = 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(".+" if m.group(2) else "[^/]+")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out) + "/?")


class RouteCatalog:
    """Compiled templates, most specific (most literal characters) first."""

    def __init__(self, routes: list[RouteInfo]) -> None:
        def specificity(r: RouteInfo) -> int:
            return -len(_PARAM.sub("", r.template))

        ordered = sorted(routes, key=specificity)
        self._routes = tuple((r, _compile(r.template)) for r in ordered)

    def __len__(self) -> int:
        return len(self._routes)

    def match(self, method: str, path: str) -> RouteInfo | None:
        """The LiteLLM route for this request, preferring one with the same method."""
        fallback: RouteInfo | None = None
        for info, pattern in self._routes:
            if pattern.fullmatch(path):
                if info.method == method.upper():
                    return info
                fallback = fallback or info
        return fallback


@cache
def load_catalog() -> RouteCatalog:
    """Load the packaged catalog once per process (it is immutable)."""
    text = resources.files(__package__).joinpath("litellm_routes.tsv").read_text("utf-8")
    routes = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        area, method, template = line.split("\t")
        routes.append(RouteInfo(area, method, template))
    return RouteCatalog(routes)
