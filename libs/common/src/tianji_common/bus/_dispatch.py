"""The consumer-loop rules both buses share: ack after success, nak on failure.

Why one place: at-least-once delivery depends on getting these few lines exactly
right, and the contract suite can only prove it if both buses run the same code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tianji_common.bus.base import Delivery, Handler, RedeliveryPolicy

__all__ = ["DeadLetter", "dispatch", "wait_any"]

logger = logging.getLogger(__name__)

DeadLetter = Callable[["Delivery"], Awaitable[None]]


async def dispatch(
    deliveries: list[Delivery],
    handler: Handler,
    policy: RedeliveryPolicy,
    dead_letter: DeadLetter,
) -> None:
    """Run `handler` over one fetched batch and settle every delivery.

    First deliveries go to the handler together; redelivered ones one by one, so a
    poison message fails alone. If this task is cancelled mid-batch, every unsettled
    delivery is nak'd so it comes back at once instead of after the ack wait.
    """
    fresh = [d for d in deliveries if d.num_delivered <= 1]
    groups = [fresh] if fresh else []
    groups += [[d] for d in deliveries if d.num_delivered > 1]
    try:
        for group in groups:
            await _run_group(group, handler, policy, dead_letter)
    except BaseException:
        for delivery in deliveries:
            await delivery.nak()
        raise


async def _run_group(
    group: list[Delivery],
    handler: Handler,
    policy: RedeliveryPolicy,
    dead_letter: DeadLetter,
) -> None:
    try:
        await handler(group)
    except Exception:
        # Any handler failure means "redeliver", never "crash the consumer loop".
        logger.exception("bus handler failed on %d message(s)", len(group))
        for delivery in group:
            await _fail(delivery, policy, dead_letter)
        return
    for delivery in group:
        await delivery.ack()


async def _fail(delivery: Delivery, policy: RedeliveryPolicy, dead_letter: DeadLetter) -> None:
    if delivery.num_delivered >= policy.max_deliver:
        logger.error(
            "event %s failed %d deliveries; sent to %s",
            delivery.event_id,
            delivery.num_delivered,
            policy.dead_subject,
        )
        await dead_letter(delivery)
        await delivery.ack()
    else:
        await delivery.nak(policy.delay(delivery.num_delivered))


async def wait_any(*events: asyncio.Event, within: float | None = None) -> bool:
    """Wait until one of `events` is set, or `within` seconds; True if one is set."""
    if any(event.is_set() for event in events):
        return True
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return any(event.is_set() for event in events)
