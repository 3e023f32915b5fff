"""Kafka behind the collector's event loop: produce without blocking, await the acknowledgements.

The loop thread validates and produces (:class:`websessions.ingest.KafkaPublisher`, non-blocking:
a full queue raises at once); one thread polls librdkafka and hands finished requests back to the
loop in batches (one ``call_soon_threadsafe`` per poll, not per message). A request's future
resolves once every one of its messages was acknowledged or refused; :meth:`AsyncPublisher.publish`
raises :class:`KafkaUnavailable` when the queue is full, Kafka refused a message, or the
acknowledgements did not arrive within ``collector_delivery_timeout_s`` (librdkafka's
``message.timeout.ms`` is the same, so its own report comes no later). Nothing here ever waits
longer than that.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from websessions.events import Rejection
from websessions.ingest import KafkaPublisher, QueueFull
from websessions.settings import Settings

log = logging.getLogger(__name__)
HEALTH_PROBE_TTL_S = 1.0


class KafkaUnavailable(Exception):
    """Kafka did not take or acknowledge a request's events in time: answer 503 with Retry-After."""


class _Pending:
    """The outstanding acknowledgements of one request.

    ``acked`` runs on the poll thread and only appends to the publisher's list (the poll thread swaps
    that list after each poll); all counting happens on the loop thread, so nothing races.
    """

    __slots__ = ("remaining", "error", "future", "owner")

    def __init__(self, owner: AsyncPublisher):
        self.remaining = 0
        self.error: str | None = None
        self.future: asyncio.Future = owner.loop.create_future()
        self.owner = owner

    def acked(self, err, _msg=None) -> None:
        self.owner._acks.append((self, err))


class AsyncPublisher:
    """One producer per collector process; use it from the event loop's thread only."""

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop):
        self.settings = settings
        self.loop = loop
        self.timeout_s = settings.collector_delivery_timeout_s
        self.queue_max = settings.collector_queue_max_messages
        self.kafka = KafkaPublisher(
            settings,
            linger_ms=settings.collector_linger_ms,
            delivery_timeout_s=self.timeout_s,
            queue_max_messages=self.queue_max,
            queue_max_kbytes=settings.collector_queue_max_kbytes,
            block_when_full=False,
            poll_inline=False,
            count_deliveries=False,
        )
        self._acks: list[tuple[_Pending, object]] = []
        self.last_success = 0.0
        self.last_failure = 0.0
        self._probe: tuple[float, bool, str] = (0.0, True, "ok")
        self._probing: asyncio.Future | None = None
        self._probe_pool = ThreadPoolExecutor(1, thread_name_prefix="kafka-health")
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        producer = self.kafka.producer
        while not self._stop.is_set():
            producer.poll(0.05)  # delivery callbacks run here, on this thread
            if self._acks:
                batch, self._acks = self._acks, []
                self.loop.call_soon_threadsafe(self._resolve, batch)

    def _resolve(self, batch: list[tuple[_Pending, object]]) -> None:
        now = time.monotonic()
        for pending, err in batch:
            if err is None:
                self.last_success = now
            else:
                self.last_failure = now
                if pending.error is None:
                    pending.error = err.str() if hasattr(err, "str") else str(err)
            pending.remaining -= 1
            if pending.remaining == 0 and not pending.future.done():
                pending.future.set_result(pending.error)

    def _queue_full(self, exc: QueueFull) -> KafkaUnavailable:
        self.last_failure = time.monotonic()
        return KafkaUnavailable(str(exc))

    async def publish(self, raws: list[bytes]) -> list[tuple[int, Rejection]]:
        """Validate and produce ``raws`` (invalid ones dead-lettered); return once Kafka acknowledged
        every message, with the rejections by index. Raises :class:`KafkaUnavailable`."""
        if not raws:
            return []
        queued = len(self.kafka.producer)
        if queued + len(raws) > self.queue_max:
            raise self._queue_full(QueueFull(f"the producer's queue is full ({queued} messages wait for kafka)"))
        pending = _Pending(self)
        rejections = []
        # _resolve runs on this thread, so no acknowledgement is counted before the loop below ends.
        for i, raw in enumerate(raws):
            try:
                outcome = self.kafka.publish(raw, pending.acked)
            except QueueFull as exc:
                raise self._queue_full(exc) from None
            pending.remaining += 1
            if isinstance(outcome, Rejection):
                rejections.append((i, outcome))
        await self._wait(pending)
        return rejections

    async def dead_letter(self, raw: bytes, rejection: Rejection) -> None:
        """Record a refused payload in the dead-letter topic; return once Kafka acknowledged it."""
        pending = _Pending(self)
        try:
            self.kafka.publish_rejection(raw, rejection, pending.acked)
        except QueueFull as exc:
            raise self._queue_full(exc) from None
        pending.remaining = 1
        await self._wait(pending)

    async def _wait(self, pending: _Pending) -> None:
        try:
            async with asyncio.timeout(self.timeout_s + 0.5):
                error = await pending.future
        except TimeoutError:
            self.last_failure = time.monotonic()
            raise KafkaUnavailable(f"kafka did not acknowledge within {self.timeout_s:g}s") from None
        if error is not None:
            raise KafkaUnavailable(f"kafka did not acknowledge: {error}")

    async def health(self) -> tuple[bool, str]:
        """Healthy unless a recent delivery failed (with no success since) or Kafka does not answer
        a metadata request (probed at most once a second, off the loop)."""
        now = time.monotonic()
        if self.last_failure > self.last_success and now - self.last_failure < 2 * self.timeout_s:
            return False, f"kafka did not acknowledge events within {self.timeout_s:g}s"
        checked_at, ok, detail = self._probe
        if now - checked_at < HEALTH_PROBE_TTL_S:
            return ok, detail
        if self._probing is None:
            self._probing = asyncio.ensure_future(self._run_probe())
        return await asyncio.shield(self._probing)

    async def _run_probe(self) -> tuple[bool, str]:
        try:
            ok, detail = await self.loop.run_in_executor(self._probe_pool, self._metadata_answers)
            self._probe = (time.monotonic(), ok, detail)
            return ok, detail
        finally:
            self._probing = None

    def _metadata_answers(self) -> tuple[bool, str]:
        from confluent_kafka import KafkaException

        topic = self.settings.kafka_topic_events
        try:
            metadata = self.kafka.producer.list_topics(topic, timeout=min(2.0, self.timeout_s))
        except KafkaException as exc:
            return False, f"kafka unreachable: {exc.args[0].str() if exc.args else exc}"
        if not metadata.brokers:
            return False, "kafka unreachable: no broker answered"
        return True, "ok"

    def close(self) -> None:
        self._stop.set()
        self._poller.join(timeout=2)
        self._probe_pool.shutdown(wait=False, cancel_futures=True)
        left = self.kafka.producer.flush(self.timeout_s)
        if left:
            log.warning("collector: %d messages were not acknowledged at shutdown", left)
