"""The speed layer end to end on the real stack: Kafka -> the PyFlink job -> Kafka -> the writer -> HBase.

One scenario (a job start costs ~10-30 s, so the suite starts the job three times in all): the shared
vectors are published through the ingest path on a private topic, into private HBase tables, with
each case moved to a day of its own so cases never share a session. Along the way:

- open sessions appear in HBase while their key is still active (status ``open``);
- the job is stopped (SIGTERM) and started again, then killed with SIGKILL mid-stream and started
  again: it resumes from its last checkpoint;
- malformed records (not JSON; JSON without the required fields) and events older than the watermark
  (beyond the allowed lateness) are published: they are counted and the job keeps running.

How the test ends the windows: after the last case, one event per Kafka partition far in the future
(host ``sentinel.test``) moves every partition's watermark past every session's end + timeout, so all
of them close. The final table (without the helper hosts) must equal the reference sessionizer's
sessions of the same events exactly, every one ``closed``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streaming.runner import read_stats, speed_dir
from tests.integration.datasets import kafka_topics, private_settings, wait_for
from tests.vectors.loader import comparable, load_cases, sort_key
from websessions.background import BackgroundJob
from websessions.clients import kafka
from websessions.events import Event, validate
from websessions.ingest import publish_lines
from websessions.sessionizer import Sessionizer, sessionize
from websessions.sessions import CLOSED, OPEN, Session, SessionRule, is_copy
from websessions.settings import Settings, load_settings
from websessions.stores.hbase_sessions import HBaseSessions, session_of_row

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
HELPER_HOSTS = {"pacer.test", "sentinel.test", "late.test"}


@pytest.fixture
def private(stack) -> Iterator[Settings]:
    """Settings with private topics, HBase tables and checkpoint directory."""
    fields = ("kafka_topic_events", "kafka_topic_session_updates", "hbase_table_sessions", "hbase_table_live_metrics")
    # Checkpoints every 5 s: the restarts below wait for one.
    private = private_settings(stack("kafka", "hbase"), "speed", *fields)
    private = dataclasses.replace(private, speed_checkpoint_interval_s=5)
    with kafka_topics(private, private.kafka_topic_events, private.kafka_topic_session_updates):
        yield private
    with HBaseSessions(private) as store:
        store.drop_tables()
    shutil.rmtree(speed_dir(private), ignore_errors=True)


def close_everything(settings: Settings, events: list[Event]) -> None:
    """One event per partition far past ``events`` (host ``sentinel.test``): every partition's watermark passes
    every session's end + timeout, so all of them close."""
    end_of_time = max(e.event_time_ms for e in events) + 30 * DAY_MS
    produce(settings, lambda p: helper_event("sentinel.test", f"192.0.2.{p}", end_of_time).to_json().encode())


def all_closed(settings: Settings, expected: list[dict]) -> list[dict] | None:
    """The sessions in HBase (``comparable``, sorted) once there are as many as ``expected``, all closed."""
    got = all_sessions(settings)
    if len(got) == len(expected) and all(s.status == CLOSED for s in got):
        return sorted((comparable(s.to_dict()) for s in got), key=sort_key)
    return None


def sessions_of_host(settings: Settings, host: str) -> list[Session]:
    """Every session row (open or closed) of ``host``."""
    with HBaseSessions(settings) as store:
        rows = store.sessions_table.scan(columns=[b"s:record", b"o:record"])
        return [s for _, columns in rows if (s := session_of_row(columns)) and s.host == host]


def entry_point_jars(settings: Settings) -> list[str]:
    """What a cluster has in Flink's ``lib/`` and a local run passes with ``--jars`` (the runner's jars)."""
    from streaming import sessions_job
    from websessions.platform.artifacts import classpath

    client = classpath(settings, "hbase-client")
    jars = [*classpath(settings, "flink-connectors"), sessions_job.operator_jar(settings),
            sessions_job.hbase_sink_jar(settings, client), *client]  # fmt: skip
    return [str(j) for j in jars]


