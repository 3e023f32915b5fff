"""The session rule and the reference sessionizer: shared vectors, boundaries, lateness, properties."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

import pytest

from tests.vectors.loader import Case, every_field, load_cases, sort_key
from websessions.cli import main
from websessions.events import Event, format_time_ms, parse_event
from websessions.sessionizer import Sessionizer, sessionize, sessionize_jsonl
from websessions.sessions import (
    Session,
    SessionRule,
    session_from_aggregates,
    session_id,
)
from websessions.settings import Settings

T0 = 1_795_168_800_000  # 2026-11-20T10:00:00.000Z
RULE = SessionRule(timeout_ms=300_000, allowed_lateness_ms=60_000)
CASES = load_cases()


def _ev(t_ms: int, ip: str = "203.0.113.1", host: str = "h.io", url: str = "/", event_id: str | None = None,
        status: int | None = None) -> Event:  # fmt: skip
    return Event(event_id or f"{ip}-{host}-{t_ms}-{url}", t_ms, ip, host, url, status=status)


def _rule(case: Case) -> SessionRule:
    return case.rule


def _stream(events: list[Event], rule: SessionRule) -> tuple[list[Session], Sessionizer]:
    sessionizer = Sessionizer(rule)
    out = [s for e in events for s in sessionizer.feed(e)]
    out.extend(sessionizer.flush())
    return out, sessionizer


def _records(sessions: list[Session]) -> list[dict]:
    return sorted((every_field(s.to_dict()) for s in sessions), key=sort_key)


def test_vectors_are_present() -> None:
    names = {case.name for case in CASES}
    assert {"gap_exactly_timeout", "gap_timeout_plus_1ms", "late_event_bridges_sessions", "many_keys"} <= names
    assert all(case.events and case.expected for case in CASES)
    assert sum(len(case.expected) for case in CASES if case.name == "many_keys") >= 200


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_streaming_sessionizer_matches_vector(case: Case) -> None:
    events = [parse_event(raw) for raw in case.events]
    sessions, sessionizer = _stream(events, _rule(case))
    assert _records(sessions) == case.expected
    assert sessionizer.late == 0
    assert all(s.status == "closed" for s in sessions)


def _interleave_keeping_copies_in_order(events: list[Event], seed: int) -> list[Event]:
    """A random order of ``events`` in which the copies of each (ip, host, event_id) keep their order:
    the only order the dedupe rule depends on (the first copy to arrive wins)."""
    rng = random.Random(seed)
    slots = list(range(len(events)))
    rng.shuffle(slots)
    by_identity: dict[tuple[str, str, str], list[int]] = {}
    for position, event in enumerate(events):
        by_identity.setdefault((event.ip, event.host, event.event_id), []).append(position)
    order: dict[int, int] = {}
    for positions in by_identity.values():
        for position, slot in zip(positions, sorted(slots[p] for p in positions), strict=True):
            order[position] = slot
    return [events[p] for p in sorted(range(len(events)), key=order.__getitem__)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_batch_sessionize_matches_vector_in_any_order_that_keeps_copies_in_arrival_order(case: Case) -> None:
    events = [parse_event(raw) for raw in case.events]
    assert _records(sessionize(events, _rule(case))) == case.expected
    assert _records(sessionize(_interleave_keeping_copies_in_order(events, 7), _rule(case))) == case.expected


@pytest.mark.parametrize(("gap_ms", "sessions"), [(299_999, 1), (300_000, 1), (300_001, 2)])
def test_only_a_gap_greater_than_the_timeout_starts_a_session(gap_ms: int, sessions: int) -> None:
    events = [_ev(T0), _ev(T0 + gap_ms)]
    assert len(sessionize(events, RULE)) == sessions
    assert len(_stream(events, RULE)[0]) == sessions


def test_session_record_fields() -> None:
    events = [
        _ev(T0 + 5_000, url="/b", status=500),
        _ev(T0, url="/a"),
        _ev(T0 + 9_000, url="/a", status=404),
        _ev(T0 + 7_000, url="/c", status=200),
    ]
    (session,) = sessionize(events, RULE)
    assert (session.start, session.end, session.duration_s) == (
        "2026-11-20T10:00:00.000Z",
        "2026-11-20T10:00:09.000Z",
        9.0,
    )
    assert (session.events, session.pages, session.errors) == (4, 3, 2)
    assert (session.first_url, session.last_url, session.dt, session.status) == ("/a", "/a", "2026-11-20", "closed")
    assert session.session_id == session_id("h.io", "203.0.113.1", T0)


def test_session_belongs_to_the_date_it_starts_on() -> None:
    midnight = 1_795_219_200_000  # 2026-11-21T00:00:00.000Z
    (session,) = sessionize([_ev(midnight - 1_000), _ev(midnight + 200_000)], RULE)
    assert session.dt == "2026-11-20"
    assert session.to_dict()["end"] == "2026-11-21T00:03:20.000Z"


def test_session_id_is_pinned_for_the_engines() -> None:
    expected = hashlib.sha1(b"www.dataexpert.io|203.0.113.7|1795168800000").hexdigest()[:20]
    assert session_id("www.dataexpert.io", "203.0.113.7", T0) == expected == "f961fd942c66ee61d126"
    assert session_id("www.dataexpert.io", "203.0.113.7", T0 + 1) != expected


def test_rule_from_settings() -> None:
    rule = SessionRule.from_settings(Settings(session_timeout_s=120, allowed_lateness_s=30, max_session_days=3))
    assert (rule.timeout_ms, rule.allowed_lateness_ms, rule.max_session_days) == (120_000, 30_000, 3)
    assert SessionRule.from_settings(Settings()).timeout_ms == 300_000
    with pytest.raises(ValueError):
        SessionRule(timeout_ms=0)


def test_session_from_engine_aggregates() -> None:
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    session = session_from_aggregates(
        "h.io", "203.0.113.1", start, T0 + 61_500, 3, 2, "/a", "/b",
        "https://r/", "ua", 1, {"country": "US"}, "open",
    )  # fmt: skip
    assert (session.start_ms, session.end_ms, session.duration_s, session.status) == (T0, T0 + 61_500, 61.5, "open")
    assert session.session_id == session_id("h.io", "203.0.113.1", T0)
    naive = session_from_aggregates("h.io", "203.0.113.1", start.replace(tzinfo=None), T0, 1, 1, "/a", "/a")
    assert naive.start_ms == T0
    assert Session.from_dict(session.to_dict()) == session
    with pytest.raises(ValueError):
        session_from_aggregates("h.io", "203.0.113.1", T0, T0 - 1, 1, 1, "/a", "/a")
    with pytest.raises(ValueError):
        session_from_aggregates("h.io", "203.0.113.1", T0, T0, 1, 1, "/a", "/a", status="done")


def test_overlong_sessions_are_flagged_for_quarantine() -> None:
    rule = SessionRule(max_session_days=1)
    day = 86_400_000
    assert not rule.is_overlong(session_from_aggregates("h", "1.1.1.1", T0, T0 + day, 2, 1, "/", "/"))
    assert rule.is_overlong(session_from_aggregates("h", "1.1.1.1", T0, T0 + day + 1, 2, 1, "/", "/"))


def test_late_bridging_event_merges_two_open_sessions() -> None:
    sessionizer = Sessionizer(RULE)
    assert sessionizer.feed(_ev(T0, url="/a")) == []
    assert sessionizer.feed(_ev(T0 + 350_000, url="/b")) == []
    assert [(s.start_ms, s.status) for s in sessionizer.open_sessions()] == [(T0, "open"), (T0 + 350_000, "open")]
    assert sessionizer.feed(_ev(T0 + 300_000, url="/bridge")) == []
    (merged,) = sessionizer.open_sessions()
    assert (merged.start_ms, merged.end_ms, merged.events, merged.first_url, merged.last_url) == (
        T0,
        T0 + 350_000,
        3,
        "/a",
        "/b",
    )
    assert sessionizer.late == 0


def test_event_older_than_the_watermark_is_counted_late_not_sessionized() -> None:
    sessionizer = Sessionizer(RULE)
    sessionizer.feed(_ev(T0 + 100_000))
    assert sessionizer.watermark_ms == T0 + 40_000
    sessionizer.feed(_ev(T0 + 40_000, url="/at-watermark"))  # exactly the watermark: accepted
    sessionizer.feed(_ev(T0 + 39_999, url="/late"))
    assert (sessionizer.late, sessionizer.sessionized) == (1, 2)
    (session,) = sessionizer.flush()
    assert session.events == 2 and session.first_url == "/at-watermark"


def test_session_closes_only_once_the_watermark_passes_end_plus_timeout() -> None:
    sessionizer = Sessionizer(RULE)
    sessionizer.feed(_ev(T0, ip="10.0.0.1"))
    # watermark = t - 60 s; the session closes when watermark > T0 + 300 s
    assert sessionizer.feed(_ev(T0 + 360_000, ip="10.0.0.2")) == []
    assert len(sessionizer.open_sessions()) == 2
    (closed,) = sessionizer.feed(_ev(T0 + 360_001, ip="10.0.0.2"))
    assert (closed.ip, closed.status, closed.start_ms) == ("10.0.0.1", "closed", T0)
    assert sessionizer.sessions_out == 1


def test_duplicate_event_id_counts_once_per_key() -> None:
    sessionizer = Sessionizer(RULE)
    sessionizer.feed(_ev(T0, event_id="x"))
    sessionizer.feed(_ev(T0 + 1_000, event_id="x"))
    sessionizer.feed(_ev(T0 + 2_000, event_id="x", host="other.io"))
    assert sessionizer.duplicates == 1
    sessions = sessionizer.flush()
    assert sorted((s.host, s.events) for s in sessions) == [("h.io", 1), ("other.io", 1)]


def _both_modes(events: list[Event], rule: SessionRule = RULE) -> list[Session]:
    """The sessions of ``events`` (in arrival order) by the streaming and the batch mode, which must agree."""
    streamed, sessionizer = _stream(events, rule)
    assert sessionizer.late == 0
    batch = sessionize(events, rule)
    assert _records(streamed) == _records(batch)
    return batch


def test_copies_within_the_timeout_are_one_event_and_the_first_to_arrive_wins() -> None:
    first_to_arrive = _ev(T0 + 5_000, url="/arrived-first", event_id="x")
    later_but_earlier_in_time = _ev(T0, url="/arrived-second", event_id="x", status=500)
    (session,) = _both_modes([first_to_arrive, later_but_earlier_in_time, _ev(T0 + 9_000, url="/next")])
    assert (session.events, session.first_url, session.start_ms, session.errors) == (2, "/arrived-first", T0 + 5_000, 0)
    stats: dict[str, int] = {}
    sessionize([first_to_arrive, later_but_earlier_in_time], RULE, stats)
    assert (stats["events_in"], stats["duplicates"], stats["sessionized"]) == (2, 1, 1)


@pytest.mark.parametrize(("apart_ms", "events"), [(299_999, 1), (300_000, 1), (300_001, 2), (3_600_000, 2)])
def test_copies_further_apart_than_the_timeout_are_separate_events(apart_ms: int, events: int) -> None:
    sessions = _both_modes([_ev(T0, event_id="x", url="/a"), _ev(T0 + apart_ms, event_id="x", url="/b")])
    assert sum(s.events for s in sessions) == events


def test_a_copy_is_judged_against_every_counted_copy_not_only_the_first() -> None:
    # x@0 counts; x@400 s is more than the timeout away, so it counts too; x@350 s is within the
    # timeout of x@400 s: a copy. /between bridges them into one session holding x twice.
    events = [
        _ev(T0, event_id="x", url="/a"),
        _ev(T0 + 400_000, event_id="x", url="/b"),
        _ev(T0 + 350_000, event_id="x", url="/c"),
        _ev(T0 + 200_000, url="/between"),
    ]
    (session,) = _both_modes(events, SessionRule(timeout_ms=300_000, allowed_lateness_ms=600_000))
    assert (session.events, session.pages, session.last_url) == (3, 3, "/b")


def test_distinct_events_at_the_same_millisecond_are_ordered_by_event_id_in_code_points() -> None:
    # U+FF5E sorts before U+1F600 by code point, after it by UTF-16 unit (0xFF5E > 0xD83D).
    bmp, astral = _ev(T0, event_id="e-\uff5e", url="/bmp"), _ev(T0, event_id="e-\U0001f600", url="/astral-\U0001f389")
    (session,) = _both_modes([astral, bmp])
    assert (session.first_url, session.last_url, session.events, session.pages) == ("/bmp", "/astral-\U0001f389", 2, 2)


def _naive_sessions(events: list[Event], timeout_ms: int) -> list[tuple]:
    """An independent oracle: per key, sort by time, cut where the gap exceeds the timeout."""
    out = []
    ordered = sorted(events, key=lambda e: (e.host, e.ip, e.event_time_ms))
    for (host, ip), group in groupby(ordered, key=lambda e: (e.host, e.ip)):
        times = [e.event_time_ms for e in group]
        start = prev = times[0]
        n = 1
        for t in times[1:]:
            if t - prev > timeout_ms:
                out.append((host, ip, start, prev, n))
                start, n = t, 0
            prev = t
            n += 1
        out.append((host, ip, start, prev, n))
    return out


def _random_stream(seed: int, n: int = 3_000) -> list[Event]:
    """Events on 30 keys, arriving up to 90 s out of order (some later than the 60 s lateness), with copies."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        t = T0 + i * 2_000 + rng.choice([0, 1, 299_999, 300_000, 300_001]) * (rng.random() < 0.05)
        events.append(_ev(t, ip=f"10.0.0.{rng.randrange(30)}", url=f"/p{rng.randrange(5)}", event_id=f"e{i}"))
    arrival = sorted(events, key=lambda e: e.event_time_ms + rng.randrange(0, 90_000))
    copies = [e for e in arrival if rng.random() < 0.03]
    for copy in copies:
        arrival.insert(arrival.index(copy) + rng.randrange(1, 4), copy)
    return arrival


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_streaming_equals_batch_on_the_events_it_accepted(seed: int) -> None:
    """Every non-duplicate, non-late event is in exactly one session, and the sessions are the batch ones."""
    arrival = _random_stream(seed)
    sessionizer = Sessionizer(RULE)
    accepted, sessions = [], []
    max_open = 0
    for i, event in enumerate(arrival):
        if not sessionizer.is_late(event.event_time_ms):
            accepted.append(event)
        sessions.extend(sessionizer.feed(event))
        if i % 100 == 0:
            max_open = max(max_open, sessionizer.stats()["open_sessions"])
    sessions.extend(sessionizer.flush())
    assert sessionizer.late > 0 and sessionizer.duplicates > 0  # the stream exercises both
    assert sum(s.events for s in sessions) == sessionizer.sessionized
    assert sessionizer.sessionized + sessionizer.duplicates + sessionizer.late == len(arrival)
    assert _records(sessions) == _records(sessionize(accepted, RULE))
    unique = list({e.event_id: e for e in accepted}.values())
    got = sorted((s.host, s.ip, s.start_ms, s.end_ms, s.events) for s in sessions)
    assert got == sorted(_naive_sessions(unique, RULE.timeout_ms))
    assert max_open <= 30 * 2  # bounded by keys, not by the 3,000 events


