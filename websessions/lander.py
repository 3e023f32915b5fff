"""The raw lander: every valid event from Kafka lands exactly once in HDFS, by event date.

Layout (``settings.raw_events_dir``, the master dataset)::

    dt=YYYY-MM-DD/part-<partition>-<first offset>-<last offset>.jsonl   events of that day
    dt=YYYY-MM-DD/_COMPLETE                                               the day is complete
    ../web_events_late/dt=YYYY-MM-DD/part-...jsonl                        events that came after

Exactly once: a batch of one Kafka partition is written as one file per event date, each to a
temporary path and renamed into place; only then are the offsets committed. After a crash, the
files of a partition that start at or past its committed offset belong to a batch whose commit
never happened: :meth:`RawLander.recover` deletes them before consuming again, so the replay
rewrites them once. File names derive from the offsets, so nothing can land twice.

A day D is complete once the event-time watermark (the latest event time landed) has passed the end
of D plus ``allowed_lateness_s``; events of a complete day go to the late area and are counted, and
the next batch run of that day picks them up.
"""

from __future__ import annotations

import json
import logging
import posixpath
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from websessions.clients import hdfs, kafka
from websessions.settings import Settings

log = logging.getLogger(__name__)


def group_id(settings: Settings) -> str:
    """The lander's consumer group: one per events topic."""
    return f"websessions-lander-{settings.kafka_topic_events}"


COMPLETE_MARKER = "_COMPLETE"


def lander_stats_path(settings: Settings):
    """Where a running lander keeps its latest counters (read by ``land status`` and tests)."""
    return settings.run_dir / f"lander-{settings.kafka_topic_events}.json"


def late_dir(settings: Settings) -> str:
    return settings.raw_events_dir.rstrip("/") + "_late"


def day_dir(root: str, dt: str) -> str:
    return f"{root.rstrip('/')}/dt={dt}"


def part_name(partition: int, first: int, last: int) -> str:
    return f"part-{partition:03d}-{first:012d}-{last:012d}.jsonl"


def parse_part_name(name: str) -> tuple[int, int, int] | None:
    """(partition, first offset, last offset) of a part file name, or None for anything else."""
    if not (name.startswith("part-") and name.endswith(".jsonl")):
        return None
    try:
        partition, first, last = name[5:-6].split("-")
        return int(partition), int(first), int(last)
    except ValueError:
        return None


def event_date(value: bytes) -> str:
    """The UTC date of a canonical event (``event_time`` is ISO-8601 UTC)."""
    return json.loads(value)["event_time"][:10]


