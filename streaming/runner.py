"""Runs the speed layer on this machine: the PyFlink job in a local Flink (in this process's JVM), writing
into HBase from the JVM, until stopped. ``websessions speed start`` runs :func:`run_speed_layer` detached.

The per-event path is all JVM (:func:`streaming.sessions_job.submit_to_hbase`, the cluster's job too):
Kafka -> the Jackson decoder and the classifier chained to the source -> the session operator -> the HBase
sink (``streaming/java-hbase``: coalesced puts through ``BufferedMutator``, flushed every
``sessions_job.HBASE_FLUSH_INTERVAL_MS`` and before each checkpoint barrier). This process only declares
the job and, every couple of seconds, reads the job's progress back from HBase for ``speed status``
(:class:`SpeedProgress`; the stats file ``<run_dir>/speed-<topic>.json``).

Recovery. The job checkpoints every ``speed_checkpoint_interval_s`` into
``<stack_dir>/data/speed/<events topic>/checkpoints`` and keeps its last checkpoints when it is
cancelled or its process dies (``RETAIN_ON_CANCELLATION``). Every start restores the newest completed
checkpoint: the operators' keyed state plus the Kafka offsets that belong to it, so nothing is lost or
counted twice; a completed checkpoint has every update before it in HBase (the sink flushes before the
barrier), events read after it are read again and their updates rewritten, idempotently. Without a
checkpoint (first start) the job reads from its consumer group's committed offsets, else from the
earliest. ``speed stop`` (SIGTERM to the process group) and ``kill -9`` take the same path, so a crash is
the tested case, not a special one. Older job directories are removed once the new job has completed a
checkpoint of its own. Flink does not checkpoint watermarks; the classifier keeps each partition's
watermark at the barrier in its operator state (``EventClassifier``), so a restored job judges replayed events
late as the first run did, with no file of the runner's involved (the stats file is for ``speed status``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from streaming import sessions_job
from websessions.events import parse_time_ms
from websessions.sessions import SessionRule
from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions, session_of_row, start_of

log = logging.getLogger(__name__)

# What Flink says when a checkpoint holds state of operators the job no longer has.
INCOMPATIBLE_CHECKPOINT = "Cannot map checkpoint/savepoint state"
LATE_REFRESH_S = 6.0  # how often the runner counts the late events recorded in HBase


def speed_dir(settings: Settings) -> Path:
    return settings.data_dir / "speed" / settings.kafka_topic_events


def checkpoint_root(settings: Settings) -> Path:
    return speed_dir(settings) / "checkpoints"


def stats_path(settings: Settings) -> Path:
    return settings.run_dir / f"speed-{settings.kafka_topic_events}.json"


def latest_checkpoint(root: Path) -> Path | None:
    """The newest completed checkpoint (``chk-N`` with its ``_metadata``) under any job directory."""
    done = [m.parent for m in root.glob("*/chk-*/_metadata")]
    return max(done, key=lambda p: (p.stat().st_mtime, int(p.name.split("-")[1])), default=None)


def prune_checkpoints(root: Path, current_job: str) -> None:
    """Once ``current_job`` has a completed checkpoint, remove the directories of earlier jobs."""
    if not any((root / current_job).glob("chk-*/_metadata")):
        return
    for job_dir in root.iterdir():
        if job_dir.is_dir() and job_dir.name != current_job:
            shutil.rmtree(job_dir, ignore_errors=True)


class FlinkJob:
    """The sessions job submitted to a local Flink in this process (restored from the last checkpoint): Kafka ->
    the JVM operators -> the JVM HBase sink (:func:`streaming.sessions_job.hbase_sink`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = None
        self.job_id: str | None = None
        self.restored_from: Path | None = None
        self.gone = False

    def start(self) -> str:
        from websessions.platform.artifacts import classpath

        s = self.settings
        log_dir = s.logs_dir / "speed-flink"
        log_dir.mkdir(parents=True, exist_ok=True)
        # Read by PyFlink when it launches this process's JVM (the first TableEnvironment below).
        os.environ.setdefault("FLINK_LOG_DIR", str(log_dir))
        os.environ.setdefault("JVM_ARGS", f"-Xmx{s.speed_heap} -XX:+UseSerialGC")
        root = checkpoint_root(s)
        root.mkdir(parents=True, exist_ok=True)
        self.restored_from = latest_checkpoint(root)
        t_env = sessions_job.stream_table_environment()
        hbase_client = classpath(s, "hbase-client")
        jars = [
            *classpath(s, "flink-connectors"),
            sessions_job.operator_jar(s),
            sessions_job.hbase_sink_jar(s, hbase_client),
            *hbase_client,
        ]
        try:
            self.client = self._submit(t_env, jars, root)
        except Exception as exc:
            if self.restored_from is None or INCOMPATIBLE_CHECKPOINT not in str(exc):
                raise
            # A checkpoint of the job before issue 18 (its update-topic sink is not in this job graph).
            aside = speed_dir(s) / f"checkpoints-incompatible-{time.strftime('%Y%m%dT%H%M%S')}"
            log.error(
                "speed job: the checkpoint %s is of an earlier job graph and cannot be restored; it is kept in %s"
                " and the job starts from the consumer group's committed offsets with empty state (sessions open"
                " at the switch are split; README, Troubleshooting, 'Upgrading the speed layer')",
                self.restored_from, aside,
            )  # fmt: skip
            root.rename(aside)
            root.mkdir(parents=True)
            self.restored_from = None
            t_env = sessions_job.stream_table_environment()
            self.client = self._submit(t_env, jars, root)
        self.job_id = str(self.client.get_job_id())
        restored = f" from {self.restored_from}" if self.restored_from else " (no checkpoint)"
        log.info("speed job %s started%s", self.job_id, restored)
        return self.job_id

    def _submit(self, t_env, jars: list[Path], root: Path):
        s = self.settings
        restore = self.restored_from.resolve().as_uri() if self.restored_from else None
        sessions_job.configure(t_env, s, jars, root, restore_from=restore)
        return sessions_job.submit_to_hbase(t_env, s)

    def status(self) -> str:
        if self.gone:
            return "GONE"
        try:
            return self.client.get_job_status().result().name
        except Exception:  # the JVM is gone (a stop signals the whole process group, the JVM included)
            self.gone = True
            return "GONE"

    def cancel(self) -> None:
        """Cancel the job if its JVM is still up; its checkpoints are kept either way."""
        if self.gone or self.client is None:
            return
        try:
            self.client.cancel().result()
        except Exception as exc:
            self.gone = True
            log.info("speed job was already gone: %s", type(exc).__name__)


@dataclass
class SpeedProgress:
    """What the job has done, read back from HBase every tick (the sink writes it after the updates it
    covers: ``websessions.stores.hbase_sessions``, the progress and late tables); not on the per-event path."""

    sources: dict[int, dict] = field(default_factory=dict)  # partition -> the job's counters
    sinks: dict[int, dict] = field(default_factory=dict)  # sink subtask -> its counters since the job started
    late_events: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset), recorded in HBase
    open_sessions: int = 0
    swept: int = 0

    def refresh(self, store: HBaseSessions, late: bool = True) -> None:
        """Read the progress rows (a few); with ``late``, also scan the late-event table's keys (one row per late
        event ever recorded within the TTL: read less often)."""
        self.sources, self.sinks = store.retrying(store.speed_progress, "reading the speed job's progress")
        if late:
            self.late_events = sorted(store.retrying(store.late_event_offsets, "reading the late events"))

    def sweep(self, store: HBaseSessions, rule: SessionRule) -> int:
        """Drop live views that should have closed long ago (their last event + timeout + one more timeout is
        behind the event time of the partition furthest behind, minus the lateness): leftovers of open rows
        written after the last checkpoint whose sessions took another start when replayed. Returns how many."""
        ends = [parse_time_ms(r["t_end"]) for r in self.sources.values() if r.get("t_end")]
        if not ends:
            return 0
        horizon = min(ends) - rule.allowed_lateness_ms - 2 * rule.timeout_ms
        stale, live = [], 0
        for key, columns in store.open_rows():
            session = session_of_row(columns)
            if session is not None and session.end_ms < horizon:
                stale.append((session.host, session.ip, start_of(key)))
            else:
                live += 1

        def delete() -> None:
            writer = store.writer()
            for host, ip, start in stale:
                writer.delete_open(host, ip, start)
            writer.flush()

        if stale:
            store.retrying(delete, "dropping stale live views")
        self.open_sessions = live
        self.swept += len(stale)
        return len(stale)

    def as_stats(self) -> dict:
        rows = self.sources.values()
        sink_total = {
            name: sum(s.get(name, 0) for s in self.sinks.values())
            for name in ("updates", "sessions_closed", "open_puts", "open_deletes", "metric_puts", "flushes")
        }
        flushed = max((s.get("flushed_at_ms", 0) for s in self.sinks.values()), default=0)
        return {
            **sink_total,
            "last_flush_at": flushed / 1000,
            "records": sum(r["records"] for r in rows),
            "invalid": sum(r["invalid"] for r in rows),
            "undecodable": sum(r["offset_max"] - r["offset_min"] + 1 - r["records"] for r in rows),
            "late": len(self.late_events),
            "max_event_ms": max((parse_time_ms(r["t_end"]) for r in rows if r.get("t_end")), default=0),
            "source_offsets": {part: r["offset_max"] for part, r in self.sources.items()},
            "open_sessions": self.open_sessions,
            "stale_live_views_dropped": self.swept,
            "sources": self.sources,
            "late_events": self.late_events,
        }


