"""Publishing events to Kafka: valid ones to ``web_events``, invalid ones to ``web_events_dlq``.

The one path every entry point uses (``websessions ingest``, ``generate --kafka``, the beacon
collector): validation by :mod:`websessions.events`, valid events in their canonical JSON keyed by
``ip|host`` (so a key's events stay in order on one partition) with ``dt`` (UTC date) and ``ts``
(event time, epoch ms) headers so consumers need not parse the JSON, invalid ones as a dead-letter
record with the reason. :func:`publish_lines` returns only when Kafka has acknowledged every
message, and raises :class:`IngestError` (with the counts acknowledged so far) if any was not.

Kafka being down is detected in bounded time: a metadata request at the start (``kafka is
unreachable``) and librdkafka's ``message.timeout.ms`` (``ingest_delivery_timeout_s``) for every
message after it; the first failed delivery stops the run.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from websessions.clients import kafka
from websessions.events import Event, Rejection, dead_letter_record, validate
from websessions.settings import Settings

#: ``acked(err)``: called (on the thread that polls the producer) once Kafka acknowledged (``err`` None)
#: or refused the message.
Acked = Callable[[object], None]


@dataclass
class IngestResult:
    """What a run published. ``accepted``/``dead_lettered`` count messages handed to the producer,
    ``acknowledged``/``acknowledged_dead_letters`` those Kafka confirmed."""

    accepted: int = 0
    dead_lettered: int = 0
    reasons: Counter = field(default_factory=Counter)
    acknowledged: int = 0
    acknowledged_dead_letters: int = 0
    failed: int = 0
    delivery_errors: Counter = field(default_factory=Counter)  # error text -> count (bounded by kinds)


class QueueFull(Exception):
    """The producer's bounded in-memory queue is full (Kafka is not taking messages fast enough)."""


class IngestError(RuntimeError):
    """Kafka failed (unreachable, timed out, refused); ``result`` says what was acknowledged before."""

    def __init__(self, cause: str, result: IngestResult):
        super().__init__(cause)
        self.cause = cause
        self.result = result

    def summary(self) -> str:
        """One line: the cause, then what Kafka had acknowledged before the failure."""
        r = self.result
        unacknowledged = r.accepted + r.dead_lettered - r.acknowledged - r.acknowledged_dead_letters
        return (
            f"{self.cause}; acknowledged before the failure: {r.acknowledged} events and"
            f" {r.acknowledged_dead_letters} dead letters ({unacknowledged} sent but not acknowledged)"
        )


