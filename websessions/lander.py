"""The raw lander: every record of ``web_events`` lands exactly once in HDFS (layout: :mod:`websessions.raw_layout`).

Progress lives in the data. Each polled batch of a partition is written as one file per destination
(day, late area, quarantine), named by the partition and the batch's first and last offsets; on start, a
partition resumes at the highest ``last + 1`` of its files in every area (and of its gap records), never at
an offset Kafka remembers for the consumer group. Offsets are still committed to Kafka, for monitoring
(lag) only: deleted or expired group offsets change nothing.

A batch's files are written to temporary paths, listed in a journal, renamed into place, then the journal
is removed. Recovery on start finishes the renames of a journal whose temporary files survived (or, if
one was lost, removes the batch's files so that it is read again), removes stray temporary files and any
file whose offsets are wholly covered by other files (a second lander's leftovers); it never removes a
file that continues a partition's sequence.

If Kafka no longer holds the offsets where a partition resumes (retention passed while the lander was
down, or offsets skipped while it lagged), the missing range is recorded as a gap file
(``<raw>_lander/gaps``), logged, counted in ``land status`` and ``audit``, and landing goes on from the
earliest offset Kafka has. Nothing is deleted for it.

Records that are not valid events (tombstones, missing or bad ``dt``/``ts`` headers, values that are not
JSON objects) go to the quarantine area with the reason and the raw bytes; landing goes on.

One lander per topic: it holds a lease with a fencing token (:mod:`websessions.lander_lease`).

Watermark and completeness. The lander's event-time watermark is the newest event time of the partition
furthest behind: among partitions with a backlog, else among partitions that received events in the last
``lander_idle_partition_s`` (a quiet partition does not hold it back), and never past the wall clock (one
client with a fast clock cannot move it). A day D is complete once the watermark has passed the end of D
plus ``allowed_lateness_s``. Events of a complete day go to the late area, are counted, and Airflow is told
so that D is recomputed (:mod:`websessions.late_data`); events more than ``days_late_allowed`` days after
their day's end (by the watermark) are quarantined as ``too_late``.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from hdfs.util import HdfsError

from websessions.clients import hdfs, kafka
from websessions.lander_lease import LanderLease
from websessions.late_data import LateNotifier
from websessions.raw_layout import (
    COMPLETE_MARKER,
    classify,
    data_roots,
    day_dir,
    gaps_dir,
    lander_dir,
    late_dir,
    parse_part_name,
    part_name,
    quarantine_dir,
    quarantine_record,
)
from websessions.settings import Settings

log = logging.getLogger(__name__)

# Named points where ``settings.lander_failpoint`` makes the lander kill itself (SIGKILL), for fault tests:
# batch files written to temporary paths; the first of several renames done; all renamed but not committed;
# offsets committed.
FAILPOINTS = ("during_write", "mid_rename", "after_rename", "after_commit")


def group_id(settings: Settings) -> str:
    """The lander's consumer group (committed offsets are for monitoring lag only)."""
    return f"websessions-lander-{settings.kafka_topic_events}"


def lander_stats_path(settings: Settings):
    """Where a running lander keeps its latest counters (read by ``land status`` and tests)."""
    return settings.run_dir / f"lander-{settings.kafka_topic_events}.json"


