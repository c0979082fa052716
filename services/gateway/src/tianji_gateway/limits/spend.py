"""The confirmed spend a budget check starts from: the snapshot, then `SpendUpdated`.

Why a separate view: the policy snapshot carries each entity's spend at snapshot
time; the spend-worker then broadcasts absolute totals after each committed batch
(`tianji_common.events.SpendUpdated`). A total is newer than the snapshot's figure,
so once an entity has one, it wins; a lower `seq` from the same writer is stale and
ignored. Every replica receives every update, so every replica's view converges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tianji_common.events import SpendUpdated

__all__ = ["NANOS", "Confirmation", "SpendView", "to_nanos"]

NANOS: Final = 1_000_000_000  # money in integer nano-USD: exact in Redis INCRBY


def to_nanos(value: float | str | Decimal) -> int:
    """USD (float from a snapshot, text from an event, Decimal) as integer nano-USD.

    Floats (snapshot figures) are converted with float arithmetic: exact to the nano
    below 9e6 USD (2**53 nanos), and five times cheaper than through `Decimal`.
    """
    if isinstance(value, float):
        return round(value * NANOS) if math.isfinite(value) else 0
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return 0
    if not dec.is_finite():
        return 0
    return int(dec * NANOS)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """One entity's new confirmed total, and the one it replaces (for the settle books)."""

    kind: str
    id: str
    total: int
    previous: int
    reset: bool


SnapshotSpend = Callable[[str, str], float]


class SpendView:
    """Confirmed spend per `(kind, id)` in nano-USD; model spend as kind `key_model`.

    `snapshot_spend(kind, id)` reads the policy store's figure for an entity not yet
    updated by the spend-worker.
    """

    __slots__ = ("_seq", "_snap_seen", "_snapshot_spend", "_totals")

    def __init__(self, snapshot_spend: SnapshotSpend) -> None:
        self._snapshot_spend = snapshot_spend
        self._totals: dict[tuple[str, str], int] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._snap_seen: dict[tuple[str, str], int] = {}

    def watch(self, kind: str, id_: str) -> None:
        """Follow this entity's snapshot figure (it has settled spend to confirm)."""
        name = (kind, id_)
        if name not in self._snap_seen:
            self._snap_seen[name] = to_nanos(self._snapshot_spend(kind, id_))

    def snapshot_moves(self) -> list[Confirmation]:
        """Snapshot figures that changed since last looked at, as confirmations.

        Why: the policy snapshot is reloaded (and entities re-sent on every change)
        with the spend the spend-worker committed; for an entity no `SpendUpdated`
        has reached, that rise is what confirms the settled spend. A drop is a reset.
        """
        out: list[Confirmation] = []
        for name, seen in self._snap_seen.items():
            if name in self._totals:
                continue
            now = to_nanos(self._snapshot_spend(*name))
            if now != seen:
                out.append(Confirmation(name[0], name[1], now, seen, reset=now < seen))
                self._snap_seen[name] = now
        return out

    def confirmed(self, kind: str, id_: str, snapshot: float) -> int:
        """The latest confirmed total, else the snapshot's (`snapshot`, already looked up)."""
        total = self._totals.get((kind, id_))
        return total if total is not None else to_nanos(snapshot)

    def fold(self, update: SpendUpdated) -> list[Confirmation]:
        """Take an update in; the confirmations to apply to the settle books."""
        out: list[Confirmation] = []
        for entry in update.entries:
            out.extend(self._fold_one(entry.kind, entry.id, entry.spend, update.seq, entry.reset))
            for model, spend in entry.model_spend.items():
                if entry.kind == "key":
                    out.extend(
                        self._fold_one(
                            "key_model", f"{entry.id}/{model}", spend, update.seq, entry.reset
                        )
                    )
        return out

    def _fold_one(
        self, kind: str, id_: str, spend: str, seq: int, reset: bool
    ) -> list[Confirmation]:
        name = (kind, id_)
        if seq and seq < self._seq.get(name, 0):
            return []
        previous = self._totals.get(name)
        if previous is None:
            previous = to_nanos(self._snapshot_spend(kind, id_))
        total = to_nanos(spend)
        self._totals[name] = total
        if seq:
            self._seq[name] = seq
        return [Confirmation(kind, id_, total, previous, reset)]
