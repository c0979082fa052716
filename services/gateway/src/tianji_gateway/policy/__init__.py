"""Policy enforcement from the control plane's snapshot (virtual keys, teams, models).

The gateway never opens a database connection: it loads the snapshot over HTTP (or
in-process in `tianji up`) and follows change events on the bus. DB models in the
snapshot are served next to the config's once `attach_router` is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tianji_gateway.policy.dbmodels import DbModelSync
from tianji_gateway.policy.guard import GuardedPipeline
from tianji_gateway.policy.resolver import SnapshotKeyResolver
from tianji_gateway.policy.store import PolicyStore
from tianji_gateway.policy.sync import Fetch, PolicySync

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler
    from tianji_common.bus.base import EventBus
    from tianji_common.crypto import SecretBox

    from tianji_gateway.pipeline import Pipeline
    from tianji_gateway.routing.build import DeploymentBuilder
    from tianji_gateway.routing.router import Router
    from tianji_gateway.state import GatewayState

__all__ = ["GatewayPolicy", "PolicyStore", "SnapshotKeyResolver"]


@dataclass(slots=True)
class GatewayPolicy:
    """The store, its resolver and its sync, built together for one gateway."""

    store: PolicyStore
    resolver: SnapshotKeyResolver
    sync: PolicySync
    _started: bool = field(default=False)

    @classmethod
    def create(
        cls, fetch: Fetch, bus: EventBus | None, *, resync_every: float = 30.0
    ) -> GatewayPolicy:
        """Wire a store to a snapshot source and a bus."""
        store = PolicyStore()
        sync = PolicySync(store, fetch, bus, resync_every=resync_every)
        return cls(store, SnapshotKeyResolver(store), sync)

    @property
    def loaded(self) -> bool:
        """True once the first snapshot is in (readiness)."""
        return self.store.loaded

    def attach_router(
        self, router: Router, builder: DeploymentBuilder, box: SecretBox | None
    ) -> None:
        """Serve the snapshot's DB models through `router`, rebuilt on every change.

        `box` decrypts their secrets (`box_from_env(env, master_key=...)`); the config's
        `model_info.access_groups` become usable in key and team model lists at once.
        """
        models = DbModelSync(self.store, router, builder, box)
        self.store.on_deployments_changed(models.refresh)
        self.store.set_deployment_groups(router.access_groups)
        if self.store.models or self.store.credentials:
            models.refresh()

    def guard(self, pipeline: Pipeline) -> Pipeline:
        """`pipeline` behind the model-access check."""
        return GuardedPipeline(pipeline, self.store)

    def model_routes(self, state: GatewayState) -> list[ControllerRouterHandler]:
        """`/v1/models` filtered per caller."""
        from tianji_gateway.policy.models import policy_model_routes

        return policy_model_routes(state, self.store)

    async def start(self) -> None:
        """Subscribe and start loading (in the background)."""
        await self.sync.start()

    async def close(self) -> None:
        """Stop following changes."""
        await self.sync.close()