def day_end_ms(dt: str) -> int:
    """Epoch milliseconds of the end (next midnight, UTC) of day ``dt``."""
    midnight = datetime.combine(date.fromisoformat(dt) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return int(midnight.timestamp() * 1000)


@dataclass(frozen=True)
class PartFile:
    path: str
    partition: int
    first: int
    last: int
    dt: str | None


@dataclass
class LanderStats:
    landed: int = 0
    late: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    gaps: int = 0  # offsets Kafka dropped before they were landed (see the gap records)
    files: int = 0
    batches: int = 0
    watermark_ms: int = 0
    completed_days: list[str] = field(default_factory=list)
    resumed_at: dict[int, int] = field(default_factory=dict)  # partition -> first offset read at start
    recovery: dict[str, int] = field(default_factory=dict)
    lag: dict[int, int] = field(default_factory=dict)
    lease_token: int | None = None
    late_notices: int = 0  # days notified to Airflow for recomputation (websessions.late_data)
    late_notices_pending: dict[str, int] = field(default_factory=dict)  # day -> late events not notified yet


class RawLander:
    """Consumes ``web_events`` and lands it in HDFS exactly once (see the module docstring)."""

    def __init__(self, settings: Settings, batch_max: int = 100_000, flush_interval_s: float = 2.0, clock=time.time):
        self.settings = settings
        self.clock = clock  # wall clock, seconds (the watermark never passes it)
        self.notifier = LateNotifier(settings) if settings.lander_notify_airflow else None
        self.batch_max = batch_max
        self.flush_interval_s = flush_interval_s
        self.fs = hdfs.webhdfs(settings, timeout_s=60)
        self.stats = LanderStats()
        self.lease: LanderLease | None = None
        self._reasons: Counter = Counter()
        self._complete_days: set[str] = set()
        self._open_days: set[str] = set()
        self._known_dirs: set[str] = set()
        self._lateness_ms = settings.allowed_lateness_s * 1000
        self._too_late_ms = settings.days_late_allowed * 86_400_000
        self._partition_max_ms: dict[int, int] = {}
        self._partition_seen: dict[int, float] = {}  # partition -> monotonic time it last delivered events
        self._next: dict[int, int] = {}  # partition -> the next offset expected
        self._last_dt: dict[int, str] = {}  # partition -> the day of its latest landed file
        self._notified = 0.0  # monotonic time of the last notice attempt
        self._tmp_dir = lander_dir(settings) + "/tmp"
        self._journal = lander_dir(settings) + "/journal"

    def _failpoint(self, name: str) -> None:
        if self.settings.lander_failpoint == name:
            log.warning("failpoint %s: killing this lander (SIGKILL)", name)
            os.kill(os.getpid(), signal.SIGKILL)

    # -- progress and recovery ---------------------------------------------------------------------
    def _list(self, path: str) -> list[str]:
        return self.fs.list(path) if self.fs.status(path, strict=False) is not None else []

    def part_files(self) -> list[PartFile]:
        """Every part file of every area, and every gap record."""
        found = []
        for root in data_roots(self.settings):
            for day in self._list(root):
                if not day.startswith("dt="):
                    continue
                for name in self._list(f"{root}/{day}"):
                    parsed = parse_part_name(name)
                    if parsed:
                        found.append(PartFile(f"{root}/{day}/{name}", *parsed, day[3:]))
        for name in self._list(gaps_dir(self.settings)):
            parsed = parse_part_name(name)
            if parsed:
                found.append(PartFile(f"{gaps_dir(self.settings)}/{name}", *parsed, None))
        return found

    def _finish_journal(self) -> dict[str, int]:
        """Complete (or, if a temporary file is missing, undo) the renames of an interrupted batch."""
        if self.fs.status(self._journal, strict=False) is None:
            return {}
        with self.fs.read(self._journal) as reader:
            pairs = json.loads(reader.read())
        missing = [tmp for tmp, final in pairs if self.fs.status(tmp, strict=False) is None
                   and self.fs.status(final, strict=False) is None]  # fmt: skip
        if missing:
            for _tmp, final in pairs:
                self.fs.delete(final)
            log.warning("recovery: batch of %d files undone (%d temporary files lost); it is read again",
                        len(pairs), len(missing))  # fmt: skip
            self.fs.delete(self._journal)
            return {"batches_undone": 1}
        finished = 0
        for tmp, final in pairs:
            if self.fs.status(tmp, strict=False) is not None:
                self._place(tmp, final)
                finished += 1
        self.fs.delete(self._journal)
        if finished:
            log.warning("recovery: finished %d renames of an interrupted batch", finished)
        return {"renames_finished": finished}

    def recover(self) -> dict[int, int]:
        """Repair what a crash can leave half-done; returns each partition's resume offset per the files."""
        report = Counter(self._finish_journal())
        if self.fs.status(self._tmp_dir, strict=False) is not None:
            stray = self._list(self._tmp_dir)
            self.fs.delete(self._tmp_dir, recursive=True)
            if stray:
                report["temporary_files_removed"] += len(stray)
        files = self.part_files()
        by_partition: dict[int, dict[tuple[int, int], list[PartFile]]] = defaultdict(lambda: defaultdict(list))
        for f in files:
            by_partition[f.partition][(f.first, f.last)].append(f)
        resume: dict[int, int] = {}
        for partition, ranges in by_partition.items():
            covered = -1
            for (first, last), group in sorted(ranges.items(), key=lambda item: (item[0][0], -item[0][1])):
                if last <= covered:  # wholly inside ranges already kept: another lander's duplicate
                    for f in group:
                        self.fs.delete(f.path)
                        report["duplicate_files_removed"] += 1
                    continue
                if first <= covered:
                    report["partial_overlaps"] += 1
                    log.error("partition %d: files %d-%d overlap earlier ones (kept)", partition, first, last)
                covered = last
                dated = [f.dt for f in group if f.dt]
                if dated:
                    self._last_dt[partition] = max(dated)
            resume[partition] = covered + 1
        self.stats.recovery = dict(report)
        if report:
            log.warning("recovery: %s", dict(report))
        self._load_day_markers()
        return resume

    def _load_day_markers(self) -> None:
        root = self.settings.raw_events_dir
        for day in self._list(root):
            if day.startswith("dt="):
                dt = day[3:]
                if self.fs.status(f"{root}/{day}/{COMPLETE_MARKER}", strict=False) is not None:
                    self._complete_days.add(dt)
                else:
                    self._open_days.add(dt)
        if self._complete_days:  # the watermark never goes back: the latest marker says where it stood
            with self.fs.read(f"{day_dir(root, max(self._complete_days))}/{COMPLETE_MARKER}") as reader:
                marked = json.loads(reader.read() or b"{}").get("watermark_ms", 0)
            self.stats.watermark_ms = max(self.stats.watermark_ms, int(marked))

    def record_gap(self, partition: int, first: int, last: int, reason: str) -> None:
        """Offsets ``first..last`` of ``partition`` are gone from Kafka unlanded: record it, never hide it."""
        missing = last - first + 1
        record = {
            "partition": partition,
            "first": first,
            "last": last,
            "missing": missing,
            "reason": reason,
            "dt": self._last_dt.get(partition),
            "detected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        path = f"{gaps_dir(self.settings)}/{part_name(partition, first, last, 'json')}"
        self.fs.write(path, data=json.dumps(record).encode(), overwrite=True)
        self.stats.gaps += missing
        log.error("GAP: partition %d offsets %d..%d (%d events) are no longer in Kafka: %s (recorded in %s)",
                  partition, first, last, missing, reason, path)  # fmt: skip

    def start_positions(self, resume: dict[int, int], bounds: dict[int, tuple[int, int]]) -> dict[int, int]:
        """Where each partition starts reading: its resume offset, or Kafka's earliest one past a gap."""
        topic = self.settings.kafka_topic_events
        positions = {}
        for partition, (low, high) in sorted(bounds.items()):
            at = resume.get(partition, low)  # a partition with no files yet starts at Kafka's earliest offset
            if at > high:
                raise RuntimeError(
                    f"HDFS holds offsets up to {at - 1} of {topic}[{partition}] but Kafka ends at {high}: "
                    "was the topic deleted and created again? Move the old raw data aside before landing it"
                )
            if partition in resume and at < low:
                self.record_gap(partition, at, low - 1, f"Kafka's earliest offset is {low} (retention)")
                at = low
            positions[partition] = at
        self._next = dict(positions)
        self.stats.resumed_at = dict(positions)
        return positions

    # -- landing ----------------------------------------------------------------------------------
    def _place(self, tmp: str, final: str) -> None:
        parent = posixpath.dirname(final)
        if parent not in self._known_dirs:
            self.fs.makedirs(parent)
            self._known_dirs.add(parent)
        try:
            self.fs.rename(tmp, final)
        except HdfsError:  # the destination exists (a batch read again after a crash): replace it
            self.fs.delete(final)
            self.fs.rename(tmp, final)

    def land(self, messages: list) -> dict[int, int]:
        """Land one polled batch; returns the offsets to commit (next offset per partition)."""
        by_partition: dict[int, list] = defaultdict(list)
        for msg in messages:
            by_partition[msg.partition()].append(msg)
        pairs: list[tuple[str, str]] = []
        counts: Counter = Counter()
        commits: dict[int, int] = {}
        for partition, msgs in sorted(by_partition.items()):
            first, last = msgs[0].offset(), msgs[-1].offset()
            expected = self._next.get(partition, first)
            if first > expected:
                self.record_gap(partition, expected, first - 1, "offsets skipped while reading (retention)")
            groups: dict[tuple[str, str], list[bytes]] = defaultdict(list)
            newest = self._partition_max_ms.get(partition, 0)
            for msg in msgs:
                place = classify(msg)
                if place.reason is not None:
                    groups[("quarantine", place.dt)].append(quarantine_record(msg, place.reason))
                    self._reasons[place.reason] += 1
                    continue
                if place.dt in self._complete_days and self.too_late(place.dt):
                    groups[("quarantine", place.dt)].append(quarantine_record(msg, "too_late"))
                    self._reasons["too_late"] += 1
                    continue
                area = "late" if place.dt in self._complete_days else "raw"
                groups[(area, place.dt)].append(msg.value())
                if place.ts > newest:
                    newest = place.ts
            self._partition_max_ms[partition] = newest
            self._partition_seen[partition] = time.monotonic()
            roots = {"raw": self.settings.raw_events_dir, "late": late_dir(self.settings),
                     "quarantine": quarantine_dir(self.settings)}  # fmt: skip
            for (area, dt), lines in sorted(groups.items()):
                tmp = f"{self._tmp_dir}/{uuid.uuid4().hex}"
                self.fs.write(tmp, data=b"\n".join(lines) + b"\n", overwrite=True)
                pairs.append((tmp, f"{day_dir(roots[area], dt)}/{part_name(partition, first, last)}"))
                counts[area] += len(lines)
                if area == "late" and self.notifier is not None:
                    self.notifier.add(dt, len(lines))
                if area == "raw":
                    self._open_days.add(dt)
                    self._last_dt[partition] = dt
            commits[partition] = last + 1
        self._failpoint("during_write")
        if self.lease is not None:
            self.lease.check()  # fenced: stop before anything of this batch is in place
        self.fs.write(self._journal, data=json.dumps(pairs).encode(), overwrite=True)
        for i, (tmp, final) in enumerate(pairs):
            self._place(tmp, final)
            if i == 0 and len(pairs) > 1:
                self._failpoint("mid_rename")
        self.fs.delete(self._journal)
        self._next.update(commits)
        self.stats.landed += counts["raw"]
        self.stats.late += counts["late"]
        self.stats.quarantined += counts["quarantine"]
        self.stats.quarantine_reasons = dict(self._reasons)
        self.stats.files += len(pairs)
        self.stats.batches += 1
        if counts["quarantine"]:
            log.warning("quarantined %d records (%s)", counts["quarantine"], dict(self._reasons))
        self._failpoint("after_rename")
        return commits

    def too_late(self, dt: str) -> bool:
        """An event of ``dt`` is too late once the watermark is ``days_late_allowed`` days past ``dt``'s end."""
        return self.stats.watermark_ms > day_end_ms(dt) + self._too_late_ms

    def advance_watermark(self, pending_partitions: set[int]) -> int:
        """The event-time watermark: the newest event time of the partition furthest behind.

        A partition with events still queued holds the watermark back (at its newest landed event, or at
        zero if none landed yet), so a day is not declared complete while one partition may still carry
        events of it. Caught up, the partitions that delivered events within ``lander_idle_partition_s``
        count (a quiet partition does not hold it back; one partition's fast clock does not move it past
        the others). The watermark never passes the wall clock, and never goes back.
        """
        if pending_partitions:
            candidate = min(self._partition_max_ms.get(p, 0) for p in pending_partitions)
        else:
            now = time.monotonic()
            idle_s = self.settings.lander_idle_partition_s
            active = [ms for p, ms in self._partition_max_ms.items() if now - self._partition_seen.get(p, 0) <= idle_s]
            candidate = min(active) if active else max(self._partition_max_ms.values(), default=0)
        candidate = min(candidate, int(self.clock() * 1000))
        self.stats.watermark_ms = max(self.stats.watermark_ms, candidate)
        return self.stats.watermark_ms

    def mark_complete_days(self) -> list[str]:
        """Write the marker of every open day that the watermark and the wall clock have passed (end of day +
        lateness)."""
        newly = []
        now_ms = int(self.clock() * 1000)
        for dt in sorted(self._open_days):
            end_ms = day_end_ms(dt)
            if min(self.stats.watermark_ms, now_ms) > end_ms + self._lateness_ms:
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
        """Consume until ``stop`` is set (or, with ``idle_exit_s``, until nothing arrives for that long).

        Raises :class:`websessions.lander_lease.LeaseHeld` if another lander holds the topic, and
        :class:`websessions.lander_lease.Fenced` if one takes it over while this one runs.
        """
        from confluent_kafka import TopicPartition

        self.lease = LanderLease(self.settings, self.fs)
        self.stats.lease_token = self.lease.acquire()
        consumer = kafka.consumer(self.settings, group_id(self.settings), **{"max.poll.interval.ms": 600_000})
        topic = self.settings.kafka_topic_events
        try:
            metadata = consumer.list_topics(topic, timeout=15)
            if metadata.topics[topic].error is not None:
                raise RuntimeError(f"kafka: topic {topic}: {metadata.topics[topic].error}")
            partitions = sorted(metadata.topics[topic].partitions)
            bounds = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in partitions}
            positions = self.start_positions(self.recover(), bounds)
            log.info("lander resumes from HDFS at %s (lease token %d)", positions, self.lease.token)
            consumer.assign([TopicPartition(topic, p, off) for p, off in positions.items()])
            last_message = time.monotonic()
            self._write_stats(stats_path)
            while not stop.is_set():
                self.lease.keep()
                batch = self._poll_batch(consumer)
                if batch:
                    last_message = time.monotonic()
                    commits = self.land(batch)
                    consumer.commit(
                        offsets=[TopicPartition(topic, p, off) for p, off in commits.items()], asynchronous=False
                    )
                    self._failpoint("after_commit")
                    self.advance_watermark(self._pending_partitions(consumer, topic))
                    self.mark_complete_days()
                    self._notify(stats_path)
                    self._write_stats(stats_path)
                elif idle_exit_s is not None and time.monotonic() - last_message > idle_exit_s:
                    break
                elif self.notifier is not None and self.notifier.pending and time.monotonic() - self._notified > 30:
                    self._notify(stats_path)  # notices kept while Airflow was away or the DAG paused
        finally:
            consumer.close()
            self.lease.release()
        self._write_stats(stats_path)
        return self.stats

    def _notify(self, stats_path) -> None:
        """Send the pending late-data notices to Airflow (kept for a later try if it cannot take them)."""
        if self.notifier is None:
            return
        self.notifier.flush()
        self._notified = time.monotonic()
        self.stats.late_notices = self.notifier.sent
        self.stats.late_notices_pending = dict(self.notifier.pending)
        self._write_stats(stats_path)

    def _write_stats(self, stats_path) -> None:
        if stats_path:
            tmp = stats_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self.stats)))
            tmp.replace(stats_path)

    def _pending_partitions(self, consumer, topic: str) -> set[int]:
        """Partitions with events queued behind the consumer's position; records each one's lag."""
        from confluent_kafka import TopicPartition

        pending = set()
        for tp in consumer.position([TopicPartition(topic, p) for p in self._next]):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            position = tp.offset if tp.offset >= 0 else max(self._next[tp.partition], low)
            self.stats.lag[tp.partition] = max(high - position, 0)
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