def start_entry_point(settings: Settings, checkpoints: Path, log: Path) -> subprocess.Popen:
    """``streaming/sessions_job.py --sink hbase`` in a local mini-cluster (its own process group), restoring
    the newest checkpoint as the cluster's ``speed-job`` service does (``--fromSavepoint`` there)."""
    from streaming.runner import latest_checkpoint

    restore = latest_checkpoint(checkpoints)
    argv = [sys.executable, "streaming/sessions_job.py", "--sink", "hbase", "--wait", "--checkpoint-dir",
            str(checkpoints), "--jars", *entry_point_jars(settings)]  # fmt: skip
    if restore is not None:
        argv += ["--restore-from", str(restore)]
    env = {**os.environ, **settings.as_env(), "JVM_ARGS": "-Xmx512m -XX:+UseSerialGC", "FLINK_LOG_DIR": str(log)}
    with open(log / "entry-point.out", "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def source_records(settings: Settings) -> int:
    with HBaseSessions(settings) as store:
        sources, _ = store.speed_progress()
    return sum(int(row["records"]) for row in sources.values())


def late_count(settings: Settings) -> int:
    with HBaseSessions(settings) as store:
        return len(store.late_event_offsets())


def test_the_cluster_entry_point_recovers_a_kill_9_from_its_checkpoint(private: Settings, tmp_path: Path) -> None:
    """The cluster's job (``sessions_job.main --sink hbase``, what ``flink run -py`` runs) in a local mini-cluster:
    killed with SIGKILL right after late events were counted and before a checkpoint covered them, restarted
    from its last checkpoint, it loses nothing, closes each session once, and still finds the replayed late
    events late (the watermark floors are in its checkpoint, no file of the runner's)."""
    from streaming.runner import latest_checkpoint

    settings = dataclasses.replace(private, speed_checkpoint_interval_s=20)
    cases = shifted_cases()[:6]
    rule = SessionRule.from_settings(settings)
    everything = [e for case in cases for e in case]
    expected = sorted((comparable(s.to_dict()) for s in sessionize(everything, rule)), key=sort_key)
    checkpoints, log = tmp_path / "checkpoints", tmp_path / "logs"
    log.mkdir()
    with HBaseSessions(settings) as store:
        store.ensure_table()
    job = start_entry_point(settings, checkpoints, log)
    try:
        assert publish_lines(settings, [e.to_json() for case in cases[:3] for e in case]).dead_lettered == 0
        last_day = max(e.event_time_ms for e in cases[2])
        produce(settings, lambda p: helper_event("pacer.test", f"192.0.2.{p}", last_day).to_json().encode())
        phase1 = sum(map(len, cases[:3])) + 2
        wait_for("the entry point to read phase 1", lambda: source_records(settings) >= phase1, 240)
        first = wait_for("a checkpoint after phase 1", lambda: latest_checkpoint(checkpoints), 60, interval_s=0.2)
        late_t = last_day - 2 * rule.allowed_lateness_ms
        produce(settings, lambda p: helper_event("late.test", f"192.0.2.{p}", late_t).to_json().encode())
        publish_lines(settings, [e.to_json() for e in cases[3][: len(cases[3]) // 2]])
        wait_for("the late events to be counted", lambda: late_count(settings) == 2, 60, interval_s=0.2)
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
        replayed = latest_checkpoint(checkpoints) == first  # the late events come again after the restore

        job = start_entry_point(settings, checkpoints, log)
        publish_lines(settings, [e.to_json() for e in cases[3][len(cases[3]) // 2 :]])
        publish_lines(settings, [e.to_json() for case in cases[4:] for e in case])
        close_everything(settings, everything)
        assert wait_for("every session closed in HBase", lambda: all_closed(settings, expected), 300, 1) == expected
        assert late_count(settings) == 2
        assert sessions_of_host(settings, "late.test") == [], f"replayed after the restore: {replayed}"
        assert source_records(settings) == len(everything) + 6  # pacers, late events, sentinels: 2 each
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)


def shifted_cases() -> list[list[Event]]:
    """Each case's events, validated as the ingest path does, case i moved to day ``i - len(cases)``
    (in the past: validation refuses events from the future), so the cases follow each other in time.
    The job runs with the deployment's rule, so the cases of other rules are left to the conformance
    suite (tests/conformance), which runs each case with its own."""
    out = []
    default = SessionRule.from_settings(load_settings(env={}, create_secrets=False))
    cases = [case for case in load_cases() if case.rule == default]
    assert len(cases) >= 10
    for index, case in enumerate(cases):
        events = []
        for raw in case.events:
            event = validate(json.dumps(raw))
            assert isinstance(event, Event)
            event.event_time_ms += (index - len(cases)) * DAY_MS
            events.append(event)
        out.append(events)
    return out


def helper_event(host: str, ip: str, t_ms: int) -> Event:
    event = validate(json.dumps({"event_time": "2026-01-01T00:00:00.000Z", "ip": ip, "host": host, "url": "/"}))
    event.event_time_ms = t_ms
    event.event_id = f"{host}-{ip}-{t_ms}"
    return event


def produce(settings: Settings, values: Callable[[int], bytes], partitions: tuple[int, ...] = (0, 1)) -> None:
    """One raw message per given partition of the events topic, bypassing validation."""
    producer = kafka.producer(settings)
    for partition in partitions:
        producer.produce(settings.kafka_topic_events, value=values(partition), partition=partition)
    assert producer.flush(30) == 0


def all_sessions(settings: Settings) -> list[Session]:
    with HBaseSessions(settings) as store:
        rows = store.sessions_table.scan(columns=[b"s:record", b"o:record"])
        return [s for _, columns in rows if (s := session_of_row(columns)) and s.host not in HELPER_HOSTS]


def job_stats(settings: Settings) -> dict:
    return read_stats(settings) or {}


def test_speed_layer_sessions_equal_the_reference_through_restarts_kill_and_bad_input(private: Settings) -> None:
    cases = shifted_cases()
    rule = SessionRule.from_settings(private)
    everything = [e for case in cases for e in case]
    # The reference: no event here is late in arrival order, so streaming and batch agree.
    streaming = Sessionizer(rule)
    reference = [s for e in everything for s in streaming.feed(e)] + streaming.flush()
    assert streaming.late == 0
    expected = sorted((comparable(s.to_dict()) for s in sessionize(everything, rule)), key=sort_key)
    assert sorted((comparable(s.to_dict()) for s in reference), key=sort_key) == expected

    job = BackgroundJob(private, f"speed-test-{private.kafka_topic_events}", ["speed", "run"], stop_timeout_s=90)
    job.start()
    try:
        # Phase 1: four cases, then malformed records, a pacer per partition, and events behind the watermark.
        assert publish_lines(private, [e.to_json() for case in cases[:4] for e in case]).dead_lettered == 0
        produce(private, lambda p: b'{"ip": "192.0.2.1", "url": "/no-time-no-host"}', partitions=(1,))
        produce(private, lambda p: b"this is {not json", partitions=(0,))
        last_day = max(e.event_time_ms for e in cases[3])
        produce(private, lambda p: helper_event("pacer.test", f"192.0.2.{p}", last_day).to_json().encode())
        phase1 = sum(map(len, cases[:4])) + 3  # decoded rows: the events, the invalid one, the pacers
        wait_for("the pacers to be read", lambda: job_stats(private).get("records", 0) >= phase1, 240)
        # Let a checkpoint cover the pacers: if the stop below replays the late events, the restored job
        # must still see them behind the watermark (Flink does not checkpoint watermarks; the classifier keeps
        # each partition's watermark at the barrier in its operator state).
        time.sleep(private.speed_checkpoint_interval_s + 2)
        late_t = last_day - 2 * rule.allowed_lateness_ms
        produce(private, lambda p: helper_event("late.test", f"192.0.2.{p}", late_t).to_json().encode())
        wait_for("the late events to be counted", lambda: job_stats(private).get("late") == 2, 60)

        # Live: the last case's key has an open session ending at its latest event.
        probe = cases[3][-1]

        def probe_open() -> Session | None:
            with HBaseSessions(private) as store:
                recent = store.recent(probe.ip, probe.host, limit=5)
            return next((s for s in recent if s.status == OPEN and s.end_ms == probe.event_time_ms), None)

        so_far = [e for case in cases[:4] for e in case if (e.ip, e.host) == (probe.ip, probe.host)]
        want = next(s for s in sessionize(so_far, rule) if s.end_ms == probe.event_time_ms)
        assert wait_for("an open session in HBase", probe_open, 60, interval_s=0.2).events == want.events

        # Phase 2 across a clean stop and start.
        assert job.stop()
        job.start()
        publish_lines(private, [e.to_json() for case in cases[4:8] for e in case])
        phase2 = sum(map(len, cases[:8])) + 5  # and the two late events
        wait_for("phase 2 to be read", lambda: job_stats(private).get("records", 0) >= phase2, 240)

        # Phase 3 across a SIGKILL of the whole process group (the job's JVM included).
        publish_lines(private, [e.to_json() for e in cases[8][: len(cases[8]) // 2]])
        time.sleep(3)
        pid = job.pid()
        os.killpg(pid, signal.SIGKILL)
        wait_for("the killed job to be gone", lambda: job.pid() is None, 30)
        job.start()
        publish_lines(private, [e.to_json() for e in cases[8][len(cases[8]) // 2 :]])
        publish_lines(private, [e.to_json() for case in cases[9:] for e in case])
        close_everything(private, everything)
        final = wait_for("every expected session to be closed in HBase", lambda: all_closed(private, expected), 300, 1)
        assert final == expected

        stats = wait_for("the counters", lambda: (s := job_stats(private)).get("late") == 2 and s, 60)
        assert stats["job_status"] == "RUNNING"
        assert (stats["late"], stats["invalid"], stats["undecodable"]) == (2, 1, 1)
        # Late events are counted, never sessionized, also when a restored job replays them.
        assert sessions_of_host(private, "late.test") == []

        # Live metrics: each host's events per minute, counting what the sessions count (a copy of an event
        # id within the timeout of a counted one is not counted: websessions.sessions.is_copy).
        per_minute: dict[tuple[str, int], int] = defaultdict(int)
        counted: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for e in everything:  # arrival order
            times = counted[(e.ip, e.host, e.event_id)]
            if not is_copy(times, e.event_time_ms, rule):
                times.append(e.event_time_ms)
                per_minute[(e.host, e.event_time_ms // 60_000)] += 1
        with HBaseSessions(private) as store:
            metrics = {
                (m.host, m.minute): m.events for host in {h for h, _ in per_minute} for m in store.minute_metrics(host)
            }
        assert metrics == dict(per_minute)
    finally:
        job.stop()
