"""The speed layer's job on the shared vectors (no services: a local Flink in this process).

House style runs a job's transform "in batch mode on fromValues rows". The session operator keeps
event-time state and timers and the metrics use windows, so the test runs the same functions in
streaming mode over a bounded source: each case's events, in arrival order, as a JSON-lines file read
by the job's own source definition (same JSON decoding, event-time column and watermark). At the end of
a bounded input Flink's watermark jumps to the end of time, which closes every session, so the closed
sessions must equal the expected sessions exactly. The live view is emitted on every event here
(emit interval 0), so the last open record of each surviving row is the whole session as well.

All cases run as one job (one pipeline per case, unioned) to pay the ~10 s job start once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from streaming import sessions_job
from streaming.updates import session_of_update
from tests.vectors.loader import Case, comparable, load_cases, sort_key
from websessions.events import Event, validate
from websessions.sessions import OPEN, SessionRule

pytest.importorskip("pyflink")

CASES = load_cases()


def rule_of(case: Case) -> SessionRule:
    return SessionRule(timeout_ms=case.timeout_s * 1000, allowed_lateness_ms=case.allowed_lateness_s * 1000)


def canonical_events(case: Case) -> list[Event]:
    """The case's events as the ingest path puts them on Kafka (validated, canonical)."""
    events = []
    for raw in case.events:
        outcome = validate(json.dumps(raw))
        assert isinstance(outcome, Event), outcome
        events.append(outcome)
    return events


@pytest.fixture(scope="module")
def job_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """case name -> the job's update rows in the order they were emitted, from one run over all cases."""
    from pyflink.common import RowKind

    from websessions.settings import load_settings

    settings = load_settings(create_secrets=False)
    t_env = sessions_job.stream_table_environment()
    sessions_job.configure(t_env, settings, jars=[sessions_job.operator_jar(settings)], checkpoint_dir=None)
    t_env.get_config().set("parallelism.default", "1")
    directory = tmp_path_factory.mktemp("speed-vectors")
    per_case = []
    for i, case in enumerate(CASES):
        path = Path(directory) / f"{case.name}.jsonl"
        path.write_text("".join(e.to_json() + "\n" for e in canonical_events(case)), encoding="utf-8")
        rule = rule_of(case)
        raw = sessions_job.file_source(t_env, path, rule, name=f"events_{i}")
        updates = sessions_job.speed_updates(raw, rule, emit_interval_ms=0, kafka_metadata=False)
        per_case.append(sessions_job._sql(updates, f"SELECT '{case.name}' AS case_name, * FROM {updates}"))
    union = per_case[0]
    for table in per_case[1:]:
        union = union.union_all(table)
    names = ["case_name"] + [name for name, _ in sessions_job.UPDATE_COLUMNS]
    emitted: dict[str, list[dict]] = defaultdict(list)
    with union.execute().collect() as rows:
        for row in rows:
            if row.get_row_kind() == RowKind.UPDATE_BEFORE:  # the metric sums retract their previous value
                continue
            assert row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER)
            record = dict(zip(names, row, strict=True))
            emitted[record["case_name"]].append(record)
    return dict(emitted)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_closed_sessions_equal_the_expected_sessions_exactly(case: Case, job_output: dict[str, list[dict]]) -> None:
    got = [session_of_update(r) for r in job_output[case.name] if r["kind"] == "session"]
    assert sorted((comparable(s.to_dict()) for s in got), key=sort_key) == case.expected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_live_view_leaves_exactly_the_expected_sessions_open(case: Case, job_output: dict[str, list[dict]]) -> None:
    """The live rows as HBase would hold them before anything closes: the newest open or drop row per
    session start; merged-away starts must have been dropped, the rest must be the whole sessions."""
    live: dict[str, dict] = {}
    for row in job_output[case.name]:
        if row["kind"] in ("open", "drop"):
            live[row["ukey"]] = row
    sessions = [session_of_update(r) for r in live.values() if r["kind"] == "open"]
    assert {s.status for s in sessions} <= {OPEN}
    assert sorted((comparable(s.to_dict()) for s in sessions), key=sort_key) == case.expected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_session_is_closed_once(case: Case, job_output: dict[str, list[dict]]) -> None:
    closed = [r["ukey"] for r in job_output[case.name] if r["kind"] == "session"]
    assert len(closed) == len(set(closed)) == len(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_live_metrics_count_each_event_once_per_host_and_minute(case: Case, job_output: dict[str, list[dict]]) -> None:
    expected_events: dict[tuple[str, int], set[str]] = defaultdict(set)
    expected_users: dict[tuple[str, int], set[str]] = defaultdict(set)
    expected_errors: dict[tuple[str, int], set[str]] = defaultdict(set)
    for e in canonical_events(case):
        key = (e.host, e.event_time_ms // 60_000)
        expected_events[key].add(e.event_id)
        expected_users[key].add(e.ip)
        if e.is_error:
            expected_errors[key].add(e.event_id)
    rows = [r for r in job_output[case.name] if r["kind"] == "metric"]
    got = {(r["host"], r["bucket"]): (r["events"], r["users"], r["errors"]) for r in rows}  # the newest sums
    expected = {k: (len(v), len(expected_users[k]), len(expected_errors[k])) for k, v in expected_events.items()}
    assert got == expected
