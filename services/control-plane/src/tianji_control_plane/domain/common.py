"""What every management write shares: the transaction, the audit row, the change event.

Why one context manager: "every write in one transaction with an audit-log row, and
nothing half-written on error" and "publish after commit" are easy to get wrong one
route at a time. `write()` opens the transaction, bumps the policy version last (so
the version row's lock is held for the shortest time) and publishes the collected
changes only after the commit succeeded.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_control_plane.domain.roles import MASTER_CALLER, Caller
from tianji_control_plane.repo.audit import add_audit
from tianji_control_plane.repo.version import bump_version

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tianji_common.policy import (
        BudgetPolicy,
        CredentialPolicy,
        CustomerPolicy,
        DbModelPolicy,
    )

    from tianji_control_plane.repo.db import Db
    from tianji_control_plane.repo.records import KeyRecord, OrgRecord, TeamRecord, UserRecord

__all__ = [
    "Changes",
    "Ctx",
    "Notifier",
    "abbreviate",
    "hash_token",
    "parse_duration",
    "token_of",
    "write",
]

_DURATION: Final = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d|w)\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}


@dataclass(slots=True)
class Changes:
    """Entities changed in one write (None: deleted) and the version it committed."""

    version: int = 0
    keys: dict[str, KeyRecord | None] = field(default_factory=dict)
    teams: dict[str, TeamRecord | None] = field(default_factory=dict)
    users: dict[str, UserRecord | None] = field(default_factory=dict)
    orgs: dict[str, OrgRecord | None] = field(default_factory=dict)
    # Sections added later carry the gateway's view directly (built by their domain module).
    customers: dict[str, CustomerPolicy | None] = field(default_factory=dict)
    budgets: dict[str, BudgetPolicy | None] = field(default_factory=dict)
    access_groups: dict[str, list[str] | None] = field(default_factory=dict)
    models: dict[str, DbModelPolicy | None] = field(default_factory=dict)
    credentials: dict[str, CredentialPolicy | None] = field(default_factory=dict)


class Notifier(Protocol):
    """Publishes committed changes to the gateways."""

    async def changed(self, changes: Changes) -> None:
        """Called once per committed write; must not raise."""
        ...


@dataclass(frozen=True, slots=True)
class Ctx:
    """Who is writing, to which database, and who hears about it.

    `caller` is who called (`domain.roles.Caller`), for row-level checks such as
    `ctx.caller.may_manage_key(record)`; `actor` is the id the audit log names.
    """

    db: Db
    actor: str
    notifier: Notifier
    caller: Caller = MASTER_CALLER

    async def audit(
        self,
        action: str,
        table_name: str,
        object_id: str,
        before: object | None,
        after: object | None,
    ) -> None:
        """One audit row inside the current transaction."""
        await add_audit(
            self.db,
            changed_by=self.actor,
            action=action,
            table_name=table_name,
            object_id=object_id,
            before=_plain(before),
            after=_plain(after),
        )


def _plain(value: object | None) -> dict[str, Any] | None:
    if value is None:
        return None
    builtins = msgspec.to_builtins(value)
    return builtins if isinstance(builtins, dict) else {"value": builtins}


@asynccontextmanager
async def write(ctx: Ctx) -> AsyncIterator[Changes]:
    """One transaction; publishes the changes after it commits, never on error."""
    changes = Changes()
    async with ctx.db.transaction():
        yield changes
        changes.version = await bump_version(ctx.db)
    await ctx.notifier.changed(changes)


def hash_token(key: str) -> str:
    """SHA-256 hex of the whole `sk-…` key (LiteLLM's `hash_token`)."""
    return hashlib.sha256(key.encode()).hexdigest()


def token_of(key_or_hash: str) -> str:
    """A key (`sk-…`) is hashed; anything else is taken as a hash already (as LiteLLM)."""
    return hash_token(key_or_hash) if key_or_hash.startswith("sk-") else key_or_hash


def abbreviate(key: str) -> str:
    """`sk-...abcd`: LiteLLM's `key_name`."""
    return f"sk-...{key[-4:]}"


def parse_duration(value: str, param: str) -> timedelta:
    """LiteLLM durations: `30s`, `30m`, `30h`, `30d`, `2w`, `1mo` (30 days here)."""
    match = _DURATION.match(value)
    if match is None:
        raise InvalidRequest(
            f"invalid {param} {value!r}: use a number followed by s, m, h, d, w or mo",
            param=param,
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
