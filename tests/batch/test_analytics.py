"""The Spark analytics tables (:mod:`batch.analytics`) equal the reference (:mod:`websessions.analytics`)
on a small day built to hit where the two could differ: ties in every ranking, bots next to people,
events without a load time or agent, a session crossing midnight, duplicates and a percentile rank that
falls between two values."""

from __future__ import annotations

import dataclasses
import math

import pytest

from batch.analytics import agent_classes, analytics_tables, classified_sessions
from batch.sessions_job import extract, input_dirs, transform
from tests.batch.rawfiles import canonical, write_day_files
from websessions import analytics
from websessions.events import format_time_ms, parse_time_ms
from websessions.sessionizer import sessionize
from websessions.sessions import SessionRule

D = "2026-11-20"
RULE = SessionRule()
TOP_K = 2
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = IPHONE.replace("iPhone; CPU iPhone OS", "iPad; CPU OS")
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def analytics_day() -> list:
    """Events of D (and one session into D+1) in arrival order."""
    events = []
    t0 = parse_time_ms(f"{D}T00:00:00.000Z")

    def add(seconds: float, ip: str, url: str, host: str = "a.example", **extra) -> None:
        raw = {"event_time": format_time_ms(t0 + int(seconds * 1000)), "ip": ip, "host": host, "url": url, **extra}
        raw["event_id"] = f"e{len(events)}"
        events.append(canonical(raw))

    # People on a.example: the same pages in different orders, so co-visit counts tie.
    for i, (agent, pages) in enumerate([(CHROME, "/a /b /c"), (IPHONE, "/b /a"), (IPAD, "/c /a"), (None, "/a /d")]):
        for j, url in enumerate(pages.split()):
            extra = {"user_agent": agent} if agent else {}
            add(3_600 * (i + 1) + 30 * j, f"10.0.0.{i}", url + "?x=1", load_time_ms=100 * (i + 1) + j, **extra)
    # A crawler: many pages, fast; not counted in co-visits.
    for j, url in enumerate(("/a", "/b", "/c", "/d", "/e")):
        add(7_200 + j, "192.0.2.9", url, user_agent=BOT, status=404 if j == 4 else 200, load_time_ms=5)
    # Actions and errors on b.example, with ties in duration and events; one crosses midnight.
    add(100, "10.0.1.1", "/", host="b.example", user_agent=CHROME, event_type="click")
    add(160, "10.0.1.1", "/", host="b.example", user_agent=CHROME, event_type="conversion", status=500)
    add(100, "10.0.1.2", "/", host="b.example", user_agent=CHROME, event_type="click")
    add(160, "10.0.1.2", "/x", host="b.example", user_agent=CHROME)
    add(86_300, "10.0.1.3", "/late", host="b.example", user_agent=IPHONE, load_time_ms=7.5)
    add(86_500, "10.0.1.3", "/late", host="b.example", user_agent=IPHONE, load_time_ms=7.5)
    events.append(events[3])  # a resend: counted once
    return events


@pytest.fixture(scope="module")
def computed(spark, batch_settings, tmp_path_factory) -> tuple[dict[str, list], dict]:
    root = tmp_path_factory.mktemp("analytics") / "raw"
    events = analytics_day()
    write_day_files(root, events)
    settings = dataclasses.replace(batch_settings, raw_events_dir=root.as_uri())
    frames = transform(extract(spark, input_dirs(spark, settings, D)), D, RULE)
    classified = classified_sessions(frames.sessions, agent_classes(spark, frames.sessions))
    tables = analytics_tables(frames.events, classified, TOP_K)
    got = {name: [row.asDict() for row in frame.collect()] for name, frame in tables.items()}
    sessions = [s for s in sessionize(events, RULE) if s.dt == D]
    by_session = analytics.events_by_session(sessions, events, RULE)
    return got, {"sessions": sessions, "events": by_session}


def _sorted(rows: list[dict], *keys: str) -> list[tuple]:
    return sorted(tuple(r[k] for k in keys) for r in rows)


