"""Speed vs batch comparison: matches by session id, one-sided sessions, event-count drift, threshold."""

from __future__ import annotations

from websessions.reconcile import check, compare
from websessions.sessions import session_from_aggregates

T0 = 1_763_632_800_000  # 2025-11-20T10:00:00Z


def _session(host: str, ip: str, start_offset_s: int, events: int):
    start = T0 + start_offset_s * 1000
    return session_from_aggregates(host, ip, start, start + 60_000, events, 1, "/", "/")


def test_identical_layers_reconcile_with_zero_mismatches() -> None:
    sessions = [_session("a.io", "1.1.1.1", i * 1000, 3) for i in range(5)]
    results = compare(sessions, list(sessions))
    assert results["a.io"].matched == 5
    assert results["a.io"].mismatches == 0
    assert results["a.io"].speed_events == results["a.io"].batch_events == 15
    assert check(results, 0.0) == []


def test_one_sided_sessions_and_event_drift_are_counted_per_host() -> None:
    batch = [_session("a.io", "1.1.1.1", 0, 3), _session("a.io", "1.1.1.2", 0, 2), _session("b.io", "1.1.1.1", 0, 4)]
    speed = [
        _session("a.io", "1.1.1.1", 0, 2),  # matched, one event short (a late event speed missed)
        _session("b.io", "1.1.1.1", 0, 4),  # matched
        _session("b.io", "9.9.9.9", 0, 1),  # speed only
    ]
    results = compare(speed, batch)
    a, b = results["a.io"], results["b.io"]
    assert (a.matched, a.speed_only, a.batch_only, a.event_count_diffs) == (1, 0, 1, 1)
    assert (b.matched, b.speed_only, b.batch_only, b.event_count_diffs) == (1, 1, 0, 0)
    assert a.mismatch_ratio == 1.0
    assert b.mismatch_ratio == 1.0


def test_the_threshold_failure_says_which_host_and_why() -> None:
    batch = [_session("a.io", "1.1.1.1", i * 1000, 1) for i in range(20)]
    speed = batch[:19]
    results = compare(speed, batch)
    assert results["a.io"].mismatch_ratio == 1 / 20
    assert check(results, 0.05) == []
    problems = check(results, 0.01)
    assert problems == [
        "a.io: mismatch ratio 0.050 > 0.01 (speed-only 0, batch-only 1, event-count differences 0, matched 19)"
    ]


def test_a_host_only_the_speed_layer_saw_is_a_full_mismatch() -> None:
    results = compare([_session("new.io", "1.1.1.1", 0, 1)], [])
    assert results["new.io"].mismatch_ratio == 1.0