class KafkaPublisher:
    """Validates and produces events; ``close()`` waits for every acknowledgement.

    ``queue_max_messages`` bounds librdkafka's in-memory queue; when it is full, ``block_when_full``
    decides between waiting (batch ingest) and raising :class:`QueueFull` at once (the collector,
    which must answer every request in bounded time). ``delivery_timeout_s`` is librdkafka's
    ``message.timeout.ms``: a message not acknowledged by then fails with ``_MSG_TIMED_OUT``.
    Without ``count_deliveries`` the ``acked`` callbacks are librdkafka's delivery callbacks
    themselves, ``acked(err, msg)`` (one Python call per message less, for the collector's hot path)
    and ``result`` counts only what was produced.
    """

    def __init__(
        self,
        settings: Settings,
        linger_ms: int = 20,
        *,
        delivery_timeout_s: float | None = None,
        queue_max_messages: int = 500_000,
        queue_max_kbytes: int | None = None,
        block_when_full: bool = True,
        poll_inline: bool = True,
        count_deliveries: bool = True,
    ):
        self.settings = settings
        config: dict[str, object] = {
            "queue.buffering.max.messages": queue_max_messages,
            "linger.ms": linger_ms,
            "logger": kafka.LibrdkafkaDebugLog(logging.getLogger("websessions.ingest.librdkafka")),
        }
        if delivery_timeout_s is not None:
            config["message.timeout.ms"] = max(int(delivery_timeout_s * 1000), linger_ms + 1)
        if queue_max_kbytes is not None:
            config["queue.buffering.max.kbytes"] = queue_max_kbytes
        self.refused: str | None = None  # why Kafka refused our SASL credentials, if it did
        config["error_cb"] = self._client_error
        self.producer = kafka.producer(settings, **config)
        self.block_when_full = block_when_full
        self.poll_inline = poll_inline
        self.count_deliveries = count_deliveries
        self.result = IngestResult()

    def _client_error(self, err) -> None:
        self.refused = kafka.log_refusal(self.settings, err) or self.refused

    def _event_delivered(self, err, _msg) -> None:
        if err is None:
            self.result.acknowledged += 1
        else:
            self._failed(err)

    def _dead_letter_delivered(self, err, _msg) -> None:
        if err is None:
            self.result.acknowledged_dead_letters += 1
        else:
            self._failed(err)

    def _failed(self, err) -> None:
        self.result.failed += 1
        self.result.delivery_errors[err.str() if hasattr(err, "str") else str(err)] += 1

    def _produce(self, topic: str, value: bytes, key: bytes | None, headers, on_delivery, acked: Acked | None) -> None:
        """Produce one message; ``acked(err)`` (optional) is called once Kafka acknowledged or refused it."""
        if acked is None:
            callback = on_delivery
        elif not self.count_deliveries:
            callback = acked
        else:

            def callback(err, msg) -> None:
                on_delivery(err, msg)
                acked(err)

        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers, on_delivery=callback)
                return
            except BufferError:
                if not self.block_when_full:
                    raise QueueFull(f"the producer's queue is full ({len(self.producer)} messages)") from None
                self.producer.poll(0.1)

    def publish_event(self, event: Event, acked: Acked | None = None) -> None:
        key = f"{event.ip}|{event.host}".encode()
        headers = [("dt", event.dt.encode()), ("ts", str(event.event_time_ms).encode())]
        self._produce(self.settings.kafka_topic_events, event.to_bytes(), key, headers, self._event_delivered, acked)
        self.result.accepted += 1

    def publish_rejection(self, raw: bytes | str, rejection: Rejection, acked: Acked | None = None) -> None:
        record = json.dumps(dead_letter_record(raw, rejection)).encode()
        self._produce(self.settings.kafka_topic_dlq, record, None, None, self._dead_letter_delivered, acked)
        self.result.dead_lettered += 1
        self.result.reasons[rejection.reason] += 1

    def publish(self, raw: bytes | str, acked: Acked | None = None) -> Event | Rejection:
        """Validate one raw event and produce it to the events topic or the dead-letter topic."""
        outcome = validate(raw)
        if isinstance(outcome, Rejection):
            self.publish_rejection(raw, outcome, acked)
        else:
            self.publish_event(outcome, acked)
        if self.poll_inline and (self.result.accepted + self.result.dead_lettered) % 1000 == 0:
            self.producer.poll(0)
        return outcome

    def first_error(self) -> str | None:
        return next(iter(self.result.delivery_errors), None)

    def check_reachable(self, timeout_s: float) -> None:
        """Raise :class:`IngestError` unless the broker answers a metadata request within ``timeout_s``."""
        from confluent_kafka import KafkaException

        try:
            brokers = self.producer.list_topics(timeout=timeout_s).brokers
        except KafkaException as exc:
            brokers, detail = {}, f": {exc.args[0].str() if exc.args else exc}"
        else:
            detail = ""
        if not brokers:
            self.producer.poll(0)  # serves librdkafka's error events: a refused login among them
            if self.refused:
                raise IngestError(self.refused, self.result)
            where = self.settings.kafka_bootstrap
            raise IngestError(f"kafka at {where} is unreachable (no answer within {timeout_s:g}s{detail})", self.result)

    def close(self, timeout_s: float = 120.0) -> IngestResult:
        remaining = self.producer.flush(timeout_s)
        if remaining:
            raise IngestError(f"kafka did not acknowledge {remaining} messages within {timeout_s:.0f}s", self.result)
        if self.result.failed:
            errors = ", ".join(f"{text} ({n})" for text, n in self.result.delivery_errors.most_common(3))
            raise IngestError(f"kafka did not acknowledge {self.result.failed} messages: {errors}", self.result)
        return self.result


def publish_lines(settings: Settings, lines: Iterable[bytes | str], progress=None) -> IngestResult:
    """Publish JSON lines (blank lines are skipped); returns once Kafka acknowledged everything.

    Raises :class:`IngestError` (bounded in time by ``ingest_delivery_timeout_s``) when Kafka is
    unreachable or stops acknowledging; production stops at the first failed delivery.
    """
    timeout_s = settings.ingest_delivery_timeout_s
    publisher = KafkaPublisher(settings, delivery_timeout_s=timeout_s)
    publisher.check_reachable(min(timeout_s, 5.0))
    for line in lines:
        if not line.strip():
            continue
        if publisher.result.failed:
            publisher.producer.flush(timeout_s)
            raise IngestError(f"kafka stopped acknowledging: {publisher.first_error()}", publisher.result)
        publisher.publish(line.rstrip(b"\n") if isinstance(line, bytes) else line.rstrip("\n"))
        if progress is not None:
            progress(1)
    return publisher.close(timeout_s + 5)
