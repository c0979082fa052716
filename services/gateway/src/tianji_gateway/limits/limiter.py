"""`LimitedPipeline`: take a request's room before upstream, give it back after.

Order on every path (Litestar handlers and the raw fast path both call `run`):

1. `Planner.plan`: no plan, no further work (the fast path: no Redis call).
2. One atomic `acquire` (a Lua script in Redis, or memory): rpm, tpm and parallel
   slots for key, user, team, org, end user and key-model; budget reservations;
   deployment limits are only read. A refusal takes nothing.
3. The inner pipeline runs, with deployments at their limit excluded from the pick
   (`LimitedRouter`); all limited deployments full is a 429.
4. Settle exactly once: on the answer (non-streaming), on the stream's end, error or
   client disconnect (`_SettledStream`), or on any exception: the parallel slots are
   given back, each reservation is replaced by the actual cost (from the request's
   usage event) and tokens are added to the tpm windows.

Budget overshoot. A budget check sees `confirmed + settled + reserved` where:

* `confirmed`: the spend the spend-worker committed (policy snapshot, then
  `SpendUpdated` totals: `spend.SpendView`);
* `settled`: actual costs of finished requests not yet in `confirmed`. When a newer
  confirmed total arrives, its rise is taken off `settled` (once across replicas: the
  last total seen is kept next to the counter, `Counters.confirm`); the same happens
  when a reloaded snapshot raises an entity's spend and no `SpendUpdated` reached it;
* `reserved`: estimates of requests in flight (`estimate`).

Every admitted request reserved its estimate in the same atomic step that checked
the sum, so the budget can be passed only by what in-flight requests' actual costs
exceed their estimates (bounded by `max_tokens` when the client sets it), plus the
one request admitted just under the line. Settled spend is never forgotten before it
is confirmed, so the gap between a request's end and the spend-worker's commit is
not an opening either. If the spend-worker's totals include spend this gateway never
settled (another gateway without Redis), `settled` may be reduced early by that much;
the next confirmed total corrects the view.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from tianji_common.errors import BudgetExceeded, RateLimited

from tianji_gateway.limits.plan import Budget, Plan, Rate, retry_after, settle_deltas
from tianji_gateway.limits.spend import NANOS
from tianji_gateway.pipeline import Complete, Pipeline, Streaming

if TYPE_CHECKING:
    from collections.abc import Callable

    from tianji_common.events import UsageRecorded

    from tianji_gateway.auth import Principal
    from tianji_gateway.limits.counters import Outcome
    from tianji_gateway.limits.plan import Planner
    from tianji_gateway.limits.redis_counters import ResilientCounters
    from tianji_gateway.providers.base import Op
    from tianji_gateway.request import ParsedRequest

__all__ = ["BLOCKED_DEPLOYMENTS", "LimitedPipeline", "Ticket"]

# Deployments the current request must not be routed to (read by `LimitedRouter.pick`).
BLOCKED_DEPLOYMENTS: Final[contextvars.ContextVar[frozenset[str]]] = contextvars.ContextVar(
    "tianji_blocked_deployments", default=frozenset()
)
# The request being served, so its usage event (recorded inside the pipeline) finds it.
_TICKET: Final[contextvars.ContextVar[Ticket | None]] = contextvars.ContextVar(
    "tianji_limit_ticket", default=None
)


@dataclass(slots=True)
class Ticket:
    """What one admitted request holds, until it is settled (exactly once)."""

    plan: Plan
    outcome: Outcome
    remote: bool
    usage: UsageRecorded | None = None
    settled: bool = False
    loop: asyncio.AbstractEventLoop | None = None


def on_usage(event: UsageRecorded) -> None:
    """`UsagePublisher`'s hook: hand the event to the request's ticket, if it has one."""
    ticket = _TICKET.get()
    if ticket is not None and ticket.usage is None:
        ticket.usage = event


def _fmt_usd(nanos: int) -> str:
    return repr(nanos / NANOS)


def _refusal(plan: Plan, outcome: Outcome, now: float) -> Exception:
    i = outcome.failed
    meaning, check, value = plan.meaning[i], plan.checks[i], outcome.values[i]
    if isinstance(meaning, Budget):
        # LiteLLM's BudgetExceededError text; `x-should-retry: false` from the class.
        return BudgetExceeded(
            f"Budget has been exceeded! {meaning.label}Current cost: {_fmt_usd(value)}, "
            f"Max budget: {meaning.max_budget!r}",
            param=None,
        )
    assert isinstance(meaning, Rate)
    seconds = 1 if meaning.limit_type == "max_parallel_requests" else retry_after(plan, now)
    reset = datetime.fromtimestamp(now + seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    remaining = max(0, check.limit - value)
    # LiteLLM's v3 limiter message (`parallel_request_limiter_v3.py`), word for word.
    return RateLimited(
        f"Rate limit exceeded for {meaning.descriptor}: {meaning.value}. "
        f"Limit type: {meaning.limit_type}. Current limit: {check.limit}, "
        f"Remaining: {remaining}. Limit resets at: {reset}",
        headers={
            "retry-after": str(seconds),
            "rate_limit_type": meaning.limit_type,
            "reset_at": reset,
        },
    )


def _all_blocked(plan: Plan, now: float) -> RateLimited:
    seconds = retry_after(plan, now)
    return RateLimited(
        "No deployments available for the selected model: every deployment has reached "
        "its rpm/tpm limit. Try again after the window resets.",
        headers={"retry-after": str(seconds), "rate_limit_type": "deployment"},
    )


def rate_headers(plan: Plan, outcome: Outcome) -> dict[str, str]:
    """LiteLLM's per-descriptor headers, plus OpenAI's names for the tightest limit."""
    headers: dict[str, str] = {}
    tightest: dict[str, tuple[int, int]] = {}
    for check, meaning, value in zip(plan.checks, plan.meaning, outcome.values, strict=True):
        if not isinstance(meaning, Rate) or meaning.limit_type == "max_parallel_requests":
            continue
        remaining = max(0, check.limit - value)
        prefix = f"x-ratelimit-{meaning.descriptor}"
        headers[f"{prefix}-remaining-{meaning.limit_type}"] = str(remaining)
        headers[f"{prefix}-limit-{meaning.limit_type}"] = str(check.limit)
        best = tightest.get(meaning.limit_type)
        if best is None or remaining < best[1]:
            tightest[meaning.limit_type] = (check.limit, remaining)
    for limit_type, (limit, remaining) in tightest.items():
        headers[f"x-ratelimit-limit-{limit_type}"] = str(limit)
        headers[f"x-ratelimit-remaining-{limit_type}"] = str(remaining)
    return headers


class LimitedPipeline(Pipeline):
    """The pipeline behind rate limits and budget reservations (see the module doc)."""

    def __init__(
        self,
        inner: Pipeline,
        planner: Planner,
        counters: ResilientCounters,
        clock: Callable[[], float],
        watch: Callable[[str, str], None],
    ) -> None:
        # The inner pipeline does all the work; nothing of Pipeline.__init__ is needed.
        self._inner = inner
        self._planner = planner
        self._counters = counters
        self._clock = clock
        self._watch = watch
        self._settling: set[asyncio.Future[Any]] = set()

    async def run(
        self, op: Op, principal: Principal, parsed: ParsedRequest
    ) -> Complete | Streaming:
        """Admit (or refuse) the request, run it, and settle what it took."""
        plan = self._planner.plan(principal, parsed)
        if plan is None:
            return await self._inner.run(op, principal, parsed)
        outcome, remote = await self._counters.acquire(plan.checks)
        now = self._clock()
        if not outcome.ok:
            raise _refusal(plan, outcome, now)
        ticket = Ticket(plan, outcome, remote, loop=asyncio.get_running_loop())
        blocked = plan.blocked(outcome.over)
        if blocked and not plan.unlimited_deployment and blocked.issuperset(plan.deployments):
            self.settle(ticket)
            raise _all_blocked(plan, now)
        ticket_token = _TICKET.set(ticket)
        blocked_token = BLOCKED_DEPLOYMENTS.set(frozenset(blocked))
        try:
            result = await self._inner.run(op, principal, parsed)
        except BaseException:
            self.settle(ticket)
            raise
        finally:
            BLOCKED_DEPLOYMENTS.reset(blocked_token)
            _TICKET.reset(ticket_token)
        headers = rate_headers(plan, outcome)
        if isinstance(result, Complete):
            self.settle(ticket)
            result.headers.update(headers)
            return result
        return Streaming({**result.headers, **headers}, _SettledStream(result.body, ticket, self))

    def settle(self, ticket: Ticket) -> None:
        """Give back and account what `ticket` holds, once, without waiting.

        Synchronous on purpose: it cannot be cancelled by a client disconnect, and a
        release never adds a Redis round trip to an answer (it is queued in order).
        """
        if ticket.settled:
            return
        ticket.settled = True
        deltas = settle_deltas(ticket.plan, ticket.usage)
        if not deltas:
            return
        if ticket.usage is not None and ticket.usage.cost != "0":
            for kind, id_ in ticket.plan.budget_entities:
                self._watch(kind, id_)
        fut = self._counters.apply_nowait(deltas, remote=ticket.remote)
        if fut is not None:
            self._settling.add(fut)
            fut.add_done_callback(self._settling.discard)

    def settle_abandoned(self, ticket: Ticket) -> None:
        """Settle a ticket whose stream was dropped unread, from the ticket's loop."""
        if ticket.settled:
            return
        loop = ticket.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.settle(ticket)
        else:  # finalized outside the loop (garbage collection in another thread)
            loop.call_soon_threadsafe(self.settle, ticket)

    async def drain(self) -> None:
        """Wait for settlements still running (shutdown)."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)


class _SettledStream:
    """A stream body that settles its ticket when it ends, fails, or is closed early.

    A class rather than an async generator: a generator closed before its first step
    never runs its `finally`, and a stream the client abandons before the first byte
    must still give its parallel slot back.
    """

    __slots__ = ("_body", "_limiter", "_ticket")

    def __init__(self, body: AsyncIterator[bytes], ticket: Ticket, limiter: LimitedPipeline):
        self._body = body
        self._ticket = ticket
        self._limiter = limiter

    def __del__(self) -> None:
        # Dropped without a step or a close (a client gone before the first byte, the
        # ASGI server never iterating): the slot and the reservation must still return.
        if not self._ticket.settled:
            self._limiter.settle_abandoned(self._ticket)

    def __aiter__(self) -> _SettledStream:
        return self

    async def __anext__(self) -> bytes:
        token = _TICKET.set(self._ticket)  # the usage event is recorded in this step
        try:
            return await self._body.__anext__()
        except BaseException:
            self._limiter.settle(self._ticket)
            raise
        finally:
            _TICKET.reset(token)

    async def aclose(self) -> None:
        """Close the inner stream (recording its usage), then settle."""
        token = _TICKET.set(self._ticket)
        try:
            aclose = getattr(self._body, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            _TICKET.reset(token)
            self._limiter.settle(self._ticket)
