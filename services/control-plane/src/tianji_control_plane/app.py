"""Control-plane wiring: the management API's home, on Postgres or SQLite.

Built so far: `/key/*`, the minimal `/team/*`, `/user/*`, `/organization/*`, and
the policy snapshot the gateways load (`/internal/policy/snapshot`) plus the change
events they follow on the bus.
Every other LiteLLM management route answers 501 naming the feature (through the
shared route catalog).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from piccolo.engine.base import Engine
from tianji_common.db.engine import close_engine, open_engine, run_sql
from tianji_common.http import Component

from tianji_control_plane.api.access_groups import access_group_routes
from tianji_control_plane.api.activity import activity_routes
from tianji_control_plane.api.budgets import budget_routes
from tianji_control_plane.api.credentials import credential_routes
from tianji_control_plane.api.customers import customer_routes
from tianji_control_plane.api.keys import key_routes
from tianji_control_plane.api.models import model_routes
from tianji_control_plane.api.orgs import org_routes
from tianji_control_plane.api.policy import policy_routes, snapshot_bytes
from tianji_control_plane.api.spend import spend_routes
from tianji_control_plane.api.state import ControlState
from tianji_control_plane.api.teams import team_routes
from tianji_control_plane.api.users import user_routes
from tianji_control_plane.domain.models import config_deployments
from tianji_control_plane.domain.snapshot import BusNotifier
from tianji_control_plane.repo.db import Db

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_common.bus.base import EventBus
    from tianji_common.config.model import ModelEntry

__all__ = ["ControlPlane", "build_control_plane", "redact_url"]

log = logging.getLogger("tianji.control_plane")


def redact_url(url: str) -> str:
    """A database URL safe to log: the password is masked."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


class _Db:
    def __init__(self) -> None:
        self.engine: Engine[Any] | None = None


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """The component to serve, and the in-process snapshot source (the all-in-one's)."""

    component: Component
    snapshot: Callable[[], Awaitable[bytes]]


def build_control_plane(
    database_url: str,
    *,
    master_key: str | None = None,
    bus: EventBus | None = None,
    config_models: Sequence[ModelEntry] = (),
) -> ControlPlane:
    """The management API; readiness follows the database connection.

    `bus` carries policy changes to the gateways (None: nobody listens, e.g. tests).
    `config_models` is the config file's `model_list`: listed by `/model/info` next to
    the models stored in the database, read-only.
    """
    config = config_deployments(config_models)
    db = _Db()
    state = ControlState(master_key=master_key, notifier=BusNotifier(bus))

    async def startup() -> None:
        db.engine = await open_engine(database_url, max_size=10)
        await run_sql(db.engine, "SELECT 1")
        state.db = Db.bind(db.engine)
        log.info("control plane connected to %s", redact_url(database_url))

    async def shutdown() -> None:
        state.db = None
        if db.engine is not None:
            await close_engine(db.engine)

    routes = [
        *key_routes(state),
        *team_routes(state),
        *user_routes(state),
        *org_routes(state),
        *customer_routes(state),
        *budget_routes(state),
        *model_routes(state, config),
        *credential_routes(state, config),
        *access_group_routes(state, config),
        *spend_routes(state),
        *activity_routes(state),
        *policy_routes(state),
    ]
    component = Component(
        "control-plane", routes, (startup,), (shutdown,), ready=lambda: state.db is not None
    )
    return ControlPlane(component, lambda: snapshot_bytes(state))
