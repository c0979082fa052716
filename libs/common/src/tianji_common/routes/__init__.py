"""The LiteLLM proxy's route catalog, so unbuilt routes answer 501 by name."""

from tianji_common.routes.catalog import RouteCatalog, RouteInfo, load_catalog

__all__ = ["RouteCatalog", "RouteInfo", "load_catalog"]