def test_agents_per_host_and_agent_equal_the_reference(computed) -> None:
    got, ref = computed
    want = analytics.agents_daily(ref["sessions"])
    fields = list(analytics.AgentRow.__dataclass_fields__)
    assert _sorted(got["agents_daily"], *fields) == sorted(tuple(getattr(r, f) for f in fields) for r in want)
    classes = {(r.user_agent, r.device_class, r.is_bot) for r in want}
    assert {(BOT, "bot", True), (IPAD, "tablet", False), (IPHONE, "mobile", False), ("", "desktop", False)} <= classes
    assert analytics.bot_sessions(want) == {"a.example": 1, "b.example": 0}


def test_event_types_equal_the_reference(computed) -> None:
    got, ref = computed
    want = analytics.event_types_daily(ref["events"])
    assert _sorted(got["event_types_daily"], "host", "event_type", "events", "sessions") == [
        (r.host, r.event_type, r.events, r.sessions) for r in want
    ]
    assert ("b.example", "click", 2, 2) in [(r.host, r.event_type, r.events, r.sessions) for r in want]


def test_load_time_percentiles_are_the_nearest_rank_ones(computed) -> None:
    got, ref = computed
    want = analytics.load_times_daily(ref["events"])
    key = lambda r: (r[0], r[1] is not None, r[1] or "")  # noqa: E731
    rows = sorted(
        (
            tuple(r[k] for k in ("host", "page", "samples", "p50_ms", "p95_ms", "p99_ms"))
            for r in got["load_times_daily"]
        ),
        key=key,
    )
    assert rows == [(r.host, r.page, r.samples, r.p50_ms, r.p95_ms, r.p99_ms) for r in want]
    host_a = next(r for r in want if r.host == "a.example" and r.page is None)
    # 14 samples: 5 (x5), 100, 101, 102, 200, 201, 300, 301, 400, 401; p50 = the 7th smallest.
    assert host_a.samples == 14 and host_a.p50_ms == 101 and host_a.p99_ms == 401


def test_hourly_trends_equal_the_reference(computed) -> None:
    got, ref = computed
    want = analytics.hourly_trends(ref["sessions"], ref["events"])
    rows = sorted(
        tuple(r[k] for k in ("host", "hour_ms", "events", "sessions_started", "active_users", "errors"))
        for r in got["hourly_trends"]
    )
    assert rows == [(r.host, r.hour_ms, r.events, r.sessions_started, r.active_users, r.errors) for r in want]
    late = [r for r in want if r.host == "b.example" and r.hour_ms >= parse_time_ms(f"{D}T23:00:00.000Z")]
    assert [(r.events, r.sessions_started) for r in late] == [(1, 1), (1, 0)]  # the next day's hour: no start


def test_covisits_rank_ties_by_page_and_leave_bots_out(computed) -> None:
    got, ref = computed
    want = analytics.page_covisits(ref["sessions"], ref["events"], TOP_K)
    assert _sorted(got["page_covisits_daily"], "host", "page", "rank", "also_viewed", "sessions") == [
        (r.host, r.page, r.rank, r.also_viewed, r.sessions) for r in want
    ]
    of_a = [(r.rank, r.also_viewed, r.sessions) for r in want if r.page == "/a"]
    assert of_a == [(1, "/b", 2), (2, "/c", 2)]  # /d also once; /e only by the bot
    assert not any(r.also_viewed == "/e" for r in want)


def test_nearest_rank_is_the_smallest_value_covering_p() -> None:
    assert analytics.nearest_rank([1, 2, 3, 4], 0.5) == 2
    assert analytics.nearest_rank([1, 2, 3, 4], 0.51) == 3
    assert analytics.nearest_rank([7], 0.99) == 7
    assert analytics.nearest_rank(list(range(1, 101)), 0.95) == 95
    assert math.isclose(analytics.change(120, 100), 0.2) and analytics.change(5, 0) is None
