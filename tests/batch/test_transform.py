"""The Spark transform of the batch layer, on a local Spark session (no services).

The shared vectors go through this transform in the conformance suite (``tests/conformance/``); here:
the day boundaries, the late area, arrival order and dedupe, ties, quarantine and the history tables.
"""

from __future__ import annotations

import json

from batch.events import derived_event_id, iso_time
from batch.sessions_job import BatchResult, DayFrames, count_day, extract, input_dirs, transform
from tests.batch.rawfiles import canonical, write_day_files, write_raw_lines
from tests.vectors.loader import VECTOR_FIELDS, sort_key
from websessions.events import Rejection, derive_event_id, validate
from websessions.sessionizer import sessionize
from websessions.sessions import SessionRule

D = "2026-11-20"
RULE = SessionRule()


def _frames(spark, settings, dt: str, rule: SessionRule = RULE) -> DayFrames:
    return transform(extract(spark, input_dirs(spark, settings, dt)), dt, rule)


def _records(frames: DayFrames) -> list[dict]:
    """The session rows as the vectors' records, every value as Spark computed it."""
    from pyspark.sql import functions as F

    rows = frames.sessions.select(
        "session_id", "host", "ip", iso_time(F.col("start_ms")).alias("start"), iso_time(F.col("end_ms")).alias("end"),
        "duration_s", "events", "pages", "first_url", "last_url", "referrer", "user_agent", "geo", "errors", "status",
        "dt",
    ).collect()  # fmt: skip
    return sorted((row.asDict(recursive=True) for row in rows), key=sort_key)


def _event(t: str, ip: str = "203.0.113.9", host: str = "www.dataexpert.io", url: str = "/", **extra):
    return canonical({"event_time": t, "ip": ip, "host": host, "url": url, **extra})


def test_a_session_crossing_midnight_is_counted_once_on_the_day_it_starts(spark, raw_area) -> None:
    settings, root, _ = raw_area
    events = [
        _event("2026-11-20T23:58:00.000Z", url="/a"),
        _event("2026-11-21T00:02:00.000Z", url="/b"),
        _event("2026-11-21T00:06:30.000Z", url="/c"),
        _event("2026-11-21T09:00:00.000Z", url="/next-morning"),
    ]
    write_day_files(root, events)
    day, next_day = _frames(spark, settings, D), _frames(spark, settings, "2026-11-21")
    (crossing,) = _records(day)
    assert (crossing["start"], crossing["end"], crossing["events"], crossing["last_url"]) == (
        "2026-11-20T23:58:00.000Z", "2026-11-21T00:06:30.000Z", 3, "/c",
    )  # fmt: skip
    assert [r["first_url"] for r in _records(next_day)] == ["/next-morning"]
    counts = BatchResult("2026-11-21")
    count_day(next_day, "2026-11-21", counts)
    assert (counts.read, counts.in_sessions_of_day_before, counts.in_sessions_of_day) == (3, 2, 1)
    assert counts.balanced


def test_the_day_before_is_read_only_as_far_back_as_the_timeout(spark, raw_area) -> None:
    settings, root, _ = raw_area
    events = [
        _event("2026-11-19T23:54:00.000Z", url="/x"),  # its session: 23:54 .. 23:56
        _event("2026-11-19T23:56:00.000Z", url="/y"),
        _event("2026-11-20T00:00:30.000Z", url="/z"),  # 4.5 min after 23:56: continues D-1's session
        _event("2026-11-20T00:10:00.000Z", ip="198.51.100.1", url="/own"),
    ]
    write_day_files(root, events)
    frames = _frames(spark, settings, D)
    assert [(r["ip"], r["first_url"]) for r in _records(frames)] == [("198.51.100.1", "/own")]
    counts = BatchResult(D)
    count_day(frames, D, counts)
    assert (counts.read, counts.in_sessions_of_day_before, counts.in_sessions_of_day, counts.context_events) == (
        2, 1, 1, 2,
    )  # fmt: skip


