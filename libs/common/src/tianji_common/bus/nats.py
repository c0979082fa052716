"""The JetStream event bus, with a local spool for when NATS is away.

Why: in split deployments the gateway publishes usage to JetStream and the
spend-worker pulls it (STYLE section 9). Publishing must survive a NATS outage
without losing events or stalling requests, so a failed or slow publish goes to the
local spool (`spool.py`) and a background task replays it, in order, when NATS is
back. `Nats-Msg-Id: <event_id>` makes JetStream drop the replays it already stored.

Connection: the first connect is retried forever with backoff in the background;
after it, nats-py reconnects by itself (`max_reconnect_attempts=-1`). The stream is
(re)declared on every (re)connect, so a server that lost it gets it back.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from tianji_common.bus._dispatch import dispatch, wait_any
from tianji_common.bus.base import RedeliveryPolicy, dead_letter_id
from tianji_common.bus.spool import Spool, SpoolLocked
from tianji_common.nats_names import USAGE_STREAM, USAGE_STREAM_SUBJECTS

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from tianji_common.bus.base import Delivery, Handler, Listener

__all__ = ["USAGE_STREAM_SUBJECTS", "NatsBus"]

logger = logging.getLogger(__name__)

MSG_ID_HEADER: Final = "Nats-Msg-Id"
_DUPLICATE_WINDOW: Final = 120.0  # seconds; JetStream's own default
_TRANSPORT_ERRORS: Final = (nats.errors.Error, OSError, asyncio.TimeoutError)


class _NatsDelivery:
    """A JetStream message; ack/nak failures are logged, redelivery covers them."""

    __slots__ = ("_msg", "_settled")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self._settled = False

    @property
    def data(self) -> bytes:
        return bytes(self._msg.data)

    @property
    def event_id(self) -> str:
        headers = self._msg.headers or {}
        return str(headers.get(MSG_ID_HEADER, ""))

    @property
    def num_delivered(self) -> int:
        return int(self._msg.metadata.num_delivered)

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            await self._settle(self._msg.ack())

    async def nak(self, delay: float | None = None) -> None:
        if not self._settled:
            self._settled = True
            await self._settle(self._msg.nak(delay=delay))

    async def _settle(self, call: Any) -> None:
        try:
            await call
        except _TRANSPORT_ERRORS as exc:
            logger.warning("could not settle %s (%r); JetStream will redeliver", self.event_id, exc)


class NatsBus:
    """`EventBus` over JetStream, spooling to `spool_dir` when NATS can't take an event."""

    def __init__(
        self,
        url: str,
        spool_dir: Path,
        *,
        stream: str = USAGE_STREAM,
        stream_subjects: tuple[str, ...] = (USAGE_STREAM_SUBJECTS,),
        publish_timeout: float = 1.0,
        policy: RedeliveryPolicy | None = None,
        max_ack_pending: int = 1024,
        ack_wait: float = 30.0,
        fetch_timeout: float = 1.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = url
        self._stream = stream
        self._stream_subjects = stream_subjects
        self._publish_timeout = publish_timeout
        self._policy = policy if policy is not None else RedeliveryPolicy()
        self._max_ack_pending = max_ack_pending
        self._ack_wait = ack_wait
        self._fetch_timeout = fetch_timeout
        self._max_backoff = max_backoff
        self._spool = Spool(spool_dir)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()  # connected, stream declared
        self._tried = asyncio.Event()  # the first connect attempt is over
        self._spooled = asyncio.Event()  # the spool may hold records to replay
        self._closing = asyncio.Event()
        self._idle = asyncio.Event()  # no publish in flight
        self._idle.set()
        self._inflight = 0
        self._replay_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[tuple[str, Listener]] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool, start connecting; wait at most one connect attempt.

        Raises `SpoolLocked` if another process uses `spool_dir`: a deployment error
        that must fail startup, not lose events later.
        """
        if self._tasks:
            return
        self._spool.open()
        if self._spool.pending:
            self._spooled.set()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._connect_forever(), name="nats-connect"),
            loop.create_task(self._replay_forever(), name="nats-spool-replay"),
            loop.create_task(self._sync_forever(), name="nats-spool-sync"),
        ]
        await wait_any(self._tried, within=self._publish_timeout * 3)

    async def close(self) -> None:
        """Wait for in-flight publishes, replay what it can, sync the spool, drain."""
        if self._closing.is_set():
            return
        await wait_any(self._idle, within=self._publish_timeout * 2)
        if self._ready.is_set() and self._spool.pending:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._replay_once(), timeout=self._publish_timeout * 5)
        self._closing.set()
        for task in self._tasks:
            if task.get_name() != "nats-spool-sync":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._spool.close()
        await self._drain()

    async def _drain(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is None or nc.is_closed:
            return
        try:
            await nc.drain()
        except _TRANSPORT_ERRORS:
            await nc.close()

    # -- publish -----------------------------------------------------------------------

    async def publish(self, subject: str, event_id: str, payload: bytes) -> None:
        """Publish to JetStream, or spool; never raises, waits at most publish_timeout."""
        self._inflight += 1
        self._idle.clear()
        try:
            # While the spool holds records, new events queue behind them: order kept.
            queued = self._spool_pending() or not self._can_publish()
            if queued or not await self._send(subject, event_id, payload):
                self._to_spool(subject, event_id, payload)
        except asyncio.CancelledError:
            # Cancelled mid-send: it may or may not have landed; a duplicate is harmless.
            self._to_spool(subject, event_id, payload)
            raise
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    def _spool_pending(self) -> bool:
        try:
            return self._spool.pending
        except (OSError, SpoolLocked):
            return False  # the spool is unusable: try NATS directly

    def _can_publish(self) -> bool:
        return self._js is not None and self._nc is not None and self._nc.is_connected

    async def _send(self, subject: str, event_id: str, payload: bytes) -> bool:
        js = self._js
        if js is None:
            return False
        try:
            await js.publish(
                subject, payload, timeout=self._publish_timeout, headers={MSG_ID_HEADER: event_id}
            )
        except Exception as exc:  # noqa: BLE001 - publish never raises: the spool keeps it
            logger.warning("publish of %s failed (%r); spooling it", event_id, exc)
            return False
        return True

    def _to_spool(self, subject: str, event_id: str, payload: bytes) -> None:
        try:
            self._spool.append(subject, event_id, payload)
        except (OSError, SpoolLocked):
            # Nothing left to fall back on; publish still must not fail the request.
            logger.critical("usage event %s lost: spool %s unwritable", event_id, self._spool.path)
            return
        self._spooled.set()

    # -- fan-out (core NATS) -------------------------------------------------------------

    async def broadcast(self, subject: str, payload: bytes) -> None:
        """Core-NATS publish: every subscriber gets it; dropped (logged) while offline."""
        nc = self._nc
        if nc is None or nc.is_closed:
            logger.warning("NATS not connected: broadcast on %s dropped", subject)
            return
        try:
            await nc.publish(subject, payload)
        except _TRANSPORT_ERRORS as exc:
            logger.warning("broadcast on %s failed (%r); dropped", subject, exc)

    async def subscribe(self, subject: str, listener: Listener) -> None:
        """Plain (non-queue) subscription: every replica sees every message.

        Before the first connect the subscription is remembered and made on connect;
        nats-py re-subscribes by itself after a reconnect.
        """
        self._listeners.append((subject, listener))
        if self._nc is not None and self._nc.is_connected:
            await self._listen(self._nc, subject, listener)

    async def _listen(self, nc: Client, subject: str, listener: Listener) -> None:
        async def on_message(msg: Msg) -> None:
            try:
                await listener(bytes(msg.data))
            except Exception:
                logger.exception("fan-out listener on %s failed", subject)

        await nc.subscribe(subject, cb=on_message)
        # The server knows the subscription once the flush returns: a broadcast from
        # another connection after this call reaches it.
        with suppress(*_TRANSPORT_ERRORS):
            await nc.flush(timeout=2)

    # -- consume -----------------------------------------------------------------------

    async def consume(
        self,
        subject: str,
        durable: str,
        handler: Handler,
        *,
        batch: int = 256,
        stop: asyncio.Event,
    ) -> None:
        """Pull batches from the durable consumer `durable` until `stop` is set."""
        sub = await self._subscribe(subject, durable, stop)
        if sub is None:
            return
        try:
            while not stop.is_set():
                msgs = await self._fetch(sub, min(batch, self._max_ack_pending), stop)
                if msgs:
                    deliveries: list[Delivery] = [_NatsDelivery(m) for m in msgs]
                    await dispatch(deliveries, handler, self._policy, self._dead_letter)
        finally:
            with suppress(*_TRANSPORT_ERRORS):
                await sub.unsubscribe()

    async def _subscribe(
        self, subject: str, durable: str, stop: asyncio.Event
    ) -> JetStreamContext.PullSubscription | None:
        delay = 0.1
        while await wait_any(self._ready, stop) and not stop.is_set():
            sub = await self._try_subscribe(subject, durable)
            if sub is not None:
                return sub
            await wait_any(stop, within=delay)
            delay = min(delay * 2, self._max_backoff)
        return None

    async def _try_subscribe(
        self, subject: str, durable: str
    ) -> JetStreamContext.PullSubscription | None:
        js = self._js
        if js is None:
            return None
        config = self._consumer(durable)
        try:
            return await js.pull_subscribe(subject, durable, stream=self._stream, config=config)
        except _TRANSPORT_ERRORS as exc:
            logger.warning("subscribe %s/%s failed (%r); retrying", subject, durable, exc)
            return None

    def _consumer(self, durable: str) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_ack_pending=self._max_ack_pending,
            max_deliver=-1,  # poison handling is ours: dead-letter after policy.max_deliver
        )

    async def _fetch(
        self, sub: JetStreamContext.PullSubscription, batch: int, stop: asyncio.Event
    ) -> list[Msg]:
        try:
            return list(await sub.fetch(batch, timeout=self._fetch_timeout))
        except nats.errors.TimeoutError:
            return []
        except _TRANSPORT_ERRORS as exc:
            logger.warning("fetch failed (%r); retrying", exc)
            await wait_any(stop, within=self._fetch_timeout)
            return []

    async def _dead_letter(self, delivery: Delivery) -> None:
        await self.publish(
            self._policy.dead_subject, dead_letter_id(delivery.event_id), delivery.data
        )

    # -- background: connect, replay, fsync -------------------------------------------

    async def _connect_forever(self) -> None:
        # nats.connect() itself retries forever (max_reconnect_attempts=-1), every
        # reconnect_time_wait; this loop only covers a failure after connecting.
        delay = 0.1
        while not self._closing.is_set():
            try:
                await self._connect()
            except _TRANSPORT_ERRORS as exc:
                logger.warning("NATS %s: setup failed (%r); retrying", self._url, exc)
            else:
                return
            finally:
                self._tried.set()
            await wait_any(self._closing, within=delay)
            delay = min(delay * 2, self._max_backoff)

    async def _connect(self) -> None:
        nc = await nats.connect(
            self._url,
            connect_timeout=2,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
        )
        try:
            js = nc.jetstream()
            await self._declare_stream(js)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js
        for subject, listener in self._listeners:
            await self._listen(nc, subject, listener)
        self._ready.set()
        self._spooled.set()  # replay whatever waited for us
        logger.info("NATS %s connected", self._url)

    async def _declare_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=self._stream,
            subjects=list(self._stream_subjects),
            storage=StorageType.FILE,
            duplicate_window=_DUPLICATE_WINDOW,
        )
        try:
            await js.stream_info(self._stream)
        except nats.js.errors.NotFoundError:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await js.stream_info(self._stream)  # someone else created it first

    async def _on_disconnected(self) -> None:
        if not self._closing.is_set():
            logger.warning("NATS disconnected; publishing to the spool until it is back")

    async def _on_reconnected(self) -> None:
        logger.info("NATS reconnected")
        if self._js is not None:
            with suppress(*_TRANSPORT_ERRORS):
                await self._declare_stream(self._js)
        self._spooled.set()

    async def _on_error(self, exc: Exception) -> None:
        # Called for each failed (re)connect attempt, too: the first one ends start().
        level = logging.DEBUG if self._tried.is_set() else logging.WARNING
        logger.log(level, "NATS %s: %r", self._url, exc)
        self._tried.set()

    async def _replay_forever(self) -> None:
        delay = 0.1
        while await wait_any(self._spooled) and not self._closing.is_set():
            if not self._can_publish() or not await self._replay_once():
                await wait_any(self._closing, within=delay)
                delay = min(delay * 2, self._max_backoff)
            else:
                delay = 0.1

    async def _replay_once(self) -> bool:
        """Publish spooled records in order; empty the spool once all went out."""
        async with self._replay_lock:
            replayed = 0
            while records := await self._spool.read(self._spool.replayed):
                for record in records:
                    if not await self._send(record.subject, record.event_id, record.payload):
                        return False
                    self._spool.replayed = record.end
                    replayed += 1
            if self._spool.truncate_if_replayed():
                self._spooled.clear()
            if replayed:
                logger.info("replayed %d spooled event(s) to NATS", replayed)
            return True

    async def _sync_forever(self) -> None:
        """fsync the spool in batches: every 50 ms at most, and once more at close."""
        while not self._closing.is_set():
            await wait_any(self._closing, within=0.05)
            await self._spool.sync()
