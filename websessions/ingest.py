"""Publishing events to Kafka: valid ones to ``web_events``, invalid ones to ``web_events_dlq``.

The one path every entry point uses (``websessions ingest``, ``generate --kafka``, the beacon
collector): validation by :mod:`websessions.events`, valid events in their canonical JSON keyed by
``ip|host`` (so a key's events stay in order on one partition) with ``dt`` (UTC date) and ``ts``
(event time, epoch ms) headers so consumers need not parse the JSON, invalid ones as a dead-letter
record with the reason. :func:`publish_lines` returns only when
Kafka has acknowledged every message, and raises if any was not.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from websessions.clients import kafka
from websessions.events import Event, Rejection, dead_letter_record, validate
from websessions.settings import Settings


@dataclass
class IngestResult:
    accepted: int = 0
    dead_lettered: int = 0
    reasons: Counter = field(default_factory=Counter)
    delivery_errors: list[str] = field(default_factory=list)


class KafkaPublisher:
    """Validates and produces events; ``close()`` waits for every acknowledgement."""

    def __init__(self, settings: Settings, linger_ms: int = 20):
        self.settings = settings
        self.producer = kafka.producer(settings, **{"queue.buffering.max.messages": 500_000, "linger.ms": linger_ms})
        self.result = IngestResult()

    def _on_delivery(self, err, _msg) -> None:
        if err is not None:
            self.result.delivery_errors.append(str(err))

    def _produce(self, topic: str, value: bytes, key: bytes | None, headers: list | None = None, acked=None) -> None:
        """Produce one message; ``acked(err)`` (optional) is called once Kafka acknowledged or refused it."""
        if acked is None:
            callback = self._on_delivery
        else:

            def callback(err, msg) -> None:
                self._on_delivery(err, msg)
                acked(err)

        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers, on_delivery=callback)
                break
            except BufferError:
                self.producer.poll(0.1)

    def publish_event(self, event: Event, acked=None) -> None:
        key = f"{event.ip}|{event.host}".encode()
        headers = [("dt", event.dt.encode()), ("ts", str(event.event_time_ms).encode())]
        self._produce(self.settings.kafka_topic_events, event.to_bytes(), key, headers, acked)
        self.result.accepted += 1

    def publish_rejection(self, raw: bytes | str, rejection: Rejection, acked=None) -> None:
        record = dead_letter_record(raw, rejection)
        self._produce(self.settings.kafka_topic_dlq, json.dumps(record).encode(), None, None, acked)
        self.result.dead_lettered += 1
        self.result.reasons[rejection.reason] += 1

    def publish(self, raw: bytes | str, acked=None) -> Event | Rejection:
        """Validate one raw event and produce it to the events topic or the dead-letter topic."""
        outcome = validate(raw)
        if isinstance(outcome, Rejection):
            self.publish_rejection(raw, outcome, acked)
        else:
            self.publish_event(outcome, acked)
        if (self.result.accepted + self.result.dead_lettered) % 1000 == 0:
            self.producer.poll(0)
        return outcome

    def close(self, timeout_s: float = 120.0) -> IngestResult:
        remaining = self.producer.flush(timeout_s)
        if remaining:
            raise RuntimeError(f"kafka did not acknowledge {remaining} messages within {timeout_s:.0f}s")
        if self.result.delivery_errors:
            errors = Counter(self.result.delivery_errors).most_common(3)
            raise RuntimeError(f"kafka rejected {len(self.result.delivery_errors)} messages: {errors}")
        return self.result


def publish_lines(settings: Settings, lines: Iterable[bytes | str], progress=None) -> IngestResult:
    """Publish JSON lines (blank lines are skipped); returns once Kafka acknowledged everything."""
    publisher = KafkaPublisher(settings)
    for line in lines:
        if not line.strip():
            continue
        publisher.publish(line.rstrip(b"\n") if isinstance(line, bytes) else line.rstrip("\n"))
        if progress is not None:
            progress(1)
    return publisher.close()
