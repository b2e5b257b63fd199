"""One subscription of ``pubsub.redis``: a consumer of its group that reads new entries,
claims stale ones, renews its own and acknowledges in batches (the package docstring has the
contract)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from components.pubsub._delivery import Deliveries
from components.pubsub._types import Ack, Handler, Message

if TYPE_CHECKING:
    from components.pubsub.redis._pubsub import RedisPubSub

__all__ = ["BROKER_ERRORS", "CONTENT_TYPE", "DATA", "EXPIRES", "METADATA", "Subscription"]

DATA, METADATA, CONTENT_TYPE, EXPIRES = b"data", b"metadata", b"contentType", b"expires"
BROKER_ERRORS = (RedisError, OSError, TimeoutError)
_BLOCK_MS = 2000  # one blocking read waits at most this long (then reads again)
# Acknowledgements go with the next read (one pipeline: one write, one round trip), or on their
# own once _ACK_BATCH are pending or the oldest waited _ACK_DELAY (a read blocked on an idle
# stream). Each command is a socket write and a round trip: most of a message's CPU here. No
# entry is acknowledged before its ACK; only the redelivery window after a crash grows.
_ACK_DELAY = 0.01
_ACK_BATCH = 64
# After a read that found some entries but fewer than it asked for, the next read waits this
# long: what is published meanwhile (and the acks of what was delivered) then shares one round
# trip instead of one per message (-13 % CPU per message at 1,000 msg/s with 1 ms, -29 % with
# 3 ms). It delays only an entry published within this time after the previous read returned.
_LINGER = 0.002
_BACKOFF = (0.05, 2.0)  # reconnect pause: first, longest


def _message(topic: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> Message | None:
    """The message of a stream entry; None when it expired (TTL) or has no data."""
    expires = fields.get(EXPIRES, b"")
    if expires.isdigit() and int(expires) <= time.time() * 1000:
        return None
    data = fields.get(DATA)
    if data is None:
        return None
    metadata: dict[str, str] = {}
    raw = fields.get(METADATA)
    if raw:
        with contextlib.suppress(ValueError):
            decoded = json.loads(raw)
            if isinstance(decoded, dict):
                metadata = {str(k): str(v) for k, v in decoded.items()}
    return Message(
        id=entry_id.decode(),
        topic=topic,
        data=data,
        content_type=fields.get(CONTENT_TYPE, b"").decode(),
        metadata=metadata,
    )


class Subscription:
    """One consumer of one group: reads new entries, claims stale ones, renews its own."""

    def __init__(
        self, owner: RedisPubSub, topic: str, group: str, handler: Handler, concurrency: int
    ) -> None:
        self._owner = owner
        self._topic = topic
        self._key = topic.encode()
        self._group = group
        self._consumer = f"{group}-{uuid.uuid4().hex[:12]}"
        self._closed = False
        self._acks: list[bytes] = []
        self._acking: asyncio.Task[None] | None = None
        self._ack_timer: asyncio.TimerHandle | None = None
        self._backlog = False  # the last read filled its COUNT: more entries are likely waiting
        self._linger = False  # the last read found entries, not a full COUNT: wait _LINGER
        meta = owner.meta
        self._deliveries: Deliveries[bytes] = Deliveries(
            handler,
            concurrency=concurrency,
            limit=min(3 * concurrency, max(concurrency, meta.queue_depth)),
            settle=self._settle,
            log=owner.log,
            name="pubsub.redis deliver",
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        meta = self._owner.meta
        self._tasks.append(asyncio.create_task(self._read_loop(), name="pubsub.redis read"))
        timeout = meta.processing_timeout
        if timeout > 0:
            self._tasks.append(asyncio.create_task(self._renew_loop(timeout / 3), name="renew"))
            if meta.redeliver_interval > 0:
                self._tasks.append(asyncio.create_task(self._claim_loop(), name="claim"))

    async def create_group(self) -> None:
        """The group, created at the stream's start when missing (as Dapr does)."""
        owner = self._owner
        try:
            await owner.call(owner.client.xgroup_create, self._key, self._group, "0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # ---- settling ---------------------------------------------------------------------------

    def _settle(self, entry_id: bytes, ack: Ack) -> None:
        if ack is not Ack.ACK:
            return  # stays pending, no longer renewed: claimed again after processingTimeout
        acks = self._acks
        acks.append(entry_id)
        if len(acks) >= _ACK_BATCH:
            self._settle_later()
        elif self._ack_timer is None and self._acking is None:
            self._ack_timer = asyncio.get_running_loop().call_later(_ACK_DELAY, self._settle_later)

    async def _flush_acks(self) -> None:
        """XACK everything pending (again while more arrived during the call)."""
        try:
            while self._acks:
                ids, self._acks = self._acks, []
                try:
                    await self._owner.call(self._owner.client.xack, self._key, self._group, *ids)
                except BROKER_ERRORS as exc:
                    # Still pending: claimed and delivered again later (at-least-once).
                    self._owner.log.warning("pubsub.redis: XACK on %s failed: %s", self._topic, exc)
        finally:
            self._acking = None

    # ---- loops ------------------------------------------------------------------------------

    def _deliver(self, entries: Sequence[tuple[bytes, Mapping[bytes, bytes]]]) -> list[bytes]:
        """Queue ``entries``; returns the ids to acknowledge at once (expired, no data)."""
        dead = []
        for entry_id, fields in entries:
            message = _message(self._topic, entry_id, fields or {})
            if message is None:
                dead.append(entry_id)
            else:
                self._deliveries.put(message, entry_id)
        return dead

    async def _guarded(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` for ever; broker errors back off (and are logged once per outage); a
        lost stream or group (a flushed or restarted server) is created again."""
        pause = _BACKOFF[0]
        failing = False
        while True:
            try:
                await step()
            except ResponseError as exc:
                # The stream or group is gone (deleted, flushed, a restart without persistence)
                if "NOGROUP" in str(exc) or "no longer exists" in str(exc):
                    with contextlib.suppress(*BROKER_ERRORS):
                        await self.create_group()
                        continue
                if not failing:
                    self._owner.log.warning(
                        "pubsub.redis: %s on %s failed, retrying: %s", what, self._topic, exc
                    )
                failing = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, _BACKOFF[1])
                continue
            except BROKER_ERRORS as exc:
                if not failing:
                    self._owner.log.warning(
                        "pubsub.redis: %s on %s failed, retrying: %s", what, self._topic, exc
                    )
                failing = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, _BACKOFF[1])
                continue
            except Exception:  # a bug, or a reply this code does not expect: keep going
                self._owner.log.exception("pubsub.redis: %s on %s failed", what, self._topic)
                await asyncio.sleep(_BACKOFF[1])
                continue
            if failing:
                self._owner.log.info("pubsub.redis: %s on %s resumed", what, self._topic)
            failing, pause = False, _BACKOFF[0]

    async def _read_loop(self) -> None:
        owner, deliveries = self._owner, self._deliveries

        async def read() -> None:
            if self._linger:
                self._linger = False
                await asyncio.sleep(_LINGER)
            free = await deliveries.wait_free(deliveries.batch if self._backlog else 1)
            count = min(free, owner.meta.queue_depth)
            self._backlog = False
            streams: dict[Any, Any] = {self._key: ">"}
            reply: Any
            acks, self._acks = self._acks, []
            if not acks:
                reply = await owner.call(
                    owner.reader.xreadgroup,
                    self._group,
                    self._consumer,
                    streams,
                    count=count,
                    block=_BLOCK_MS,
                    extra=_BLOCK_MS / 1000,
                )
            else:
                pipe = owner.reader.pipeline(transaction=False)
                pipe.xack(self._key, self._group, *acks)
                pipe.xreadgroup(self._group, self._consumer, streams, count=count, block=_BLOCK_MS)
                try:
                    acked, reply = await owner.call(
                        pipe.execute, raise_on_error=False, extra=_BLOCK_MS / 1000
                    )
                except BaseException:
                    self._acks.extend(acks)  # unknown whether they were applied: again later
                    raise
                if isinstance(acked, Exception):  # still pending: claimed and delivered again
                    owner.log.warning("pubsub.redis: XACK on %s failed: %s", self._topic, acked)
                if isinstance(reply, Exception):
                    raise reply
            for _, entries in reply or ():
                self._backlog = len(entries) >= count
                self._linger = 0 < len(entries) < count
                dead = self._deliver(entries)
                if dead:
                    self._acks.extend(dead)
                    self._settle_later()

        await self._guarded("reading", read)

    def _settle_later(self) -> None:
        """Start the XACK of what is pending now, unless one runs (it takes these too)."""
        timer, self._ack_timer = self._ack_timer, None
        if timer is not None:
            timer.cancel()
        if self._acking is None and self._acks:
            self._acking = asyncio.create_task(self._flush_acks(), name="pubsub.redis ack")

    async def _claim_loop(self) -> None:
        owner, deliveries = self._owner, self._deliveries
        idle_ms = int(owner.meta.processing_timeout * 1000)

        async def claim() -> None:
            await asyncio.sleep(owner.meta.redeliver_interval)
            start: bytes | str = "0-0"
            while deliveries.free() > 0:
                reply = await owner.call(
                    owner.client.xautoclaim,
                    self._key,
                    self._group,
                    self._consumer,
                    idle_ms,
                    start,
                    count=min(deliveries.free(), owner.meta.queue_depth),
                )
                start, entries = reply[0], reply[1]
                dead = self._deliver([(i, f) for i, f in entries if i is not None])
                if dead:
                    self._acks.extend(dead)
                    self._settle_later()
                if start in (b"0-0", "0-0"):
                    break

        await self._guarded("claiming", claim)

    async def _renew_loop(self, every: float) -> None:
        """Reset the idle time of the entries this consumer holds, so a live subscription's
        messages (however slow its handler) are not claimed by another consumer."""
        owner = self._owner

        async def renew() -> None:
            await asyncio.sleep(every)
            held = self._deliveries.held()
            if held:
                await owner.call(
                    owner.client.xclaim,
                    self._key,
                    self._group,
                    self._consumer,
                    0,
                    held,
                    justid=True,
                )

        await self._guarded("renewing", renew)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner.forget(self)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded: a blocking read that does not end on cancellation must not hang close
            _, stuck = await asyncio.wait(self._tasks, timeout=self._owner.meta.read_timeout)
            if stuck:
                self._owner.log.warning("pubsub.redis: a read on %s did not stop", self._topic)
        left = await self._deliveries.aclose()
        self._settle_later()  # what waits for the ack timer goes now
        while self._acking is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._acking)
        if left:
            # Hand them back: idle as if processingTimeout had passed, so the next claim of
            # any consumer of the group takes them.
            idle_ms = int(self._owner.meta.processing_timeout * 1000)
            with contextlib.suppress(*BROKER_ERRORS):
                await self._owner.call(
                    self._owner.client.xclaim,
                    self._key,
                    self._group,
                    self._consumer,
                    0,
                    left,
                    idle=idle_ms,
                    justid=True,
                )
            return
        with contextlib.suppress(*BROKER_ERRORS):  # a consumer with nothing pending
            pending = await self._owner.call(
                self._owner.client.xpending_range,
                self._key,
                self._group,
                "-",
                "+",
                1,
                consumername=self._consumer,
            )
            if not pending:
                await self._owner.call(
                    self._owner.client.xgroup_delconsumer, self._key, self._group, self._consumer
                )
