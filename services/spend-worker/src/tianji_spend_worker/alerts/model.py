"""Budget alerts as data: which totals crossed a threshold, and how to say so.

Why pure: the rule that decides "one crossing, one alert" is money-adjacent and is
tested without a database or a network. De-duplication itself happens in the writer's
transaction (`tianji_alert_log`, keyed by `Alert.id`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable
    from decimal import Decimal

    from tianji_spend_worker.results import EntityTotal

__all__ = ["ALERTED_KINDS", "Alert", "budget_alerts", "webhook_payload"]

# Entity kinds that carry their own budgets (memberships do not alert).
ALERTED_KINDS: Final = frozenset({"key", "user", "team", "org", "end_user"})

# LiteLLM's webhook `event_group` per entity kind (`WebhookEvent` in LiteLLM's types).
_EVENT_GROUP: Final = {
    "key": "key",
    "user": "user",
    "team": "team",
    "org": "organization",
    "end_user": "customer",
}
_EVENT: Final = {"soft_budget": "soft_budget_crossed", "budget_exceeded": "budget_crossed"}
_ID_FIELD: Final = {
    "key": "token",
    "user": "user_id",
    "team": "team_id",
    "org": "organization_id",
    "end_user": "customer_id",
}


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One threshold crossing of one entity in one budget period."""

    id: str  # alert_type:kind:entity:threshold:period; the tianji_alert_log key
    alert_type: str  # soft_budget | budget_exceeded
    kind: str
    entity_id: str
    spend: str
    threshold: str
    max_budget: str | None = None
    soft_budget: str | None = None

    @property
    def message(self) -> str:
        """One human line, for Slack and email."""
        what = "Soft budget crossed" if self.alert_type == "soft_budget" else "Budget exceeded"
        group = _EVENT_GROUP.get(self.kind, self.kind).capitalize()
        return (
            f"{group} {what}: {self.kind} {self.entity_id} has spent ${self.spend} "
            f"(threshold ${self.threshold})"
        )


def budget_alerts(totals: Iterable[EntityTotal]) -> list[Alert]:
    """Every threshold each total has reached; the alert log keeps the first one only.

    "Reached" rather than "crossed in this batch": a soft budget lowered below the
    current spend still alerts once, on the next spend.
    """
    found: list[Alert] = []
    for total in totals:
        if total.kind not in ALERTED_KINDS:
            continue
        for alert_type, threshold in (
            ("soft_budget", total.soft_budget),
            ("budget_exceeded", total.max_budget),
        ):
            if threshold is not None and total.spend >= threshold:
                found.append(_alert(total, alert_type, threshold))
    return found


def _alert(total: EntityTotal, alert_type: str, threshold: Decimal) -> Alert:
    period = total.budget_reset_at.isoformat() if total.budget_reset_at else "none"
    return Alert(
        id=f"{alert_type}:{total.kind}:{total.id}:{_num(threshold)}:{period}",
        alert_type=alert_type,
        kind=total.kind,
        entity_id=total.id,
        spend=_num(total.spend),
        threshold=_num(threshold),
        max_budget=None if total.max_budget is None else _num(total.max_budget),
        soft_budget=None if total.soft_budget is None else _num(total.soft_budget),
    )


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """LiteLLM's budget webhook body (`event`, `event_group`, `spend`, ...)."""
    payload: dict[str, Any] = {
        "spend": float(alert.spend),
        "max_budget": None if alert.max_budget is None else float(alert.max_budget),
        "soft_budget": None if alert.soft_budget is None else float(alert.soft_budget),
        "token": None,
        "user_id": None,
        "team_id": None,
        "customer_id": None,
        "organization_id": None,
        "user_email": None,
        "key_alias": None,
        "projected_exceeded_data": None,
        "projected_spend": None,
        "event": _EVENT[alert.alert_type],
        "event_group": _EVENT_GROUP[alert.kind],
        "event_message": alert.message,
        "alert_id": alert.id,
    }
    payload[_ID_FIELD[alert.kind]] = alert.entity_id
    return payload
