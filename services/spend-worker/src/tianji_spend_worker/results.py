"""What a committed batch or budget reset hands back: totals, alerts, order.

Why separate from the writers: the Postgres and SQLite writers return the same
shapes, and the consumer turns them into one `SpendUpdated` and alert sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from tianji_common.events import SpendEntry

if TYPE_CHECKING:
    from datetime import datetime

    from tianji_spend_worker.alerts.model import Alert

__all__ = ["BatchResult", "EntityTotal", "ResetResult", "spend_entry"]


class EntityTotal(NamedTuple):
    """One entity's absolute spend, read back in the transaction that changed it."""

    kind: str
    id: str
    spend: Decimal
    model_spend: dict[str, Decimal] | None = None  # None: the entity keeps none
    max_budget: Decimal | None = None
    soft_budget: Decimal | None = None
    budget_reset_at: datetime | None = None  # the budget period the spend belongs to


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A committed batch: how many events were new, and what they changed."""

    new: int = 0
    totals: list[EntityTotal] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)  # logged in the same commit
    seq: int = 0


@dataclass(frozen=True, slots=True)
class ResetResult:
    """A committed budget reset: the entities whose spend went back to zero."""

    reset: list[tuple[str, str]] = field(default_factory=list)  # (kind, id)
    seq: int = 0


def spend_entry(total: EntityTotal) -> SpendEntry:
    """The wire form: Decimal as text, absolute values."""
    models = {m: str(v) for m, v in (total.model_spend or {}).items()}
    return SpendEntry(kind=total.kind, id=total.id, spend=str(total.spend), model_spend=models)
