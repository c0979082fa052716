"""Every NATS subject, stream and durable name, in one place.

Why: string literals scattered across services drift; the NATS docs ask for short
alphanumeric stream and durable names (no dots, under 32 characters).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALERT_BUDGET_SUBJECT",
    "POLICY_CHANGED_SUBJECT",
    "SPEND_UPDATED_SUBJECT",
    "USAGE_CONSUMER",
    "USAGE_DEAD_SUBJECT",
    "USAGE_STREAM",
    "USAGE_STREAM_SUBJECTS",
    "USAGE_SUBJECT",
]

USAGE_SUBJECT: Final = "tianji.usage.recorded.v1"
USAGE_DEAD_SUBJECT: Final = "tianji.usage.dead.v1"
POLICY_CHANGED_SUBJECT: Final = "tianji.policy.changed.v1"
# Fan-out (broadcast, not the stream): every gateway replica folds it into its spend view.
SPEND_UPDATED_SUBJECT: Final = "tianji.spend.updated.v1"
ALERT_BUDGET_SUBJECT: Final = "tianji.alert.budget.v1"
USAGE_STREAM: Final = "USAGE"
# Every `tianji.usage.*` subject, the dead letters included, lives in that one stream.
USAGE_STREAM_SUBJECTS: Final = "tianji.usage.>"
USAGE_CONSUMER: Final = "spend_writer"
