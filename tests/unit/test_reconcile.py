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


def test_every_difference_is_attributed_to_its_cause() -> None:
    from websessions.reconcile import attribute, with_causes
    from websessions.sessions import OPEN, SessionRule

    rule = SessionRule()
    batch = [
        _session("a.io", "1.1.1.1", 0, 3),  # speed missed an event: counted late there
        _session("a.io", "2.2.2.2", 0, 2),  # speed still holds it open, and longer
        _session("a.io", "4.4.4.4", 0, 2),  # speed counted a copy twice
        _session("a.io", "5.5.5.5", 0, 2),  # nothing explains it
    ]
    open_one = session_from_aggregates("a.io", "2.2.2.2", T0, T0 + 90_000, 3, 1, "/", "/", status=OPEN)
    overlong = session_from_aggregates("a.io", "3.3.3.3", T0, T0 + 3 * 86_400_000, 900, 1, "/", "/")
    speed = [_session("a.io", "1.1.1.1", 0, 2), open_one, overlong, _session("a.io", "4.4.4.4", 0, 3)]
    late = [("a.io", "1.1.1.1", T0 + 30_000), ("a.io", "9.9.9.9", T0)]
    diffs = attribute(speed, batch, late, rule)
    causes = {(d.ip, d.kind): d.cause for d in diffs}
    assert causes == {
        ("1.1.1.1", "event_count"): "late_in_speed",
        ("2.2.2.2", "event_count"): "open_session",
        ("3.3.3.3", "speed_only"): "quarantined",
        ("4.4.4.4", "event_count"): "dedupe",
        ("5.5.5.5", "batch_only"): "unknown",
    }
    results = with_causes(compare(speed, batch), diffs)
    assert results["a.io"].causes == {
        "late_in_speed": 1,
        "open_session": 1,
        "quarantined": 1,
        "dedupe": 1,
        "unknown": 1,
    }


def test_identical_layers_have_no_difference_to_explain() -> None:
    from websessions.reconcile import attribute
    from websessions.sessions import SessionRule

    sessions = [_session("a.io", "1.1.1.1", i * 1000, 3) for i in range(5)]
    assert attribute(sessions, list(sessions), [("a.io", "1.1.1.1", T0)], SessionRule()) == []
