"""The JVM HBase sink (``streaming/java-hbase``, Flink's Sink API around ``BufferedMutator``) against the
real HBase: the rows it writes are the rows the Python writer writes (byte for byte, the reference's
sessions), and it flushes its buffer before a checkpoint completes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streaming import sessions_job
from tests.integration.datasets import kafka_topics, private_settings, wait_for
from tests.integration.test_speed import shifted_cases
from websessions.events import Event
from websessions.ingest import publish_lines
from websessions.platform.artifacts import classpath
from websessions.sessionizer import sessionize
from websessions.sessions import SessionRule, is_copy
from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions, MinuteMetrics, metric_key, row_key

pytestmark = pytest.mark.integration


@pytest.fixture
def private(stack) -> Iterator[Settings]:
    fields = ("kafka_topic_events", "hbase_table_sessions", "hbase_table_live_metrics")
    settings = private_settings(stack("kafka", "hbase"), "hbsink", *fields)
    with HBaseSessions(settings) as store:
        store.ensure_table()
    yield settings
    with HBaseSessions(settings) as store:
        store.drop_tables()


def job_environment(settings: Settings, checkpoint_dir: Path | None = None):
    client = classpath(settings, "hbase-client")
    jars = [
        *classpath(settings, "flink-connectors"),
        sessions_job.operator_jar(settings),
        sessions_job.hbase_sink_jar(settings, client),
        *client,
    ]
    t_env = sessions_job.stream_table_environment()
    sessions_job.configure(t_env, settings, jars, checkpoint_dir)
    return t_env


def python_writer_metric_cells(events: list[Event], rule: SessionRule) -> dict[bytes, dict[bytes, bytes]]:
    """The live metric rows the Python writer writes for these events (what the sessions count, per host and
    minute: events, distinct ips, errors; ``SessionWriter.put_metrics``'s cells)."""
    counted: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    minutes: dict[tuple[str, int], list] = defaultdict(lambda: [0, set(), 0])
    for e in events:
        times = counted[(e.ip, e.host, e.event_id)]
        if is_copy(times, e.event_time_ms, rule):
            continue
        times.append(e.event_time_ms)
        m = minutes[(e.host, e.event_time_ms // 60_000)]
        m[0] += 1
        m[1].add(e.ip)
        m[2] += e.status is not None and e.status >= 400
    cells = {}
    for (host, minute), (n, ips, errors) in minutes.items():
        metrics = MinuteMetrics(host, minute, n, len(ips), errors)
        cells[metric_key(host, minute)] = {
            b"m:events": str(metrics.events).encode(),
            b"m:active_users": str(metrics.active_users).encode(),
            b"m:errors": str(metrics.errors).encode(),
            b"m:error_rate": f"{metrics.error_rate:.6f}".encode(),
        }
    return cells


def test_the_jvm_sink_writes_the_python_writers_rows_for_every_shared_case(private: Settings, tmp_path: Path) -> None:
    rule = SessionRule.from_settings(private)
    events = [e for case in shifted_cases() for e in case]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in events), encoding="utf-8")

    t_env = job_environment(private)
    updates = sessions_job.speed_updates(
        sessions_job.file_source(t_env, path, rule), rule, emit_interval_ms=0, kafka_metadata=False
    )
    job = sessions_job.execute_to_hbase(updates, sessions_job.hbase_sink(private), "hbase sink test")
    job.get_job_execution_result().result()  # bounded: at the end every session closes

    with HBaseSessions(private) as store:
        rows = dict(store.sessions_table.scan())
        metric_rows = dict(store.metrics_table.scan())
    expected = {row_key(s.host, s.ip, s.start_ms): s for s in sessionize(events, rule)}
    assert set(rows) == set(expected)
    for key, cells in rows.items():
        session = expected[key]
        # Exactly the cells of SessionWriter.put_closed (and its delete of the live view: no o:record left).
        assert cells == {
            b"s:record": orjson.dumps(session.to_dict()),
            b"s:dt": session.dt.encode(),
            b"s:session_id": session.session_id.encode(),
        }, key
    assert metric_rows == python_writer_metric_cells(events, rule)


def test_the_sink_flushes_its_buffer_before_a_checkpoint_completes(private: Settings, tmp_path: Path) -> None:
    """With a periodic flush of an hour, rows reach HBase only through the flush before each checkpoint."""
    settings = dataclasses.replace(private, speed_checkpoint_interval_s=2, speed_emit_interval_ms=100)
    rule = SessionRule.from_settings(settings)
    events = [e for case in shifted_cases()[:3] for e in case]
    with kafka_topics(settings, settings.kafka_topic_events):
        publish_lines(settings, [e.to_json() for e in events])
        checkpoints = tmp_path / "checkpoints"
        t_env = job_environment(settings, checkpoints)
        raw = sessions_job.kafka_source(t_env, settings, rule, f"hbsink-{settings.kafka_topic_events}")
        updates = sessions_job.speed_updates(raw, rule, settings.speed_emit_interval_ms)
        sink = sessions_job.hbase_sink(settings, flush_interval_ms=3_600_000)
        job = sessions_job.execute_to_hbase(updates, sink, "hbase sink checkpoint test")
        try:
            keys = {(e.host, e.ip) for e in events}  # row keys start with host|ip

            def every_key_written() -> bool:
                with HBaseSessions(settings) as store:
                    rows = list(store.sessions_table.scan(columns=[b"s:record", b"o:record"]))
                return {tuple(k.decode().split("|")[:2]) for k, _ in rows} == keys

            started = time.monotonic()
            wait_for("a row of every key in HBase", every_key_written, 120)
            assert time.monotonic() - started < 600  # far sooner than the periodic flush
            completed = sorted(checkpoints.glob("*/chk-*/_metadata"))
            assert completed, "rows reached HBase although no checkpoint had completed"
            with HBaseSessions(settings) as store:  # the last case's sessions are still open (live rows)
                live = [json.loads(c[b"o:record"]) for _, c in store.sessions_table.scan(columns=[b"o:record"])]
            assert live and all(r["status"] == "open" for r in live)
        finally:
            job.cancel().result()


def test_a_failed_hbase_write_fails_the_job(private: Settings, tmp_path: Path) -> None:
    """Writes HBase refuses (here: a sessions table that does not exist) are rethrown: the job fails, it does
    not drop the rows and carry on."""
    rule = SessionRule.from_settings(private)
    events = shifted_cases()[0]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in events), encoding="utf-8")
    missing = dataclasses.replace(private, hbase_table_sessions=f"{private.hbase_table_sessions}_missing")
    t_env = job_environment(missing)
    updates = sessions_job.speed_updates(
        sessions_job.file_source(t_env, path, rule), rule, emit_interval_ms=0, kafka_metadata=False
    )
    job = sessions_job.execute_to_hbase(updates, sessions_job.hbase_sink(missing), "hbase sink failure test")
    with pytest.raises(Exception, match="TableNotFoundException|writing the speed layer's rows failed"):
        job.get_job_execution_result().result()
