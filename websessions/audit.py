"""`websessions audit --date D`: every input event of day D accounted for, from the stores themselves.

produced (valid events of D in Kafka ``web_events``) = landed (HDFS dt=D) + late (HDFS late area
dt=D); dead-lettered events of D (``web_events_dlq``) are reported beside them. A difference other
than zero means an event was lost or landed twice.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from websessions.clients import hdfs, kafka
from websessions.lander import COMPLETE_MARKER, day_dir, event_date, late_dir, parse_part_name
from websessions.settings import Settings


@dataclass(frozen=True)
class DayAudit:
    dt: str
    produced: int
    landed: int
    late: int
    dead_lettered: int
    complete: bool

    @property
    def difference(self) -> int:
        return self.produced - self.landed - self.late


def scan_topic(settings: Settings, topic: str, key=lambda value: value) -> Counter:
    """Count every message of ``topic`` (from its beginning to its current end) by ``key(value)``."""
    from confluent_kafka import TopicPartition

    consumer = kafka.consumer(settings, group_id="websessions-audit", **{"enable.partition.eof": True})
    counts: Counter = Counter()
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=15).topics[topic].partitions)
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, -2) for p in ends])
        done: set[int] = set()
        while len(done) < len(ends):
            for msg in consumer.consume(10_000, timeout=1.0):
                if msg.error():
                    continue
                if msg.offset() < ends[msg.partition()]:
                    counts[key(msg.value())] += 1
                if msg.offset() >= ends[msg.partition()] - 1:
                    done.add(msg.partition())
    finally:
        consumer.close()
    return counts


def dead_letter_date(value: bytes) -> str:
    """The day a dead-letter record is attributed to: its event's date if known, else the day it was rejected."""
    record = json.loads(value)
    return record.get("dt") or str(record.get("rejected_at", ""))[:10]


def count_lines(settings: Settings, root: str, dt: str) -> int:
    fs = hdfs.webhdfs(settings)
    path = day_dir(root, dt)
    if fs.status(path, strict=False) is None:
        return 0
    total = 0
    for name in fs.list(path):
        if parse_part_name(name):
            with fs.read(f"{path}/{name}") as reader:
                total += sum(1 for line in reader.read().splitlines() if line.strip())
    return total


def audit_day(settings: Settings, dt: str) -> DayAudit:
    produced = scan_topic(settings, settings.kafka_topic_events, event_date)[dt]
    dead = scan_topic(settings, settings.kafka_topic_dlq, dead_letter_date)[dt]
    marker = f"{day_dir(settings.raw_events_dir, dt)}/{COMPLETE_MARKER}"
    complete = hdfs.webhdfs(settings).status(marker, strict=False) is not None
    return DayAudit(
        dt=dt,
        produced=produced,
        landed=count_lines(settings, settings.raw_events_dir, dt),
        late=count_lines(settings, late_dir(settings), dt),
        dead_lettered=dead,
        complete=complete,
    )
