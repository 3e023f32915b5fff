"""The speed layer's job on the shared vectors: what only the stream has (no services: a local Flink).

Its closed sessions are compared field for field with the reference and Spark by the conformance suite
(``tests/conformance/``); here: the live view (open and drop rows), that each session closes once, and
the live metrics. House style runs a job's transform "in batch mode on fromValues rows"; the session
operator keeps event-time state and timers, so the job runs in streaming mode over bounded sources
(:mod:`tests.streaming.flink_job`). The live view is emitted on every event here (emit interval 0), so
the last open record of each surviving row is the whole session.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from streaming.updates import session_of_update
from tests.streaming.flink_job import canonical_events, run_cases
from tests.vectors.loader import Case, every_field, load_cases, sort_key
from websessions.sessions import OPEN, is_copy

pytest.importorskip("pyflink")

CASES = load_cases()


def open_record(record: dict) -> dict:
    """An expected (closed) record as the live view shows it while the session is open."""
    return {**record, "status": OPEN}


@pytest.fixture(scope="module")
def job_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """case name -> the job's update rows in the order they were emitted, from one run over all cases."""
    return run_cases(CASES, Path(tmp_path_factory.mktemp("speed-vectors")))


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
    assert sorted((every_field(s.to_dict()) for s in sessions), key=sort_key) == [open_record(r) for r in case.expected]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_session_is_closed_once(case: Case, job_output: dict[str, list[dict]]) -> None:
    closed = [r["ukey"] for r in job_output[case.name] if r["kind"] == "session"]
    assert len(closed) == len(set(closed)) == len(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_live_metrics_count_each_event_once_per_host_and_minute(case: Case, job_output: dict[str, list[dict]]) -> None:
    """Counted as the sessions count (the dedupe rule: a copy does not count), summed per host and minute."""
    counted: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    expected_events: dict[tuple[str, int], int] = defaultdict(int)
    expected_users: dict[tuple[str, int], set[str]] = defaultdict(set)
    expected_errors: dict[tuple[str, int], int] = defaultdict(int)
    for e in canonical_events(case):
        times = counted[(e.ip, e.host, e.event_id)]
        if is_copy(times, e.event_time_ms, case.rule):
            continue
        times.append(e.event_time_ms)
        key = (e.host, e.event_time_ms // 60_000)
        expected_events[key] += 1
        expected_users[key].add(e.ip)
        expected_errors[key] += e.is_error
    rows = [r for r in job_output[case.name] if r["kind"] == "metric"]
    got = {(r["host"], r["bucket"]): (r["events"], r["users"], r["errors"]) for r in rows}  # the newest sums
    expected = {k: (n, len(expected_users[k]), expected_errors[k]) for k, n in expected_events.items()}
    assert got == expected