def run_speed_layer(
    settings: Settings, stop: threading.Event, status_interval_s: float = 2.0, sweep_interval_s: float = 30.0
) -> dict:
    """Start the job; watch it and write its stats every ``status_interval_s`` until ``stop`` is set or the job
    fails; return the final stats."""
    from websessions.clients import kafka

    logging.getLogger("py4j").setLevel(logging.CRITICAL)  # a vanished JVM is reported by the job status
    kafka.ensure_topics(settings, settings.kafka_topic_events)
    rule = SessionRule.from_settings(settings)
    progress = SpeedProgress()
    path = stats_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    job = FlinkJob(settings)
    with HBaseSessions(settings) as store:
        store.ensure_table()
        progress.refresh(store)
        job.start()
        started = time.time()
        last_sweep = last_late = time.monotonic()
        try:
            while True:
                status = job.status()
                if status in ("FAILED", "CANCELED", "FINISHED", "GONE"):
                    log.error("speed job is %s: stopping", status)
                    stop.set()
                prune_checkpoints(checkpoint_root(settings), job.job_id)
                late = time.monotonic() - last_late >= LATE_REFRESH_S
                progress.refresh(store, late=late)
                last_late = time.monotonic() if late else last_late
                if time.monotonic() - last_sweep >= sweep_interval_s:
                    progress.sweep(store, rule)
                    last_sweep = time.monotonic()
                write_stats(settings, path, job, progress, started, status)
                if stop.wait(status_interval_s):
                    break
        finally:
            job.cancel()
            with contextlib.suppress(Exception):  # the final numbers are informative; HBase may be the failure
                progress.refresh(store)
            write_stats(settings, path, job, progress, started, "STOPPED")
    return progress.as_stats()