def test_sessions_of_a_key_never_touch() -> None:
    sessions = sessionize(_random_stream(9), RULE)
    for _, group in groupby(sessions, key=lambda s: (s.host, s.ip)):
        spans = [(s.start_ms, s.end_ms) for s in group]
        assert all(nxt[0] - prev[1] > RULE.timeout_ms for prev, nxt in zip(spans, spans[1:], strict=False))


def test_memory_is_bounded_by_open_sessions_not_input() -> None:
    sessionizer = Sessionizer(RULE)
    peak = 0
    for i in range(20_000):
        sessionizer.feed(_ev(T0 + i * 1_000, ip=f"10.1.{i % 50}.1"))
        if i % 500 == 0:
            peak = max(peak, sessionizer.stats()["open_sessions"])
        if i % 1_000 == 999:  # every key pauses for more than the timeout, so sessions close
            sessionizer.feed(_ev(T0 + i * 1_000 + 400_000, ip="10.9.9.9"))
    assert sessionizer.sessions_out > 50
    assert peak <= 51
    assert len(sessionizer._deadlines) <= 60  # one heap entry per open session, not per event


def test_sessionize_jsonl_reports_invalid_lines_and_counts() -> None:
    good = {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "h.io", "url": "/"}
    lines = [json.dumps(good), "", "{oops", json.dumps({**good, "ip": "x"}), json.dumps({**good, "url": "/b"})]
    invalid: list[tuple[int, str]] = []
    stats: dict[str, int] = {}
    sessions = list(sessionize_jsonl(lines, RULE, on_invalid=lambda n, r: invalid.append((n, r.reason)), stats=stats))
    assert invalid == [(3, "malformed_json"), (4, "bad_ip")]
    assert [s.events for s in sessions] == [2]
    assert (stats["invalid"], stats["sessionized"], stats["sessions_out"]) == (2, 2, 1)
    batch = list(sessionize_jsonl(lines, RULE, batch=True, stats=stats))
    assert [s.to_dict() for s in batch] == [s.to_dict() for s in sessions]


def test_cli_sessionize_prints_sessions_and_reports_invalid_lines(tmp_path: Path, capsys) -> None:
    path = tmp_path / "events.jsonl"
    case = next(c for c in CASES if c.name == "gap_timeout_plus_1ms")
    path.write_text("\n".join(json.dumps(e) for e in case.events) + "\nnot json\n")
    assert main(["sessionize", str(path), "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted((every_field(r) for r in records), key=sort_key) == case.expected
    assert "line 3: malformed_json" in captured.err
    assert main(["sessionize", str(path), "--format", "table"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["host", "ip", "start"]
    assert len(table) == 1 + len(case.expected)


def test_format_time_and_session_dict_agree() -> None:
    (session,) = sessionize([_ev(T0 + 1)], RULE)
    assert session.to_dict()["start"] == format_time_ms(T0 + 1) == "2026-11-20T10:00:00.001Z"
