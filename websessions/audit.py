"""`websessions audit --date D`: every record of day D accounted for, from the stores themselves.

produced (records of D in Kafka ``web_events``: valid events by their event date, poison records by their
Kafka timestamp's date, as the lander files them) = landed (HDFS dt=D) + late (late area dt=D) +
quarantined (quarantine area dt=D). Dead-lettered events of D (``web_events_dlq``) are reported beside
them, and so are gaps: offsets Kafka dropped before the lander read them (recorded by the lander, filed
under the day of the partition's latest landed file). A difference other than zero means an event was
lost or landed twice — unless Kafka's retention has already removed some of D's records, which the
audit says (``kafka_earliest``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from websessions.clients import hdfs, kafka
from websessions.raw_layout import (
    COMPLETE_MARKER,
    classify,
    day_dir,
    gaps_dir,
    late_dir,
    parse_part_name,
    quarantine_dir,
)
from websessions.settings import Settings


@dataclass(frozen=True)
class DayAudit:
    dt: str
    produced: int
    landed: int
    late: int
    quarantined: int
    dead_lettered: int
    complete: bool
    gaps: dict[int, int] = field(default_factory=dict)  # partition -> offsets lost before landing
    kafka_earliest: dict[int, int] = field(default_factory=dict)  # partitions whose earliest offset is > 0

    @property
    def difference(self) -> int:
        return self.produced - self.landed - self.late - self.quarantined

    @property
    def balanced(self) -> bool:
        return self.difference == 0 and not self.gaps

    def summary(self) -> str:
        text = (
            f"{self.dt}: produced {self.produced} = landed {self.landed} + late {self.late}"
            f" + quarantined {self.quarantined} (difference {self.difference}); dead-lettered {self.dead_lettered};"
            f" gap {sum(self.gaps.values())}"
        )
        if self.gaps:
            text += " (" + ", ".join(f"partition {p}: {n}" for p, n in sorted(self.gaps.items())) + ")"
        text += f"; day {'complete' if self.complete else 'not complete yet'}"
        if self.kafka_earliest:
            earliest = ", ".join(f"{p}: {o}" for p, o in sorted(self.kafka_earliest.items()))
            text += f"; Kafka's retention removed earlier offsets (earliest per partition {earliest})"
        return text


def scan_records(settings: Settings, topic: str, key: Callable) -> tuple[Counter, dict[int, int]]:
    """Count every record of ``topic`` (from its beginning to its current end) by ``key(message)``;
    also returns the earliest offset of each partition whose earliest is past 0."""
    from confluent_kafka import TopicPartition

    consumer = kafka.consumer(settings, group_id="websessions-audit", **{"enable.partition.eof": True})
    counts: Counter = Counter()
    earliest: dict[int, int] = {}
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=15).topics[topic].partitions)
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            if low > 0:
                earliest[p] = low
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, -2) for p in ends])
        done: set[int] = set()
        while len(done) < len(ends):
            for msg in consumer.consume(10_000, timeout=1.0):
                if msg.error():
                    continue
                if msg.offset() < ends[msg.partition()]:
                    counts[key(msg)] += 1
                if msg.offset() >= ends[msg.partition()] - 1:
                    done.add(msg.partition())
    finally:
        consumer.close()
    return counts, earliest


def scan_topic(settings: Settings, topic: str, key=lambda value: value) -> Counter:
    """Count every message of ``topic`` (from its beginning to its current end) by ``key(value)``."""
    return scan_records(settings, topic, lambda msg: key(msg.value()))[0]


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


def gaps_of_day(settings: Settings, dt: str) -> dict[int, int]:
    """Offsets lost before landing, per partition, of the gap records filed under ``dt``."""
    fs = hdfs.webhdfs(settings)
    root = gaps_dir(settings)
    gaps: Counter = Counter()
    if fs.status(root, strict=False) is None:
        return {}
    for name in fs.list(root):
        if parse_part_name(name):
            with fs.read(f"{root}/{name}") as reader:
                record = json.loads(reader.read())
            if record.get("dt") == dt:
                gaps[record["partition"]] += record["missing"]
    return dict(gaps)


def audit_day(settings: Settings, dt: str) -> DayAudit:
    return audit_days(settings, [dt])[0]


def audit_days(settings: Settings, days: list[str]) -> list[DayAudit]:
    """The audit of each of ``days``, from one scan of the events topic and one of the dead letters."""
    produced, earliest = scan_records(settings, settings.kafka_topic_events, lambda msg: classify(msg).dt)
    dead = scan_topic(settings, settings.kafka_topic_dlq, dead_letter_date)
    fs = hdfs.webhdfs(settings)
    return [
        DayAudit(
            dt=dt,
            produced=produced[dt],
            landed=count_lines(settings, settings.raw_events_dir, dt),
            late=count_lines(settings, late_dir(settings), dt),
            quarantined=count_lines(settings, quarantine_dir(settings), dt),
            dead_lettered=dead[dt],
            complete=fs.status(f"{day_dir(settings.raw_events_dir, dt)}/{COMPLETE_MARKER}", strict=False) is not None,
            gaps=gaps_of_day(settings, dt),
            kafka_earliest=earliest,
        )
        for dt in days
    ]
