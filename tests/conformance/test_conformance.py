"""One session definition, proved on every engine: each engine × each shared vector gives exactly the
expected sessions, **every field** of the record (:data:`tests.vectors.loader.VECTOR_FIELDS`:
session_id, host, ip, start, end, duration_s, events, pages, first_url, last_url, referrer,
user_agent, geo, errors, status, dt) as that engine computes it.

Engines:

- ``reference-stream``: :class:`websessions.sessionizer.Sessionizer`, events fed in arrival order;
- ``reference-batch``: :func:`websessions.sessionizer.sessionize` over the events in arrival order;
- ``spark``: the batch layer's real transform (:func:`batch.sessions_job.transform`) on local Spark,
  over the events written as the lander writes them (files named by partition and offsets, lines in
  offset order), for every day a session of the case starts on; the records are the day's sessions,
  quarantined ones included (an overlong session is still a session: it must be flagged, not changed);
- ``flink``: the speed layer's real job (the Java operator) on a local mini-cluster, all cases in one
  job; the records are its closed ``session`` rows as :func:`streaming.updates.session_of_update` reads them.

The vectors' rules differ per case (timeouts 1 s, 300 s, 1800 s; lateness 0, 60, 600 s) and no
event of a vector is late, so every engine must give the same sessions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.batch.rawfiles import write_arrival_files
from tests.streaming.flink_job import canonical_events, run_cases
from tests.vectors.loader import VECTOR_FIELDS, Case, every_field, load_cases, sort_key
from websessions.sessionizer import Sessionizer, sessionize
from websessions.sessions import Session

CASES = load_cases()
ENGINES = ("reference-stream", "reference-batch", "spark", "flink")


def reference_stream(case: Case) -> list[dict]:
    sessionizer = Sessionizer(case.rule)
    sessions = [s for e in canonical_events(case) for s in sessionizer.feed(e)]
    sessions.extend(sessionizer.flush())
    assert sessionizer.late == 0, "a vector's events are never late"
    return [s.to_dict() for s in sessions]


def reference_batch(case: Case) -> list[dict]:
    return [s.to_dict() for s in sessionize(canonical_events(case), case.rule)]


def spark_sessions(spark, case: Case, root: Path) -> list[dict]:
    """Every day of the case through the batch transform; each record as Spark computed it."""
    from pyspark.sql import functions as F

    from batch.events import iso_time
    from batch.sessions_job import extract, input_dirs, transform
    from websessions.settings import load_settings

    settings = dataclasses.replace(load_settings(create_secrets=False), raw_events_dir=(root / "web_events").as_uri())
    write_arrival_files(root / "web_events", canonical_events(case))
    c = F.col
    records: list[dict] = []
    for dt in sorted({record["dt"] for record in case.expected}):
        frames = transform(extract(spark, input_dirs(spark, settings, dt)), dt, case.rule)
        rows = frames.day_sessions.select(
            "session_id", "host", "ip", iso_time(c("start_ms")).alias("start"), iso_time(c("end_ms")).alias("end"),
            "duration_s", "events", "pages", "first_url", "last_url", "referrer", "user_agent", "geo", "errors",
            "status", "dt",
        ).collect()  # fmt: skip
        quarantined = {r["session_id"] for r in frames.quarantined_sessions.select("session_id").collect()}
        for row in rows:
            record = row.asDict(recursive=True)
            record["_quarantined"] = record["session_id"] in quarantined
            records.append(record)
    return records


@pytest.fixture(scope="module")
def flink_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    pytest.importorskip("pyflink")
    return run_cases(CASES, Path(tmp_path_factory.mktemp("conformance-flink")))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_gives_every_field_of_the_expected_sessions(engine: str, case: Case, request, tmp_path: Path) -> None:
    if engine == "reference-stream":
        records = reference_stream(case)
    elif engine == "reference-batch":
        records = reference_batch(case)
    elif engine == "spark":
        records = spark_sessions(request.getfixturevalue("conformance_spark"), case, tmp_path)
        overlong = {r["session_id"] for r in case.expected if case.rule.is_overlong(_session(r))}
        assert {r["session_id"] for r in records if r.pop("_quarantined")} == overlong
    else:
        from streaming.updates import session_of_update

        rows = request.getfixturevalue("flink_output")[case.name]
        records = [session_of_update(r).to_dict() for r in rows if r["kind"] == "session"]
    assert all(set(record) == set(VECTOR_FIELDS) for record in records)
    assert sorted((every_field(r) for r in records), key=sort_key) == case.expected


def _session(record: dict) -> Session:
    return Session.from_dict(record)


def test_the_vectors_cover_the_cases_where_engines_differ() -> None:
    """Ties at one millisecond, characters outside the BMP, copies, midnight, overlong sessions, and
    the rule's timeout and lateness at several values."""
    names = {case.name for case in CASES}
    assert {"same_millisecond_ties", "astral_urls", "copies_of_an_event_id", "copies_across_midnight",
            "across_midnight", "overlong_session"} <= names  # fmt: skip
    assert {case.timeout_s for case in CASES} >= {1, 300, 1800}
    assert {case.allowed_lateness_s for case in CASES} >= {0, 60, 600}
    assert any(ord(ch) > 0xFFFF for case in CASES for record in case.expected for ch in record["first_url"])
