"""The DataStream path (``SpeedStream``: the Jackson decoder, the classifier chained to the source, the session
operator, the update rows) against the SQL path it replaces, on the same inputs in one local Flink (no services).

The SQL path is the specification here: its JSON format, classification and results pass the conformance suite
(``tests/conformance/``) and the streaming tests, so the new path must give the same update rows, row for row:
every shared vector, and records the decoder must treat exactly as the SQL JSON format does (not JSON, not an
object, numbers and objects where text is expected, a status as text, missing fields, broken times).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.streaming.flink_job import canonical_events
from tests.vectors.loader import load_cases
from websessions.sessions import SessionRule

pytest.importorskip("pyflink")

FIELDS = ("kind", "host", "ip", "t_start", "t_end", "bucket", "events", "pages", "errors", "users", "first_url",
          "last_url", "referrer", "user_agent", "geo")  # fmt: skip
RULE = SessionRule(timeout_ms=1_800_000, allowed_lateness_ms=60_000)

# Records where a decoder can differ from the SQL JSON format (one per line; host names them).
TRICKY = [
    "not json at all",
    "[1, 2, 3]",
    '"a string"',
    "",
    '{"event_id": "e1", "event_time": "2026-01-05T10:00:00.000Z", "ip": "1.1.1.1", "host": "ok.test", "url": "/a",'
    ' "status": 200, "referrer": null, "user_agent": "ua", "geo": "FR", "extra": {"nested": [1, {"x": 2}]}}',
    '{"event_id": "e2", "event_time": "2026-01-05T10:00:01.000Z", "ip": "1.1.1.1", "host": "ok.test", "url": "/b",'
    ' "status": "404"}',
    '{"event_id": "e3", "event_time": "2026-01-05T10:00:02.000Z", "ip": "1.1.1.1", "host": "ok.test", "url": "/c",'
    ' "status": 500.7}',
    '{"event_id": "e4", "event_time": "2026-01-05T10:00:03.000Z", "ip": "1.1.1.1", "host": "text-status.test",'
    ' "url": "/d", "status": "abc"}',
    '{"event_id": "e5", "event_time": "2026-01-05T10:00:04.000Z", "ip": "2.2.2.2", "host": "types.test", "url": 42,'
    ' "referrer": true, "user_agent": {"b": [1, "x"]}, "geo": 1.5e3, "status": 301}',
    '{"event_id": "e6", "event_time": "2026-01-05T10:00:05.000Z", "ip": "2.2.2.2", "host": "types.test",'
    ' "url": "/\\u00e9\\ud83d\\ude00", "status": null, "status": 200}',
    '{"event_time": "2026-01-05T10:00:06.000Z", "ip": "3.3.3.3", "host": "missing.test", "url": "/x"}',
    '{"event_id": "e8", "event_time": "2026-01-05 10:00:07", "ip": "3.3.3.3", "host": "badtime.test", "url": "/x"}',
    '{"event_id": "e9", "event_time": "2026-01-05T10:00:08.000+01:00", "ip": "3.3.3.3", "host": "badtime.test",'
    ' "url": "/x"}',
    '{"event_id": "e10", "event_time": "2026-13-05T10:00:08.000Z", "ip": "3.3.3.3", "host": "badtime.test",'
    ' "url": "/x"}',
    '{"event_id": "e11", "event_time": "2026-01-05T10:00:09.000Z", "ip": "3.3.3.3", "host": "trailing.test",'
    ' "url": "/x"} trailing',
    '{"event_id": "e12", "event_time": "2026-01-05T10:00:10.000Z", "ip": "3.3.3.3", "host": "truncated.test"',
    '{"event_id": "e13", "event_time": "2026-01-05T10:00:11.000Z", "ip": "4.4.4.4", "host": "big.test",'
    ' "url": "/x", "status": 99999999999}',
    '{"event_id": "e14", "event_time": "2026-01-05T10:00:12.000Z", "ip": "4.4.4.4", "host": "big.test",'
    ' "url": "/y", "status": [500], "ip": "5.5.5.5"}',
    '{"event_id": "e15", "event_time": "2026-01-05T10:00:13.000Z", "ip": "4.4.4.4", "host": "big.test",'
    ' "url": "/z", "status": "  503 "}',
]


def both_paths(inputs: list[tuple[Path, SessionRule]]) -> tuple[Counter, Counter]:
    """The update rows of the SQL path and of the DataStream path over each (file, rule), as multisets of
    :data:`FIELDS` tuples (emit interval 0: every change is a row; parallelism 1)."""
    from py4j.java_gateway import JavaObject
    from pyflink.common import RowKind
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    from streaming import sessions_job
    from websessions.platform.artifacts import classpath
    from websessions.settings import load_settings

    settings = load_settings(create_secrets=False)
    caps = sessions_job.StateCaps.from_settings(settings)
    t_env = sessions_job.stream_table_environment()
    jars = [*classpath(settings, "flink-connectors"), sessions_job.operator_jar(settings)]
    sessions_job.configure(t_env, settings, jars=jars, checkpoint_dir=None)
    t_env.get_config().set("parallelism.default", "1")
    sql_rows: Counter = Counter()
    tables = []
    for i, (path, rule) in enumerate(inputs):
        raw = sessions_job.file_source(t_env, path, rule, name=f"sql_events_{i}")
        tables.append(sessions_job.speed_updates(raw, rule, emit_interval_ms=0, kafka_metadata=False, caps=caps))
    union = tables[0]
    for table in tables[1:]:
        union = union.union_all(table)
    names = [name for name, _ in sessions_job.UPDATE_COLUMNS]
    with union.execute().collect() as rows:
        for row in rows:
            if row.get_row_kind() != RowKind.UPDATE_BEFORE:
                record = dict(zip(names, row, strict=True))
                sql_rows[tuple(record[f] for f in FIELDS)] += 1
    streams: list[JavaObject] = []
    for i, (path, rule) in enumerate(inputs):
        events = sessions_job.file_events(t_env, path, rule)
        streams.append(sessions_job.stream_updates(events, rule, 0, caps, kafka_metadata=False, uid_prefix=f"{i}-"))
    stream = streams[0]
    if len(streams) > 1:
        gateway = get_gateway()
        rest = gateway.new_array(gateway.jvm.org.apache.flink.streaming.api.datastream.DataStream, len(streams) - 1)
        for i, other in enumerate(streams[1:]):
            rest[i] = other
        stream = stream.union(rest)
    stream_rows: Counter = Counter()
    with DataStream(stream).execute_and_collect() as rows:
        for row in rows:
            record = dict(zip(names, row, strict=True))
            stream_rows[tuple(record[f] for f in FIELDS)] += 1
    return sql_rows, stream_rows


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Counter, Counter]]:
    directory = Path(tmp_path_factory.mktemp("stream-path"))
    cases = load_cases()
    inputs = []
    for case in cases:
        path = directory / f"{case.name}.jsonl"
        path.write_text("".join(e.to_json() + "\n" for e in canonical_events(case)), encoding="utf-8")
        inputs.append((path, case.rule))
    tricky = directory / "tricky.jsonl"
    tricky.write_text("\n".join(TRICKY) + "\n", encoding="utf-8")
    vectors = both_paths(inputs)
    return {"vectors": vectors, "tricky": both_paths([(tricky, RULE)])}


def test_the_stream_path_gives_the_sql_paths_rows_for_every_shared_vector(results) -> None:
    sql_rows, stream_rows = results["vectors"]
    assert sum(sql_rows.values()) > 100
    assert {k for k, n in sql_rows.items() if k[0] == "session"}  # closed sessions are compared too
    assert stream_rows == sql_rows


def test_the_decoder_reads_and_rejects_what_the_sql_json_format_does(results) -> None:
    sql_rows, stream_rows = results["tricky"]
    sessions = {k[1]: k for k in sql_rows if k[0] == "session"}
    # the records with odd values are decoded at all (an unreadable status is NULL, not a lost record)
    assert {"ok.test", "types.test", "text-status.test", "big.test"} <= set(sessions)
    assert stream_rows == sql_rows


def test_a_canonical_time_is_the_only_one_read() -> None:
    assert json.loads('"2026-01-05T10:00:00.000Z"')  # the canonical form the tricky records vary
    hosts = {json.loads(line)["host"] for line in TRICKY[10:14]}
    assert hosts == {"missing.test", "badtime.test"}
