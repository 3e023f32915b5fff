"""The supervised long-running jobs of the chaos suite on a private dataset: the speed layer and the lander
started as ``speed start`` / ``land start`` start them (BackgroundJob, i.e. under the supervisor), their
progress, and the speed layer's checker (its sessions against the reference sessionizer's).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from streaming.runner import read_stats, speed_dir, stats_path
from tests.chaos.ledger import Verdict, publish, read_landed
from tests.integration.datasets import kafka_topics, private_root, private_settings, wait_for
from tests.vectors.loader import comparable, sort_key
from websessions.background import BackgroundJob
from websessions.clients import hdfs
from websessions.events import Event, validate
from websessions.lander import lander_stats_path
from websessions.sessionizer import sessionize
from websessions.sessions import CLOSED, SessionRule
from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions, session_of_row

SENTINEL_HOST = "sentinel.test"
FIELDS = (
    "kafka_topic_events", "kafka_topic_dlq", "kafka_topic_session_updates", "raw_events_dir",
    "hbase_table_sessions", "hbase_table_live_metrics",
)  # fmt: skip


@contextmanager
def private_pipeline(base: Settings, prefix: str) -> Iterator[Settings]:
    """Private topics, HDFS areas, HBase tables and speed checkpoints; removed afterwards. Checkpoints
    every 5 s, a restart 1 s after a crash."""
    settings = dataclasses.replace(
        private_settings(base, prefix, *FIELDS), speed_checkpoint_interval_s=5, supervisor_backoff_initial_s=1.0
    )
    topics = (settings.kafka_topic_events, settings.kafka_topic_dlq, settings.kafka_topic_session_updates)
    try:
        with kafka_topics(settings, *topics):
            yield settings
    finally:
        with HBaseSessions(settings) as store:
            store.drop_tables()
        shutil.rmtree(speed_dir(settings), ignore_errors=True)
        hdfs.webhdfs(settings).delete(private_root(settings), recursive=True)
        for name in ("speed", "lander"):
            (settings.run_dir / f"{job_name(settings, name)}.supervisor.json").unlink(missing_ok=True)
        stats_path(settings).unlink(missing_ok=True)
        lander_stats_path(settings).unlink(missing_ok=True)


def record(reliability, fault: str, rounds: int, verdict: Verdict, recover_s: float, notes: str) -> None:
    """The test's row of the reliability table, from the checker's verdict."""
    reliability.record(
        fault=fault,
        rounds=rounds,
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        quarantined=verdict.quarantined,
        recover_s=recover_s,
        notes=notes,
    )


def job_name(settings: Settings, what: str) -> str:
    return f"{what}-{settings.kafka_topic_events}"


def speed_job(settings: Settings) -> BackgroundJob:
    """The speed layer as ``speed start`` runs it (under the supervisor)."""
    return BackgroundJob(settings, job_name(settings, "speed"), ["speed", "run"], stop_timeout_s=90)


def lander_job(settings: Settings) -> BackgroundJob:
    """The lander as ``land start`` runs it (under the supervisor)."""
    return BackgroundJob(settings, job_name(settings, "lander"), ["land", "run", "--batch-max", "1000"])


def wait_all_landed(settings: Settings, acknowledged: set[str], timeout_s: float) -> None:
    """Until every acknowledged event id is somewhere in the dataset's raw or late area."""
    wait_for("every acknowledged event to land", lambda: acknowledged <= set(read_landed(settings).events), timeout_s)


def speed_stats(settings: Settings) -> dict:
    return read_stats(settings) or {}


def lander_stats(settings: Settings) -> dict:
    path = lander_stats_path(settings)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def session_lines(n: int, dt: str, start: int = 0, tag: str = "s") -> list[str]:
    """``n`` events of day ``dt`` in time order on 40 keys, 80 s apart per key and a 400 s pause after every
    1,000: sessions of about 25 events (the pauses exceed the timeout) that span a batch's kill."""
    lines = []
    for i in range(start, start + n):
        s = i * 2 + (i // 1000) * 400
        ts = f"{dt}T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{i % 1000:03d}Z"
        host = ("www.dataexpert.io", "zachwilson.tech")[i % 2]
        lines.append(json.dumps({"event_time": ts, "ip": f"10.8.{i % 40}.1", "host": host, "url": f"/p{i % 9}",
                                 "event_id": f"{tag}-{dt}-{i}"}))  # fmt: skip
    return lines


def live_lines(n: int, tag: str, span_s: float = 10.0) -> list[str]:
    """``n`` events stamped over the last ``span_s`` seconds, in time order, on 40 keys: live traffic, whose
    sessions continue across a pause shorter than the session timeout."""
    now_ms = int(time.time() * 1000)
    lines = []
    for i in range(n):
        t_ms = now_ms - int(span_s * 1000 * (n - i) / n)
        ts = datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t_ms % 1000:03d}Z"
        host = ("www.dataexpert.io", "zachwilson.tech")[i % 2]
        lines.append(json.dumps({"event_time": ts, "ip": f"10.7.{i % 40}.1", "host": host, "url": f"/p{i % 9}",
                                 "event_id": f"{tag}-{i}"}))  # fmt: skip
    return lines


def publish_sentinels(settings: Settings, tag: str) -> set[str]:
    """Events stamped now on several keys (so on every partition): the speed layer's watermark passes every
    session of the test's (past) day, which closes them all."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    event = {"event_time": now, "host": SENTINEL_HOST, "url": "/"}
    lines = [json.dumps({**event, "ip": f"192.0.2.{i}", "event_id": f"{tag}-{i}"}) for i in range(1, 9)]
    return publish(settings, lines)


def reference_sessions(settings: Settings, lines: list[str]) -> list[dict]:
    """The reference sessionizer's sessions of these events (``comparable`` fields: status aside)."""
    events = []
    for line in lines:
        event = validate(line)
        assert isinstance(event, Event)
        events.append(event)
    sessions = sessionize(events, SessionRule.from_settings(settings))
    return sorted((comparable(s.to_dict()) for s in sessions), key=sort_key)


def speed_sessions(settings: Settings, closed_only: bool = True) -> list[dict]:
    """The sessions in the private HBase table but the sentinels': the closed ones, or all (an open
    session's live record holds every event the job has read so far)."""
    with HBaseSessions(settings) as store:
        rows = store.sessions_table.scan(columns=[b"s:record", b"o:record"])
        sessions = [s for _, columns in rows if (s := session_of_row(columns)) and s.host != SENTINEL_HOST]
    return sorted((comparable(s.to_dict()) for s in sessions if s.status == CLOSED or not closed_only), key=sort_key)
