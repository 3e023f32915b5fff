"""Runs the speed layer on this machine: the PyFlink job in a local Flink (in this process's JVM) and the
HBase writer, until stopped. ``websessions speed start`` runs :func:`run_speed_layer` detached.

Recovery. The job checkpoints every ``speed_checkpoint_interval_s`` into
``<stack_dir>/data/speed/<events topic>/checkpoints`` and keeps its last checkpoints when it is
cancelled or its process dies (``RETAIN_ON_CANCELLATION``). Every start restores the newest completed
checkpoint: the operators' keyed state plus the Kafka offsets that belong to it, so nothing is lost or
counted twice; events read after that checkpoint are read again and their updates re-emitted, which the
writer's idempotent puts absorb. Without a checkpoint (first start) the job reads from its consumer
group's committed offsets, else from the earliest. ``speed stop`` (SIGTERM to the process group) and
``kill -9`` take the same path, so a crash is the tested case, not a special one. Older job directories
are removed once the new job has completed a checkpoint of its own.

The writer commits its own offsets on the update topic after each HBase flush and reads back from HBase
which rows have a live view at startup (see :mod:`streaming.hbase_sink`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

from streaming import sessions_job
from streaming.hbase_sink import SpeedSink, sink_group_id
from websessions.settings import Settings

log = logging.getLogger(__name__)


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


def ensure_topics(settings: Settings) -> None:
    from confluent_kafka.admin import NewTopic

    from websessions.clients import kafka

    admin = kafka.admin(settings)
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        NewTopic(topic, num_partitions=settings.kafka_partitions, replication_factor=1)
        for topic in (settings.kafka_topic_events, settings.kafka_topic_session_updates)
        if topic not in existing
    ]
    for topic, future in admin.create_topics(wanted, request_timeout=15).items() if wanted else []:
        try:
            future.result()
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"kafka: creating topic {topic} failed: {exc}") from exc


class FlinkJob:
    """The sessions job submitted to a local Flink in this process (restored from the last checkpoint)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.result = None
        self.job_id: str | None = None
        self.restored_from: Path | None = None
        self.gone = False
        self.floors: dict[int, int] = {}

    def start(self, history: dict[int, list[tuple[int, int]]] | None = None) -> str:
        from websessions.stack.artifacts import classpath

        s = self.settings
        log_dir = s.logs_dir / "speed-flink"
        log_dir.mkdir(parents=True, exist_ok=True)
        # Read by PyFlink when it launches this process's JVM (the first TableEnvironment below).
        os.environ.setdefault("FLINK_LOG_DIR", str(log_dir))
        os.environ.setdefault("JVM_ARGS", f"-Xmx{s.speed_heap} -XX:+UseSerialGC")
        root = checkpoint_root(s)
        root.mkdir(parents=True, exist_ok=True)
        self.restored_from = latest_checkpoint(root)
        self.floors = watermark_floors(s, history or {}) if self.restored_from else {}
        t_env = sessions_job.stream_table_environment()
        jars = [*classpath(s, "flink-connectors"), sessions_job.operator_jar(s)]
        restore = self.restored_from.resolve().as_uri() if self.restored_from else None
        sessions_job.configure(t_env, s, jars, root, restore_from=restore)
        group = sessions_job.source_group_id(s)
        self.result = sessions_job.build(t_env, s, group, watermark_floors=self.floors).execute()
        self.job_id = str(self.result.get_job_client().get_job_id())
        log.info(
            "speed job %s started%s", self.job_id, f" from {self.restored_from}" if restore else " (no checkpoint)"
        )
        return self.job_id

    def status(self) -> str:
        if self.gone:
            return "GONE"
        try:
            return self.result.get_job_client().get_job_status().result().name
        except Exception:  # the JVM is gone (a stop signals the whole process group, the JVM included)
            self.gone = True
            return "GONE"

    def cancel(self) -> None:
        """Cancel the job if its JVM is still up; its checkpoints are kept either way."""
        if self.gone or self.result is None:
            return
        try:
            self.result.get_job_client().cancel().result()
        except Exception as exc:
            self.gone = True
            log.info("speed job was already gone: %s", type(exc).__name__)


