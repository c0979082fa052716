"""Base msgspec Struct classes shared by every service.

Why: one place fixes the encoding options (kw_only, omit_defaults, frozen) so payloads
look the same whichever service emits them. `kw_only` is not inherited by msgspec,
so every subclass sets it itself.
"""

from __future__ import annotations

import msgspec

__all__ = ["Event", "StrictConfig", "Wire"]


class Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Payloads we emit over HTTP: absent optional fields are left out."""


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Bus messages: versioned tags; unknown fields are tolerated on decode."""

    event_id: str
    occurred_at: float


class StrictConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings decoded from YAML or the environment: a typo fails startup."""
