"""The event bus: one protocol, an in-process and a JetStream implementation.

`NatsBus` is not imported here: it needs the optional `tianji-common[nats]` extra.
Import it from `tianji_common.bus.nats`, or get one from `bus_from_url`.
"""

from __future__ import annotations

from tianji_common.bus.base import Delivery, EventBus, Handler, RedeliveryPolicy
from tianji_common.bus.factory import bus_from_url
from tianji_common.bus.memory import MemoryBroker, MemoryBus

__all__ = [
    "Delivery",
    "EventBus",
    "Handler",
    "MemoryBroker",
    "MemoryBus",
    "RedeliveryPolicy",
    "bus_from_url",
]