def test_the_late_area_of_the_day_is_read(spark, raw_area) -> None:
    settings, root, late = raw_area
    write_day_files(root, [_event("2026-11-20T10:00:00.000Z", url="/on-time")])
    write_day_files(late, [_event("2026-11-20T10:01:00.000Z", url="/late")])
    frames = _frames(spark, settings, D)
    (session,) = _records(frames)
    assert (session["events"], session["last_url"]) == (2, "/late")
    counts = BatchResult(D)
    count_day(frames, D, counts)
    assert (counts.read, counts.read_late_area) == (2, 1)


def test_copies_count_once_keeping_the_first_to_arrive(spark, raw_area) -> None:
    settings, root, late = raw_area
    events = [
        _event("2026-11-20T10:00:05.000Z", url="/copy-first-to-arrive", event_id="e-1"),
        _event("2026-11-20T10:00:00.000Z", url="/copy-earlier-in-time", event_id="e-1"),
        _event("2026-11-20T10:00:10.000Z", url="/other", event_id="e-2"),
        _event("2026-11-20T10:00:10.000Z", url="/no-id"),  # no id: derived from the content ...
        _event("2026-11-20T10:00:10.000Z", url="/no-id"),  # ... so an identical resend is a duplicate
        _event("2026-11-20T10:00:00.000Z", ip="198.51.100.2", url="/same-id-other-key", event_id="e-1"),
        _event("2026-11-20T10:20:00.000Z", url="/same-id-20-minutes-later", event_id="e-2"),  # its own event
    ]
    # Two lander batches of partition 3: offsets 100..104, then 200..201 (one line in the late area).
    write_day_files(root, events[:5], part="part-003-000000000100-000000000104")
    write_day_files(root, events[5:6], part="part-003-000000000200-000000000201")
    write_day_files(late, [_event("2026-11-20T10:00:07.000Z", url="/late-copy", event_id="e-1")],
                    part="part-003-000000000150-000000000150")  # fmt: skip
    write_day_files(root, events[6:], part="part-003-000000000300-000000000300")
    frames = _frames(spark, settings, D)
    records = _records(frames)
    by_ip = {}
    for r in records:
        by_ip.setdefault(r["ip"], []).append(r)
    first, later = by_ip["203.0.113.9"]
    assert (first["events"], first["first_url"]) == (3, "/copy-first-to-arrive")
    assert first["start"] == "2026-11-20T10:00:05.000Z"
    assert (later["events"], later["first_url"]) == (1, "/same-id-20-minutes-later")
    assert by_ip["198.51.100.2"][0]["events"] == 1  # the id counts once per key, not globally
    counts = BatchResult(D)
    count_day(frames, D, counts)
    assert (counts.read, counts.duplicates, counts.in_sessions_of_day) == (8, 3, 5)
    arrival = [*events[:5], _event("2026-11-20T10:00:07.000Z", url="/late-copy", event_id="e-1"), *events[5:]]
    reference = sessionize(arrival, RULE)
    assert [comparable_to_spark(s) for s in reference] == records


def comparable_to_spark(session) -> dict:
    return {name: session.to_dict()[name] for name in VECTOR_FIELDS}


def test_arrival_is_the_partition_offset_and_line_of_the_file(spark, tmp_path) -> None:
    from batch.events import read_raw_dir

    directory = tmp_path / "dt=2026-11-20"
    directory.mkdir()
    (directory / "part-007-000000000042-000000000044.jsonl").write_text('{"url": "/a"}\n\n{"url": "/b"}\r\n')
    (directory / "hand-made.jsonl").write_text('{"url": "/c"}\n')
    rows = read_raw_dir(spark, str(directory)).select("url", "arrival.*").collect()
    got = sorted((r["url"], r["partition"], r["offset"], r["file"], r["line"]) for r in rows)
    assert got == [
        ("/a", 7, 42, "part-007-000000000042-000000000044.jsonl", 0),
        ("/b", 7, 42, "part-007-000000000042-000000000044.jsonl", 2),
        ("/c", None, None, "hand-made.jsonl", 0),
    ]


