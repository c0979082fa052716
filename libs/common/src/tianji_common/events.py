"""Events that cross service boundaries over the bus.

Why: the gateway publishes exactly one `UsageRecorded` per request (success, failure,
stream or client disconnect); the spend-worker consumes it. New fields always get
defaults so old consumers keep decoding (msgspec schema-evolution rules).
"""

from __future__ import annotations

import msgspec

from tianji_common.wire import Event

__all__ = [
    "SpendEntry",
    "SpendUpdated",
    "UsageRecorded",
    "decode_spend",
    "decode_usage",
    "encode_event",
]


class UsageRecorded(Event, frozen=True, kw_only=True, tag="usage.recorded.v1"):
    """One request's outcome and token usage, as the gateway saw it."""

    request_id: str
    call_type: str = "chat_completion"
    model_group: str = ""
    model: str = ""
    provider: str = ""
    deployment_id: str = ""
    api_base: str = ""
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    end_user: str | None = None
    tags: tuple[str, ...] = ()
    status: str = "success"  # success | failure | disconnected
    http_status: int = 200
    error_type: str | None = None
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    cost: str = "0"  # Decimal as text: exact, and JSON has no decimal type
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    started_at: float = 0.0


class SpendEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One entity's spend after a committed write: absolute totals, so re-applying is harmless.

    `kind`: key (id = key hash) | user | team | org | end_user | team_member
    (id = "{team_id}/{user_id}") | org_member (id = "{org_id}/{user_id}") | tag.
    `reset`: the spend was reset to zero by `budget_duration` (spend == "0").
    """

    kind: str
    id: str
    spend: str  # Decimal as text
    model_spend: dict[str, str] = msgspec.field(default_factory=dict)
    reset: bool = False


class SpendUpdated(Event, frozen=True, kw_only=True, tag="spend.updated.v1"):
    """Published by the spend-worker after each committed batch (and budget reset).

    Gateways fold it into the spend their budget checks read. `seq` orders updates
    from one writer: a gateway ignores an entry older than what it already holds.
    """

    entries: tuple[SpendEntry, ...] = ()
    seq: int = 0


_encoder = msgspec.json.Encoder()
_spend_decoder = msgspec.json.Decoder(SpendUpdated)
_usage_decoder = msgspec.json.Decoder(UsageRecorded)


def encode_event(event: Event) -> bytes:
    """Encode any bus event to JSON bytes."""
    return _encoder.encode(event)


def decode_usage(raw: bytes) -> UsageRecorded:
    """Decode a usage event; unknown fields from newer producers are ignored."""
    return _usage_decoder.decode(raw)


def decode_spend(raw: bytes) -> SpendUpdated:
    """Decode a spend update; unknown fields from newer producers are ignored."""
    return _spend_decoder.decode(raw)