def day_end_ms(dt: str) -> int:
    """Epoch milliseconds of the end (next midnight, UTC) of day ``dt``."""
    midnight = datetime.combine(date.fromisoformat(dt) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return int(midnight.timestamp() * 1000)


def event_date_and_time(msg) -> tuple[str, int]:
    """(UTC date, event time ms) of a Kafka message: from the ``dt``/``ts`` headers the publisher
    sets, else from the JSON."""
    headers = msg.headers()
    if headers and len(headers) >= 2 and headers[0][0] == "dt" and headers[1][0] == "ts":
        return headers[0][1].decode(), int(headers[1][1])
    value = msg.value()
    return event_date(value), event_time_ms(value)


def event_time_ms(value: bytes) -> int:
    text = json.loads(value)["event_time"]
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class LanderStats:
    landed: int = 0
    late: int = 0
    files: int = 0
    batches: int = 0
    watermark_ms: int = 0
    completed_days: list[str] = field(default_factory=list)


class RawLander:
    """Consumes ``web_events`` and lands it in HDFS exactly once (see the module docstring)."""

    def __init__(self, settings: Settings, batch_max: int = 100_000, flush_interval_s: float = 2.0):
        self.settings = settings
        self.batch_max = batch_max
        self.flush_interval_s = flush_interval_s
        self.fs = hdfs.webhdfs(settings, timeout_s=60)
        self.stats = LanderStats()
        self._complete_days: set[str] = set()
        self._open_days: set[str] = set()
        self._lateness_ms = settings.allowed_lateness_s * 1000
        self._partition_max_ms: dict[int, int] = {}

    # -- recovery ---------------------------------------------------------------------------------
    def _part_files(self, root: str) -> list[tuple[str, int, int, int]]:
        """(path, partition, first, last) of every part file under the dt= directories of ``root``."""
        if self.fs.status(root, strict=False) is None:
            return []
        found = []
        for day in self.fs.list(root):
            if not day.startswith("dt="):
                continue
            for name in self.fs.list(f"{root}/{day}"):
                parsed = parse_part_name(name)
                if parsed:
                    found.append((f"{root}/{day}/{name}", *parsed))
        return found

    def recover(self, committed: dict[int, int]) -> int:
        """Delete part files at or past each partition's committed offset (an uncommitted batch)."""
        removed = 0
        for root in (self.settings.raw_events_dir, late_dir(self.settings)):
            for path, partition, first, _last in self._part_files(root):
                if first >= committed.get(partition, 0):
                    self.fs.delete(path)
                    removed += 1
        if removed:
            log.warning("recovery removed %d part files of uncommitted batches", removed)
        self._load_day_markers()
        return removed

    def _load_day_markers(self) -> None:
        root = self.settings.raw_events_dir
        if self.fs.status(root, strict=False) is None:
            return
        for day in self.fs.list(root):
            if day.startswith("dt="):
                dt = day[3:]
                if self.fs.status(f"{root}/{day}/{COMPLETE_MARKER}", strict=False) is not None:
                    self._complete_days.add(dt)
                else:
                    self._open_days.add(dt)

    # -- landing ----------------------------------------------------------------------------------
    def _write(self, path: str, lines: list[bytes]) -> None:
        tmp = f"{posixpath.dirname(self.settings.raw_events_dir)}/_tmp/{uuid.uuid4().hex}"
        self.fs.write(tmp, data=b"\n".join(lines) + b"\n", overwrite=True)
        self.fs.makedirs(posixpath.dirname(path))
        self.fs.delete(path)
        self.fs.rename(tmp, path)

    def land(self, messages: list) -> dict[int, int]:
        """Land one polled batch; returns the offsets to commit (next offset per partition)."""
        by_partition: dict[int, list] = defaultdict(list)
        for msg in messages:
            by_partition[msg.partition()].append(msg)
        commits: dict[int, int] = {}
        for partition, msgs in by_partition.items():
            first, last = msgs[0].offset(), msgs[-1].offset()
            by_day: dict[tuple[str, bool], list[bytes]] = defaultdict(list)
            newest = self._partition_max_ms.get(partition, 0)
            for msg in msgs:
                value = msg.value()
                dt, ts = event_date_and_time(msg)
                by_day[(dt, dt in self._complete_days)].append(value)
                if ts > newest:
                    newest = ts
            self._partition_max_ms[partition] = newest
            for (dt, is_late), lines in sorted(by_day.items()):
                root = late_dir(self.settings) if is_late else self.settings.raw_events_dir
                self._write(f"{day_dir(root, dt)}/{part_name(partition, first, last)}", lines)
                self.stats.files += 1
                if is_late:
                    self.stats.late += len(lines)
                else:
                    self.stats.landed += len(lines)
                    self._open_days.add(dt)
            commits[partition] = last + 1
        self.stats.batches += 1
        return commits

    def advance_watermark(self, pending_partitions: set[int]) -> int:
        """The event-time watermark: the oldest newest-event-time of the partitions with events queued.

        A partition with events still queued holds the watermark back (at its newest landed event,
        or at zero if none landed yet), so a day is not declared complete while one partition may
        still carry events of it; partitions read to their end do not hold it back.
        """
        pending = [self._partition_max_ms.get(p, 0) for p in pending_partitions]
        candidate = min(pending) if pending else max(self._partition_max_ms.values(), default=0)
        self.stats.watermark_ms = max(self.stats.watermark_ms, candidate)
        return self.stats.watermark_ms

    def mark_complete_days(self) -> list[str]:
        """Write the marker of every open day that the watermark has passed (end of day + lateness)."""
        newly = []
        for dt in sorted(self._open_days):
            end_ms = day_end_ms(dt)
            if self.stats.watermark_ms > end_ms + self._lateness_ms:
                marker = {"watermark_ms": self.stats.watermark_ms, "marked_at": time.time()}
                self.fs.write(
                    f"{day_dir(self.settings.raw_events_dir, dt)}/{COMPLETE_MARKER}",
                    data=json.dumps(marker).encode(),
                    overwrite=True,
                )
                self._open_days.discard(dt)
                self._complete_days.add(dt)
                self.stats.completed_days.append(dt)
                newly.append(dt)
                log.info("day %s complete (watermark %d)", dt, self.stats.watermark_ms)
        return newly

    def run(self, stop: threading.Event, idle_exit_s: float | None = None, stats_path=None) -> LanderStats:
        """Consume until ``stop`` is set (or, with ``idle_exit_s``, until nothing arrives for that long)."""
        from confluent_kafka import TopicPartition

        consumer = kafka.consumer(self.settings, group_id(self.settings), **{"max.poll.interval.ms": 600_000})
        topic = self.settings.kafka_topic_events
        metadata = consumer.list_topics(topic, timeout=15)
        partitions = sorted(metadata.topics[topic].partitions)
        committed = {
            tp.partition: max(tp.offset, 0)
            for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=15)
        }
        self.recover(committed)
        consumer.assign([TopicPartition(topic, p, committed[p] if committed[p] > 0 else -2) for p in partitions])
        last_message = time.monotonic()
        try:
            while not stop.is_set():
                batch = self._poll_batch(consumer)
                if batch:
                    last_message = time.monotonic()
                    commits = self.land(batch)
                    consumer.commit(
                        offsets=[TopicPartition(topic, p, off) for p, off in commits.items()], asynchronous=False
                    )
                    self.advance_watermark(self._pending_partitions(consumer, topic, committed))
                    self.mark_complete_days()
                    if stats_path:
                        stats_path.write_text(json.dumps(asdict(self.stats)))
                elif idle_exit_s is not None and time.monotonic() - last_message > idle_exit_s:
                    break
        finally:
            consumer.close()
        return self.stats

    @staticmethod
    def _pending_partitions(consumer, topic: str, start: dict[int, int]) -> set[int]:
        """Partitions with events queued behind the consumer's position (``start``: where it began)."""
        from confluent_kafka import TopicPartition

        pending = set()
        for tp in consumer.position([TopicPartition(topic, p) for p in start]):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            position = tp.offset if tp.offset >= 0 else max(start[tp.partition], low)
            if position < high:
                pending.add(tp.partition)
        return pending

    def _poll_batch(self, consumer) -> list:
        deadline = time.monotonic() + self.flush_interval_s
        batch: list = []
        while len(batch) < self.batch_max and time.monotonic() < deadline:
            msgs = consumer.consume(min(10_000, self.batch_max - len(batch)), timeout=0.2)
            for msg in msgs:
                if msg.error():
                    log.warning("kafka: %s", msg.error())
                    continue
                batch.append(msg)
            if not msgs and batch:
                break
        return batch