def test_first_and_last_event_ties_in_time_are_broken_by_event_id(spark, raw_area) -> None:
    settings, root, _ = raw_area
    events = [
        _event("2026-11-20T10:00:00.000Z", url="/b", event_id="b", user_agent="UA-b", geo={"country": "FR"}),
        _event("2026-11-20T10:00:00.000Z", url="/a", event_id="a", user_agent="UA-a", geo={"country": "NL"}),
        _event("2026-11-20T10:01:00.000Z", url="/z", event_id="z"),
        _event("2026-11-20T10:01:00.000Z", url="/y", event_id="y", status=503),
    ]
    write_day_files(root, events)
    (row,) = _frames(spark, settings, D).sessions.collect()
    assert (row["first_url"], row["user_agent"], row["geo"]["country"], row["last_url"]) == ("/a", "UA-a", "NL", "/z")
    assert (row["events"], row["pages"], row["errors"]) == (4, 4, 1)
    (expected,) = sessionize(events, RULE)
    assert (expected.first_url, expected.user_agent, expected.geo, expected.last_url) == (
        row["first_url"], row["user_agent"], row["geo"].asDict(), row["last_url"],
    )  # fmt: skip


def test_the_timeout_comes_from_the_rule(spark, raw_area) -> None:
    settings, root, _ = raw_area
    write_day_files(root, [_event("2026-11-20T10:00:00.000Z"), _event("2026-11-20T10:01:00.001Z")])
    assert len(_records(_frames(spark, settings, D, SessionRule(timeout_ms=60_000)))) == 2
    assert len(_records(_frames(spark, settings, D, SessionRule(timeout_ms=60_001)))) == 1


def test_overlong_sessions_are_quarantined_not_dropped(spark, raw_area) -> None:
    settings, root, _ = raw_area
    bot = [_event(f"2026-11-20T{h:02d}:{m:02d}:00.000Z", ip="192.0.2.99") for h in range(24) for m in range(0, 60, 4)]
    write_day_files(root, [*bot, _event("2026-11-20T12:00:00.000Z", ip="192.0.2.1")])
    rule = SessionRule(max_session_days=0)  # any session longer than zero days
    frames = _frames(spark, settings, D, rule)
    assert [r["ip"] for r in frames.quarantined_sessions.collect()] == ["192.0.2.99"]
    assert [r["ip"] for r in _records(frames)] == ["192.0.2.1"]
    counts = BatchResult(D)
    count_day(frames, D, counts)
    assert (counts.quarantined_sessions, counts.in_quarantined_sessions, counts.in_sessions_of_day) == (1, 360, 1)
    assert counts.balanced


