"""The analytics' serving reads and commands on the real Postgres (a private database): two batch days whose
sessions and analytics rows are the reference's, loaded through the batch's own day replacement.

``report --exclude-bots`` leaves the bot sessions out and says so; ``report --by day|hour`` prints the
series with the change against the previous period; ``sessions --top`` flags bots; ``recommend`` prints
the co-visited pages; an hour after midnight with rows under both days is summed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tests.integration.datasets import private_database
from websessions import analytics
from websessions.events import format_time_ms, parse_time_ms, validate
from websessions.reconcile import HostReconciliation, store
from websessions.report import bots_excluded, daily_series, domain_report
from websessions.sessionizer import sessionize
from websessions.sessions import SessionRule
from websessions.stores.postgres_analytics import hourly_series, recommendations
from websessions.stores.postgres_sessions import replace_day

pytestmark = pytest.mark.integration
HOST = "www.dataexpert.io"
DAY1, DAY2 = "2026-10-04", "2026-10-05"
PERSON = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
RULE = SessionRule()


def day_events() -> list:
    """People on both days (more on day 2), a crawler with long sessions, one session across midnight."""
    events = []

    def add(at: str, ip: str, url: str, agent: str) -> None:
        raw = {"event_time": at, "ip": ip, "host": HOST, "url": url, "user_agent": agent, "event_id": str(len(events))}
        events.append(validate(raw))

    for day, people in ((DAY1, 2), (DAY2, 3)):
        for i in range(people):
            for j, url in enumerate(("/", "/pricing", "/courses")[: i + 1]):
                add(f"{day}T10:0{i}:{10 * j:02d}.000Z", f"10.0.0.{i}", url, PERSON)
        for j in range(6):  # the bot: the longest and busiest session
            add(f"{day}T12:{2 * j:02d}:00.000Z", "192.0.2.7", f"/p{j}", BOT)
    t = parse_time_ms(f"{DAY1}T23:58:00.000Z")
    for k in range(3):  # DAY1's session into DAY2's first hour, next to DAY2's own session in that hour
        add(format_time_ms(t + k * 120_000), "10.0.0.9", "/", PERSON)
    add(f"{DAY2}T00:30:00.000Z", "10.0.0.8", "/", PERSON)
    return events


@pytest.fixture(scope="module")
def loaded(stack):
    events = day_events()
    everything = sessionize(events, RULE)
    with private_database(stack("postgres"), "analytics") as settings:
        for day in (DAY1, DAY2):
            sessions = [s for s in everything if s.dt == day]
            by_session = analytics.events_by_session(sessions, events, RULE)
            tables = {
                "agents_daily": analytics.agents_daily(sessions),
                "hourly_trends": analytics.hourly_trends(sessions, by_session),
                "page_covisits_daily": analytics.page_covisits(sessions, by_session, settings.recommend_top_k),
            }
            rows = {name: [dataclasses.asdict(r) for r in found] for name, found in tables.items()}
            replace_day(settings, day, sessions, [], rows)
            store(settings, day, {HOST: HostReconciliation(HOST, matched=len(sessions))}, max_ratio=1.0)
        yield settings, everything


def websessions(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **settings.as_env()}
    run = subprocess.run([sys.executable, "-m", "websessions.cli", *args], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_the_report_leaves_bots_out_when_asked_and_says_so(loaded) -> None:
    settings, sessions = loaded
    people = [s for s in sessions if s.user_agent == PERSON]
    (all_, *_) = [r for r in domain_report(settings, DAY1, DAY2) if r.host == HOST]
    (no_bots, *_) = [r for r in domain_report(settings, DAY1, DAY2, exclude_bots=True) if r.host == HOST]
    assert (all_.sessions, no_bots.sessions) == (len(sessions), len(people))
    assert no_bots.avg_events_per_session == pytest.approx(sum(s.events for s in people) / len(people))
    assert no_bots.max_events_per_session == max(s.events for s in people) < all_.max_events_per_session
    assert bots_excluded(settings, DAY1, DAY2).bot_sessions == 2
    out = websessions(settings, "report", "--from", DAY1, "--to", DAY2, "--exclude-bots").stdout
    assert "bots excluded: 2 bot sessions left out of the averages" in out
    assert "bots excluded" not in websessions(settings, "report", "--from", DAY1, "--to", DAY2).stdout


def test_the_daily_series_has_the_change_against_the_day_before(loaded) -> None:
    settings, sessions = loaded
    points = daily_series(settings, DAY1, DAY2, HOST)
    counts = [sum(s.dt == d for s in sessions) for d in (DAY1, DAY2)]
    assert [(p.dt, p.row.sessions, p.row.layer) for p in points] == [
        (DAY1, counts[0], "batch"),
        (DAY2, counts[1], "batch"),
    ]
    assert points[0].sessions_change is None
    assert points[1].sessions_change == pytest.approx(counts[1] / counts[0] - 1)
    run = websessions(settings, "report", "--from", DAY1, "--to", DAY2, "--by", "day", "--format", "json")
    assert [row["sessions_change"] for row in json.loads(run.stdout)] == [
        None,
        pytest.approx(counts[1] / counts[0] - 1),
    ]


def test_the_hourly_series_sums_the_hour_after_midnight_over_both_days(loaded) -> None:
    settings, _ = loaded
    points = {p.hour: p for p in hourly_series(settings, DAY1, DAY2, HOST)}
    first = points[f"{DAY2}T00:00:00.000Z"]
    # 00:00 and 00:02 of DAY1's session, 00:30 of DAY2's own: one start, two users.
    assert (first.events, first.sessions_started, first.active_users) == (3, 1, 2)
    run = websessions(settings, "report", "--from", DAY1, "--to", DAY2, "--by", "hour", "--format", "json")
    rows = json.loads(run.stdout)
    at = [r["hour"] for r in rows].index(f"{DAY2}T00:00:00.000Z")
    assert rows[at]["events_change"] == pytest.approx(3 / rows[at - 1]["events"] - 1)


def test_top_sessions_flag_the_bot_and_recommend_prints_the_covisits(loaded) -> None:
    settings, sessions = loaded
    run = websessions(settings, "sessions", "--date", DAY2, "--top", "2", "--by", "duration", "--format", "jsonl")
    top = [json.loads(line) for line in run.stdout.splitlines()]
    want = analytics.top_sessions([s for s in sessions if s.dt == DAY2], 2, "duration")
    assert [(t["ip"], t["is_bot"]) for t in top] == [(s.ip, s.user_agent == BOT) for s in want]
    assert top[0]["is_bot"] and top[0]["device_class"] == "bot"
    recs = recommendations(settings, HOST, "/?ref=x")
    assert [(r.dt, r.also_viewed, r.sessions) for r in recs] == [(DAY2, "/pricing", 2), (DAY2, "/courses", 1)]
    out = websessions(settings, "recommend", "--host", HOST, "--url", "/pricing").stdout
    assert "1. /" in out and "2. /courses" in out