def source_lag(settings: Settings, offsets: dict[int, int]) -> int | None:
    """Events in the topic not yet read by the job (end offsets minus the job's last offsets)."""
    from confluent_kafka import TopicPartition

    from websessions.clients import kafka

    if not offsets:
        return None
    consumer = kafka.consumer(settings, f"websessions-speed-lag-{settings.kafka_topic_events}")  # never joins
    try:
        lag = 0
        metadata = consumer.list_topics(settings.kafka_topic_events, timeout=5).topics[settings.kafka_topic_events]
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(settings.kafka_topic_events, partition), timeout=5
            )
            lag += high - (offsets[partition] + 1 if partition in offsets else low)
        return lag
    except Exception:  # lag is informative only
        return None
    finally:
        consumer.close()


def write_stats(
    settings: Settings, path: Path, job: FlinkJob, progress: SpeedProgress, started: float, status: str
) -> None:
    stats = progress.as_stats()
    stats.update(
        pid=os.getpid(),
        job_id=job.job_id,
        job_status=status,
        restored_from=str(job.restored_from) if job.restored_from else None,
        started_at=started,
        updated_at=time.time(),
        source_lag=source_lag(settings, stats["source_offsets"]),
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stats, indent=1))
    tmp.replace(path)


def read_stats(settings: Settings) -> dict | None:
    path = stats_path(settings)
    return json.loads(path.read_text()) if path.exists() else None