def run_speed_layer(settings: Settings, stop: threading.Event, status_interval_s: float = 2.0) -> dict:
    """Start the job and the writer; return the final stats when ``stop`` is set or the job fails."""
    from websessions.stores.hbase_sessions import HBaseSessions

    logging.getLogger("py4j").setLevel(logging.CRITICAL)  # a vanished JVM is reported by the job status
    ensure_topics(settings)
    with HBaseSessions(settings) as store:
        store.ensure_table()
    # The job re-emits a partition's counters only when it reads from it again: start from the last ones.
    previous = read_stats(settings) or {}
    sources = {int(part): row for part, row in previous.get("sources", {}).items()}
    history = {int(part): [tuple(e) for e in entries] for part, entries in previous.get("watermarks", {}).items()}
    job = FlinkJob(settings)
    job.start(history)
    started = time.time()
    path = stats_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"job_status": "RUNNING"}

    def on_tick(sink: SpeedSink) -> None:
        state["job_status"] = job.status()
        if state["job_status"] in ("FAILED", "CANCELED", "FINISHED", "GONE"):
            log.error("speed job is %s: stopping", state["job_status"])
            stop.set()
        prune_checkpoints(checkpoint_root(settings), job.job_id)
        write_stats(settings, path, job, sink, started, state["job_status"])

    sink = SpeedSink(settings)
    sink.sources = sources
    sink.watermark_history = history
    sink.late_seen = {(int(part), int(offset)) for part, offset in previous.get("late_events", [])}
    sink.late_unremembered = previous.get("late_unremembered", 0)
    try:
        sink.run(stop, on_tick=on_tick, tick_interval_s=status_interval_s)
    finally:
        job.cancel()
        write_stats(settings, path, job, sink, started, "STOPPED")
    return sink.stats.as_dict()


def watermark_floors(settings: Settings, history: dict[int, list[tuple[int, int]]]) -> dict[int, int]:
    """Per partition, a watermark the restored checkpoint had certainly reached: the latest event time the
    job had read below the offset it committed with its last completed checkpoint, minus the lateness."""
    from confluent_kafka import TopicPartition

    from websessions.clients import kafka

    if not history:
        return {}
    consumer = kafka.consumer(settings, sessions_job.source_group_id(settings))
    try:
        wanted = [TopicPartition(settings.kafka_topic_events, p) for p in history]
        committed = {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10) if tp.offset >= 0}
    finally:
        consumer.close()
    floors = {}
    for part, entries in history.items():
        seen = [ms for offset, ms in entries if part in committed and offset < committed[part]]
        if seen:
            floors[part] = max(seen) - settings.allowed_lateness_s * 1000
    log.info("watermark floors after restore: %s", floors)
    return floors


def source_lag(settings: Settings, offsets: dict[int, int]) -> int | None:
    """Events in the topic not yet read by the job (end offsets minus the job's last offsets)."""
    from confluent_kafka import TopicPartition

    from websessions.clients import kafka

    if not offsets:
        return None
    consumer = kafka.consumer(settings, sink_group_id(settings))
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


def write_stats(settings: Settings, path: Path, job: FlinkJob, sink: SpeedSink, started: float, status: str) -> None:
    stats = sink.stats.as_dict()
    stats.update(
        pid=os.getpid(),
        job_id=job.job_id,
        job_status=status,
        restored_from=str(job.restored_from) if job.restored_from else None,
        started_at=started,
        updated_at=time.time(),
        open_sessions=len(sink.open_rows),
        source_lag=source_lag(settings, sink.stats.source_offsets),
        kinds=dict(sink.kinds),
        sources=sink.sources,
        watermarks=sink.watermark_history,
        watermark_floors=job.floors,
        late_events=sorted(sink.late_seen),
        late_unremembered=sink.late_unremembered,
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stats, indent=1))
    tmp.replace(path)


def read_stats(settings: Settings) -> dict | None:
    path = stats_path(settings)
    return json.loads(path.read_text()) if path.exists() else None