# Lines the batch must refuse with the reason websessions.events gives (where SQL can say it).
INVALID_LINES = [
    '{"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "a.io"',  # truncated
    {"event_time": "2026-11-20T10:00:00.000Z", "host": "a.io", "url": "/"},
    {"ip": "203.0.113.1", "host": "a.io", "url": "/"},
    {"event_time": "2026-11-20 10:00:00", "ip": "203.0.113.1", "host": "a.io", "url": "/"},
    {"event_time": "2026-11-20T25:00:00.000Z", "ip": "203.0.113.1", "host": "a.io", "url": "/"},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.256", "host": "a.io", "url": "/"},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "not-an-ip", "host": "a.io", "url": "/"},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "bad host!", "url": "/"},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "a.io", "url": "   "},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "a.io", "url": "/x\u0001"},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "a.io", "url": "/", "status": 700},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "a.io", "url": "/", "event_id": ""},
    {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1", "host": "a.io", "url": "/", "load_time_ms": -1},
]


def test_invalid_lines_are_quarantined_with_the_reason_websessions_events_gives(spark, raw_area) -> None:
    settings, root, _ = raw_area
    write_raw_lines(root, D, [*INVALID_LINES, {"event_time": "2026-11-20T10:00:00.000Z", "ip": "203.0.113.1",
                                                "host": "A.io", "url": "/ok"}])  # fmt: skip
    frames = _frames(spark, settings, D)
    got = [(r["reason"], r["raw"]) for r in frames.rejected.collect()]
    expected = []
    for line in INVALID_LINES:
        outcome = validate(line if isinstance(line, str) else json.dumps(line))
        assert isinstance(outcome, Rejection)
        expected.append(outcome.reason)
    assert sorted(reason for reason, _ in got) == sorted(expected)
    assert any(raw == INVALID_LINES[0] for _, raw in got)  # a malformed line is kept as it was
    assert [(r["host"], r["first_url"]) for r in _records(frames)] == [("a.io", "/ok")]
    counts = BatchResult(D)
    count_day(frames, D, counts)
    assert counts.rejected_total == len(INVALID_LINES) and counts.balanced


def test_an_event_in_another_days_directory_is_refused(spark, raw_area) -> None:
    settings, root, _ = raw_area
    write_raw_lines(
        root, D, [_event("2026-11-20T10:00:00.000Z").to_json(), _event("2026-11-18T10:00:00.000Z").to_json()]
    )
    frames = _frames(spark, settings, D)
    assert [r["reason"] for r in frames.rejected.collect()] == ["wrong_partition"]


def test_missing_event_ids_are_derived_exactly_like_websessions_events(spark) -> None:
    from pyspark.sql import functions as F

    rows = [
        (1_795_168_800_123, "203.0.113.1", "a.io", '/café?q="x"', None, "Mozilla/5.0 \\ tab\there"),
        (1_795_168_800_000, "2001:db8::1", "b.io", "/日本語", "https://r.example/ü", None),
    ]
    df = spark.createDataFrame(rows, "t long, ip string, host string, url string, referrer string, ua string")
    c = F.col
    got = [
        r[0]
        for r in df.select(derived_event_id(c("t"), c("ip"), c("host"), c("url"), c("referrer"), c("ua"))).collect()
    ]
    assert got == [derive_event_id(*row) for row in rows]


def test_the_hot_path_has_no_python_udfs(spark, raw_area) -> None:
    settings, root, _ = raw_area
    write_day_files(root, [_event("2026-11-20T10:00:00.000Z")])
    frames = _frames(spark, settings, D)
    for frame in (frames.sessions, frames.stats, *frames.history.values()):
        plan = frame._jdf.queryExecution().executedPlan().toString()
        assert "PythonUDF" not in plan and "BatchEvalPython" not in plan and "ArrowEvalPython" not in plan


# A hand-made day: two hosts, sessions of 1, 3 and 2 events on a.io (one ip twice), 1 event on b.io.
HAND_MADE = [
    ("a.io", "10.0.0.1", "2026-11-20T08:00:00.000Z", "/", None, "https://www.google.com/search?q=1", {"country": "NL"}),
    ("a.io", "10.0.0.2", "2026-11-20T09:00:00.000Z", "/blog/one?utm=x", None, "https://news.example.org/", None),
    ("a.io", "10.0.0.2", "2026-11-20T09:01:00.000Z", "/blog/two", 404, None, None),
    ("a.io", "10.0.0.2", "2026-11-20T09:03:00.000Z", "/", None, None, None),
    ("a.io", "10.0.0.1", "2026-11-20T12:00:00.000Z", "/blog/one", None, None, {"country": "NL"}),
    ("a.io", "10.0.0.1", "2026-11-20T12:00:30.000Z", "/blog/two", 500, None, None),
    ("b.io", "10.0.0.3", "2026-11-20T23:59:00.000Z", "/only", None, "https://www.google.com/", {"country": "DE"}),
    ("b.io", "10.0.0.4", "2026-11-21T00:30:00.000Z", "/next-day", None, None, None),
]


def _hand_made_day(spark, raw_area) -> DayFrames:
    settings, root, _ = raw_area
    events = [
        _event(t, ip=ip, host=host, url=url, status=status, referrer=ref, geo=geo)
        for host, ip, t, url, status, ref, geo in HAND_MADE
    ]
    write_day_files(root, events)
    return _frames(spark, settings, D)


def test_daily_stats_of_a_hand_made_day(spark, raw_area) -> None:
    frames = _hand_made_day(spark, raw_area)
    stats = {r["host"]: r.asDict() for r in frames.stats.collect()}
    assert stats["a.io"] == {
        "host": "a.io", "sessions": 3, "events": 6, "avg_events_per_session": 2.0, "max_events_per_session": 3,
        "median_events_per_session": 2.0, "unique_ips": 2, "avg_duration_s": (0 + 180 + 30) / 3,
        "median_duration_s": 30.0, "bounce_rate": 1 / 3,
    }  # fmt: skip
    assert stats["b.io"] == {
        "host": "b.io", "sessions": 1, "events": 1, "avg_events_per_session": 1.0, "max_events_per_session": 1,
        "median_events_per_session": 1.0, "unique_ips": 1, "avg_duration_s": 0.0, "median_duration_s": 0.0,
        "bounce_rate": 1.0,
    }  # fmt: skip


def test_history_aggregates_of_a_hand_made_day(spark, raw_area) -> None:
    frames = _hand_made_day(spark, raw_area)

    def rows(table: str, *columns: str) -> set[tuple]:
        return {tuple(r[c] for c in columns) for r in frames.history[table].collect()}

    assert rows("page_views_daily", "host", "page", "views", "sessions") == {
        ("a.io", "/", 2, 2), ("a.io", "/blog/one", 2, 2), ("a.io", "/blog/two", 2, 2), ("b.io", "/only", 1, 1),
    }  # fmt: skip
    assert rows("section_engagement_daily", "host", "section", "views", "sessions") == {
        ("a.io", "/", 2, 2), ("a.io", "blog", 4, 2), ("b.io", "only", 1, 1),
    }  # fmt: skip
    assert rows("navigation_paths_daily", "host", "from_page", "to_page", "transitions") == {
        ("a.io", "/blog/one", "/blog/two", 2), ("a.io", "/blog/two", "/", 1),
    }  # fmt: skip
    assert rows("referrers_daily", "host", "referrer_host", "sessions", "events") == {
        ("a.io", "www.google.com", 1, 1), ("a.io", "news.example.org", 1, 3), ("a.io", "(direct)", 1, 2),
        ("b.io", "www.google.com", 1, 1),
    }  # fmt: skip
    assert rows("geo_daily", "host", "country", "sessions", "events", "unique_ips") == {
        ("a.io", "NL", 2, 3, 1), ("a.io", "unknown", 1, 3, 1), ("b.io", "DE", 1, 1, 1),
    }  # fmt: skip
    assert rows("error_rates_daily", "host", "events", "errors", "client_errors", "server_errors", "error_rate") == {
        ("a.io", 6, 2, 1, 1, 2 / 6), ("b.io", 1, 0, 0, 0, 0.0),
    }  # fmt: skip
    minutes = rows("events_per_minute", "host", "minute", "events")
    assert sum(n for _, _, n in minutes) == 7 and len(minutes) == 6  # 12:00 and 12:00:30 share a minute


def test_the_section_of_a_page_is_its_first_path_segment(spark) -> None:
    from pyspark.sql import functions as F

    from batch.history import section

    cases = {"/": "/", "/blog/x": "blog", "/blog": "blog", "/blog/": "blog", "//x": "/", "blog/x": "/", "/é/x": "é"}
    frame = spark.createDataFrame([(page,) for page in cases], "page string")
    found = {r["page"]: r["section"] for r in frame.select("page", section(F.col("page")).alias("section")).collect()}
    assert found == cases
