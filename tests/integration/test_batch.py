"""The batch layer end to end on the real stack: HDFS raw files → Spark → Hive (HiveServer2) + Postgres.

A small known day D (and its neighbours, a late area and a few invalid lines) is written to a
private raw area in HDFS and D is marked complete; ``websessions batch --date D`` runs as the CLI
runs it, against a private Hive database. The sessions in Postgres and in Hive's partition must be
the reference sessionizer's sessions of D; a rerun (through the large-day path, COPY text written by Spark)
must leave identical rows; every query of ``hive/queries`` must return the numbers computed here in
plain Python from the reference sessions.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from batch.hive_sql import QUERIES_DIR, run_hiveserver2
from tests.batch.rawfiles import canonical
from websessions import analytics
from websessions.clients import hdfs, postgres
from websessions.events import GEO_FIELDS, Event, format_time_ms, parse_time_ms
from websessions.sessionizer import sessionize
from websessions.sessions import Session, SessionRule
from websessions.settings import Settings
from websessions.stores import postgres_analytics
from websessions.stores.postgres_sessions import DailyStats, daily_stats, replace_day, sessions_of_day

pytestmark = pytest.mark.integration

D, BEFORE, AFTER = "2024-02-29", "2024-02-28", "2024-03-01"
HOSTS = ("bootcamp.techcreator.io", "zachwilson.techcreator.io", "lulu.techcreator.io", "www.dataexpert.io")
PAGES = ("/", "/blog/spark", "/blog/flink?utm=news", "/blog/kafka#top", "/courses", "/courses/data", "/pricing")
REFERRERS = ("https://www.google.com/search?q=x", "https://news.ycombinator.com/", None, "https://t.co/abc")
COUNTRIES = ("NL", "DE", "US", None)
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "UA-3",
)
EVENT_TYPES = ("pageview", "pageview", "click", "conversion")
INVALID = [
    '{"event_time": "2024-02-29T10:00:00.000Z", "ip": "203.0.113.1", "host": "a.io"',
    json.dumps({"event_time": "2024-02-29T10:00:00.000Z", "host": "www.dataexpert.io", "url": "/"}),
    json.dumps({"event_time": "2024-02-29T99:00:00Z", "ip": "203.0.113.1", "host": "www.dataexpert.io", "url": "/"}),
]


def _t(day: str, seconds: float) -> str:
    return format_time_ms(parse_time_ms(f"{day}T00:00:00.000Z") + int(seconds * 1000))


def known_events() -> dict[tuple[str, bool], list[Event]]:
    """(dt, late area?) -> events: sessions over D, two crossing midnight, duplicates, late events."""
    rng = random.Random(29)
    files: dict[tuple[str, bool], list[Event]] = defaultdict(list)
    n = 0

    def add(day: str, t: str, ip: str, host: str, url: str, late: bool = False, **extra) -> Event:
        nonlocal n
        n += 1
        raw = {"event_time": t, "ip": ip, "host": host, "url": url, **extra}
        if n % 7:  # most events carry an id; the others get the derived one
            raw["event_id"] = f"ev-{n}"
        event = canonical(raw)
        files[(day, late)].append(event)
        return event

    for s in range(160):
        host, ip = rng.choice(HOSTS), f"10.1.{rng.randrange(3)}.{rng.randrange(40)}"
        t = rng.uniform(0, 86_000)
        referrer, country = rng.choice(REFERRERS), rng.choice(COUNTRIES)
        for e in range(rng.choice((1, 1, 2, 3, 4, 6))):
            extra = {"referrer": referrer} if referrer else {}
            if country:
                extra["geo"] = {"country": country, "city": None}
            if rng.random() < 0.08:
                extra["status"] = rng.choice((404, 500, 503))
            if rng.random() < 0.7:
                extra["load_time_ms"] = rng.choice((120, 250, 250, 400, 980.5))
            extra["event_type"] = rng.choice(EVENT_TYPES)
            late = s % 40 == 0 and e > 0
            if t < 86_400:
                add(D, _t(D, t), ip, host, rng.choice(PAGES), late=late, user_agent=AGENTS[s % 4], **extra)
            t += rng.uniform(5, 290)
    # A session of D-1 that runs into D (not D's), and one of D that runs into D+1 (D's).
    for day, second in ((BEFORE, 86_220), (BEFORE, 86_370), (D, 150)):
        add(day, _t(day, second), "192.0.2.1", "www.dataexpert.io", "/night")
    for day, second in ((D, 86_280), (AFTER, 60), (AFTER, 240)):
        add(day, _t(day, second), "192.0.2.2", "lulu.techcreator.io", "/courses", referrer="https://t.co/abc")
    add(AFTER, _t(AFTER, 3_600), "192.0.2.3", "www.dataexpert.io", "/")
    # Resends of five events of D: the same ids, counted once.
    files[(D, False)].extend(files[(D, False)][10:15])
    return files


@pytest.fixture(scope="module")
def known_day(stack) -> Iterator[tuple[Settings, dict, list[Session]]]:
    base = stack("hive")
    tag = uuid.uuid4().hex[:10]
    settings = dataclasses.replace(
        base, raw_events_dir=f"/data/raw/test_batch_{tag}", hive_database=f"test_batch_{tag}"
    )
    fs = hdfs.webhdfs(settings)
    files = known_events()
    for (day, late), events in files.items():
        root = settings.raw_events_dir + ("_late" if late else "")
        lines = [e.to_json() for e in events] + (INVALID if (day, late) == (D, False) else [])
        data = ("\n".join(lines) + "\n").encode()
        fs.write(f"{root}/dt={day}/part-000-000000000000-000000000099.jsonl", data=data)
    fs.write(f"{settings.raw_events_dir}/dt={D}/_COMPLETE", data=b"{}")
    everything = [e for events in files.values() for e in events]
    expected = [s for s in sessionize(everything, SessionRule.from_settings(settings)) if s.dt == D]
    try:
        yield settings, files, expected
    finally:
        run_hiveserver2(dataclasses.replace(settings, hive_database="default"),
                        f"DROP DATABASE IF EXISTS {settings.hive_database} CASCADE")  # fmt: skip
        for path in (settings.raw_events_dir, settings.raw_events_dir + "_late",
                     f"{settings.warehouse_dir}/{settings.hive_database}.db"):  # fmt: skip
            fs.delete(path, recursive=True)
        with postgres.connect(settings) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM sessions WHERE dt = %s", (D,))
            cur.execute("DELETE FROM domain_daily_stats WHERE dt = %s", (D,))
            for table in postgres_analytics.TABLES:
                cur.execute(f"DELETE FROM {table} WHERE dt = %s", (D,))
            conn.commit()


def websessions(settings: Settings, *args: str, **overrides: str) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, with ``settings`` (and ``overrides``) as its environment."""
    env = {**os.environ, **settings.as_env(), **{f"WEBSESSIONS_{k.upper()}": v for k, v in overrides.items()}}
    return subprocess.run(
        [sys.executable, "-m", "websessions.cli", *args], env=env, capture_output=True, text=True, timeout=900
    )


def hive_rows(settings: Settings, sql: str) -> list[tuple]:
    ((_, rows),) = run_hiveserver2(settings, sql)
    return rows


SESSION_SQL = f"""
SELECT session_id, host, ip, start_ms, end_ms, duration_s, events, pages, first_url, last_url, referrer, user_agent,
       errors, geo.country, geo.region, geo.city, status
FROM web_sessions WHERE dt = '{D}' ORDER BY session_id
"""


def _pg_rows(settings: Settings) -> tuple[list[tuple], list[tuple]]:
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM sessions WHERE dt = %s ORDER BY session_id", (D,))
        sessions = cur.fetchall()
        cur.execute("SELECT * FROM domain_daily_stats WHERE dt = %s ORDER BY host", (D,))
        return sessions, cur.fetchall()


@pytest.fixture(scope="module")
def first_run(known_day) -> tuple[subprocess.CompletedProcess, list[tuple], tuple]:
    settings, _, _ = known_day
    run = websessions(settings, "batch", "--date", D)
    assert run.returncode == 0, run.stderr[-3000:]
    return run, hive_rows(settings, SESSION_SQL), _pg_rows(settings)


def test_an_incomplete_day_is_refused_without_force(known_day) -> None:
    settings, _, _ = known_day
    run = websessions(settings, "batch", "--date", AFTER)
    assert run.returncode == 2
    assert f"day {AFTER} is not complete" in run.stderr and "--force" in run.stderr
    assert sessions_of_day(settings, AFTER) == []


def test_postgres_holds_the_reference_sessions_of_the_day(known_day, first_run) -> None:
    settings, _, expected = known_day
    got = sessions_of_day(settings, D)
    assert got == expected
    assert any(s.end[:10] == AFTER for s in got)  # the session crossing into D+1 is D's, whole
    assert not any(s.ip == "192.0.2.1" for s in got)  # the one from D-1 is not
    run, _, _ = first_run
    assert f"{len(expected)} sessions on" in run.stdout and "rejected 3 " in run.stdout
    assert "collected and COPYed" in run.stdout


def test_the_hive_partition_holds_the_reference_sessions_of_the_day(known_day, first_run) -> None:
    _, _, expected = known_day
    _, rows, _ = first_run
    want = sorted(
        (
            s.session_id, s.host, s.ip, s.start_ms, s.end_ms, s.duration_s, s.events, s.pages, s.first_url,
            s.last_url, s.referrer, s.user_agent, s.errors, *[(s.geo or {}).get(k) for k in GEO_FIELDS], s.status,
        )
        for s in expected
    )  # fmt: skip
    assert rows == want


def test_a_rerun_leaves_identical_rows_in_hive_and_postgres(known_day, first_run) -> None:
    settings, _, expected = known_day
    _, hive_before, pg_before = first_run
    # The rerun takes the large-day path (COPY text files written by Spark): same rows.
    run = websessions(settings, "batch", "--date", D, batch_postgres_collect_max="0")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "COPY text written by Spark" in run.stdout
    assert hive_rows(settings, SESSION_SQL) == hive_before
    assert _pg_rows(settings) == pg_before
    assert len(pg_before[0]) == len(expected) == len({row[0] for row in pg_before[0]})
    assert hive_rows(settings, f"SELECT count(*) FROM web_sessions WHERE dt = '{D}'") == [(len(expected),)]


def test_daily_stats_in_postgres_match_the_reference_sessions(known_day, first_run) -> None:
    settings, _, expected = known_day
    by_host: dict[str, list[Session]] = defaultdict(list)
    for s in expected:
        by_host[s.host].append(s)
    got = {row.host: row for row in daily_stats(settings, D, D)}
    assert set(got) == set(by_host)
    bots = analytics.bot_sessions(analytics.agents_daily(expected))
    assert all(bots.values())  # every host has bot sessions, and people's
    for host, sessions in by_host.items():
        events = sorted(s.events for s in sessions)
        durations = sorted(s.end_ms - s.start_ms for s in sessions)
        n = len(sessions)
        assert got[host] == DailyStats(
            D, host, n, sum(events), pytest.approx(sum(events) / n), max(events), median(events),
            len({s.ip for s in sessions}), pytest.approx(sum(durations) / n / 1000),
            pytest.approx(median(durations) / 1000), pytest.approx(sum(e == 1 for e in events) / n),
            bots[host], pytest.approx(bots[host] / n),
        )  # fmt: skip


def median(values: list[int]) -> float:
    n = len(values)
    return (values[(n - 1) // 2] + values[n // 2]) / 2


# -- the history queries, each against numbers computed here from the reference sessions ------------


def _page(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    return path or "/"


def _session_events(files: dict, expected: list[Session]) -> dict[str, list[Event]]:
    """session_id -> its events (deduplicated, in time order), as the reference rule assigns them."""
    seen: set[tuple] = set()
    by_key: dict[tuple, list[Event]] = defaultdict(list)
    for event in sorted((e for events in files.values() for e in events), key=lambda e: (e.event_time_ms, e.event_id)):
        if (event.ip, event.host, event.event_id) not in seen:
            seen.add((event.ip, event.host, event.event_id))
            by_key[(event.ip, event.host)].append(event)
    return {
        s.session_id: [e for e in by_key[(s.ip, s.host)] if s.start_ms <= e.event_time_ms <= s.end_ms] for s in expected
    }


@pytest.fixture(scope="module")
def oracle(known_day, first_run) -> tuple[list[Session], dict[str, list[Event]]]:
    _, files, expected = known_day
    events = _session_events(files, expected)
    assert sum(len(v) for v in events.values()) == sum(s.events for s in expected)
    return expected, events


def _query(settings: Settings, name: str) -> list[tuple]:
    return hive_rows(settings, (QUERIES_DIR / f"{name}.sql").read_text())


def _top(rows: dict[tuple, tuple], key, limit: int = 10) -> list[tuple]:
    out = []
    per_host: dict[str, list] = defaultdict(list)
    for k, v in rows.items():
        per_host[k[0]].append((k, v))
    for host in sorted(per_host):
        ranked = sorted(per_host[host], key=key)[:limit]
        out += [(*k, *v, rank) for rank, (k, v) in enumerate(ranked, 1)]
    return out


def test_query_avg_events_per_session(known_day, oracle) -> None:
    expected, _ = oracle
    by_host = defaultdict(list)
    for s in expected:
        by_host[s.host].append(s.events)
    want = [(D, h, len(v), sum(v), pytest.approx(sum(v) / len(v), abs=6e-4)) for h, v in sorted(by_host.items())]
    assert _query(known_day[0], "avg_events_per_session") == want


def test_query_techcreator_hosts_each_and_together(known_day, oracle) -> None:
    expected, _ = oracle
    tech = [s for s in expected if s.host.endswith(".techcreator.io")]
    groups = defaultdict(list)
    for s in tech:
        groups[s.host].append(s)
    groups["*.techcreator.io (together)"] = tech

    def row(host: str, sessions: list[Session]) -> tuple:
        n = len(sessions)
        return (
            D, host, n, sum(s.events for s in sessions), pytest.approx(sum(s.events for s in sessions) / n, abs=6e-4),
            len({s.ip for s in sessions}), pytest.approx(sum(s.duration_s for s in sessions) / n, abs=6e-4),
        )  # fmt: skip

    assert len(groups) == 4
    assert _query(known_day[0], "techcreator_hosts") == [row(h, groups[h]) for h in sorted(groups)]


def test_query_top_pages(known_day, oracle) -> None:
    _, events = oracle
    views, sessions = Counter(), defaultdict(set)
    for sid, evs in events.items():
        for e in evs:
            views[(e.host, _page(e.url))] += 1
            sessions[(e.host, _page(e.url))].add(sid)
    rows = {k: (views[k], len(sessions[k])) for k in views}
    assert _query(known_day[0], "top_pages") == _top(rows, key=lambda kv: (-kv[1][0], kv[0][1]))


def test_query_navigation_paths(known_day, oracle) -> None:
    _, events = oracle
    steps = Counter()
    for evs in events.values():
        for a, b in zip(evs, evs[1:], strict=False):
            steps[(a.host, _page(a.url), _page(b.url))] += 1
    rows = {k: (n,) for k, n in steps.items()}
    assert _query(known_day[0], "navigation_paths") == _top(rows, key=lambda kv: (-kv[1][0], kv[0][1], kv[0][2]))


def test_query_referrers(known_day, oracle) -> None:
    expected, _ = oracle
    counts = defaultdict(lambda: [0, 0])
    for s in expected:
        key = (s.host, (urlsplit(s.referrer).hostname if s.referrer else None) or "(direct)")
        counts[key][0] += 1
        counts[key][1] += s.events
    totals = Counter()
    for (host, _), (n, _) in counts.items():
        totals[host] += n
    want = sorted(
        ((h, r, n, e, pytest.approx(n / totals[h], abs=6e-5)) for (h, r), (n, e) in counts.items()),
        key=lambda row: (row[0], -row[2], row[1]),
    )
    assert _query(known_day[0], "referrers") == want


def test_query_countries(known_day, oracle) -> None:
    expected, _ = oracle
    counts = defaultdict(lambda: [0, 0])
    for s in expected:
        country = (s.geo or {}).get("country") or "unknown"
        counts[country][0] += 1
        counts[country][1] += s.events
    total = len(expected)
    want = sorted(
        ((c, n, e, pytest.approx(n / total, abs=6e-5)) for c, (n, e) in counts.items()), key=lambda r: (-r[1], r[0])
    )
    assert _query(known_day[0], "countries") == want


def test_query_error_rates(known_day, oracle) -> None:
    _, events = oracle
    counts = defaultdict(Counter)
    for evs in events.values():
        for e in evs:
            c = counts[e.host]
            c["events"] += 1
            c["errors"] += e.is_error
            c["client"] += e.status is not None and 400 <= e.status < 500
            c["server"] += e.status is not None and e.status >= 500
    want = [
        (D, h, c["events"], c["errors"], c["client"], c["server"], pytest.approx(c["errors"] / c["events"], abs=6e-5))
        for h, c in sorted(counts.items())
    ]
    assert sum(c["errors"] for c in counts.values()) > 0
    assert _query(known_day[0], "error_rates") == want


def test_query_sections(known_day, oracle) -> None:
    _, events = oracle
    views, sessions = Counter(), defaultdict(set)
    for sid, evs in events.items():
        for e in evs:
            section = _page(e.url).split("/")[1] or "/"
            views[(e.host, section)] += 1
            sessions[(e.host, section)].add(sid)
    want = sorted(
        ((h, s, v, len(sessions[(h, s)]), pytest.approx(v / len(sessions[(h, s)]), abs=6e-4))
         for (h, s), v in views.items()),
        key=lambda r: (r[0], -r[2], r[1]),
    )  # fmt: skip
    assert _query(known_day[0], "sections") == want


def test_the_hive_cli_runs_a_query_file(known_day, first_run) -> None:
    settings, _, _ = known_day
    run = websessions(settings, "hive", "-f", str(QUERIES_DIR / "error_rates.sql"), "--format", "tsv")
    assert run.returncode == 0, run.stderr[-2000:]
    header, *rows = run.stdout.strip().splitlines()
    assert header.split("\t") == ["dt", "host", "events", "errors", "client_errors", "server_errors", "error_rate"]
    assert {row.split("\t")[1] for row in rows} == {h for h in HOSTS}


# -- the Postgres store's atomic replacement --------------------------------------------------------


def test_a_failed_replacement_leaves_the_day_as_it_was(known_day, first_run) -> None:
    settings, _, expected = known_day
    before = _pg_rows(settings)
    stranger = dataclasses.replace(expected[0], start_ms=expected[0].start_ms + 86_400_000)  # starts on D+1
    with pytest.raises(ValueError, match="do not start on"):
        replace_day(settings, D, [*expected[1:], stranger], [])
    assert _pg_rows(settings) == before
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'sessions_stage_%%'")
        assert cur.fetchone() == (0,)  # no staging table left behind


# -- the analytics tables (websessions.analytics is the reference), in Hive and through the store reads --


@pytest.fixture(scope="module")
def reference(known_day, first_run) -> dict:
    """The reference analytics of D: sessions, their events and every table's rows."""
    settings, files, expected = known_day
    rule = SessionRule.from_settings(settings)
    events = analytics.events_by_session(expected, [e for evs in files.values() for e in evs], rule)
    assert sum(len(v) for v in events.values()) == sum(s.events for s in expected)
    return {
        "sessions": expected,
        "events": events,
        "agents_daily": analytics.agents_daily(expected),
        "event_types_daily": analytics.event_types_daily(events),
        "load_times_daily": analytics.load_times_daily(events),
        "hourly_trends": analytics.hourly_trends(expected, events),
        "page_covisits_daily": analytics.page_covisits(expected, events, settings.recommend_top_k),
    }


def _fields(row) -> tuple:
    return dataclasses.astuple(row)


@pytest.mark.parametrize("table", postgres_analytics.TABLES)
def test_each_analytics_table_in_hive_equals_the_reference(known_day, reference, table) -> None:
    settings, _, _ = known_day
    columns = [c.replace("hour_ms", "unix_timestamp(hour) * 1000") for c in postgres_analytics.COLUMNS[table]]
    rows = hive_rows(settings, f"SELECT {', '.join(columns)} FROM {table} WHERE dt = '{D}'")
    want = [_fields(r) for r in reference[table]]
    assert want and sorted(rows, key=repr) == sorted(want, key=repr)


def test_the_reference_day_has_ties_bots_and_several_classes(reference) -> None:
    agents = reference["agents_daily"]
    assert {r.device_class for r in agents} == {"desktop", "mobile", "bot"}
    assert {r.browser_family for r in agents} >= {"Chrome", "Mobile Safari", "Googlebot", "Other"}
    ranks = defaultdict(list)
    for r in reference["page_covisits_daily"]:
        ranks[(r.host, r.page)].append(r.sessions)
    assert any(len(set(v)) < len(v) for v in ranks.values())  # a tie ranked by page
    hosts = [r for r in reference["load_times_daily"] if r.page is None]
    assert len(hosts) == len(HOSTS) and all(r.p50_ms <= r.p95_ms <= r.p99_ms for r in hosts)


def test_analytics_in_postgres_through_the_store_reads(known_day, reference) -> None:
    settings, _, expected = known_day
    shares = defaultdict(lambda: [0, 0])
    for r in reference["agents_daily"]:
        c = shares[(r.host, r.browser_family, r.os_family, r.device_class, r.is_bot)]
        c[0] += r.sessions
        c[1] += r.events
    got = postgres_analytics.agent_shares(settings, D, D)
    assert sorted((r.host, *_fields(r.agent), r.sessions, r.events) for r in got) == sorted(
        (*k, n, e) for k, (n, e) in shares.items()
    )
    assert sorted(_fields(r) for r in postgres_analytics.event_type_counts(settings, D, D)) == sorted(
        _fields(r) for r in reference["event_types_daily"]
    )
    assert sorted((r.host, r.page or "", *_fields(r)[2:]) for r in postgres_analytics.load_times(settings, D)) == (
        sorted((r.host, r.page or "", *_fields(r)[2:]) for r in reference["load_times_daily"])
    )
    series = postgres_analytics.hourly_series(settings, D, D)
    assert [
        (p.host, parse_time_ms(p.hour), p.events, p.sessions_started, p.active_users, p.errors) for p in series
    ] == [_fields(r) for r in reference["hourly_trends"]]
    for r in reference["page_covisits_daily"][:5]:
        recs = postgres_analytics.recommendations(settings, r.host, r.page + "?utm=x", D)
        assert [(x.rank, x.also_viewed, x.sessions) for x in recs] == [
            (y.rank, y.also_viewed, y.sessions)
            for y in reference["page_covisits_daily"]
            if (y.host, y.page) == (r.host, r.page)
        ]
    bots = {(r.host, r.user_agent) for r in reference["agents_daily"] if r.is_bot}
    for by in analytics.SESSION_RANKINGS:
        top = postgres_analytics.top_sessions(settings, D, 7, by)
        assert [t.session for t in top] == analytics.top_sessions(expected, 7, by)
        assert [t.is_bot for t in top] == [(t.session.host, t.session.user_agent or "") in bots for t in top]
    host = HOSTS[0]
    assert [t.session for t in postgres_analytics.top_sessions(settings, D, 3, "duration", host)] == (
        analytics.top_sessions(expected, 3, "duration", host)
    )


def test_query_bot_share(known_day, reference) -> None:
    counts = defaultdict(Counter)
    for r in reference["agents_daily"]:
        c = counts[r.host]
        c["sessions"] += r.sessions
        c["bots"] += r.sessions if r.is_bot else 0
        c[r.device_class] += r.sessions
    want = [
        (D, h, c["sessions"], c["bots"], pytest.approx(c["bots"] / c["sessions"], abs=6e-5), c["mobile"], c["tablet"],
         c["desktop"])
        for h, c in sorted(counts.items())
    ]  # fmt: skip
    assert _query(known_day[0], "bot_share") == want


def test_query_slowest_pages(known_day, reference) -> None:
    rows = reference["load_times_daily"]
    want = []
    for host in sorted({r.host for r in rows}):
        (total,) = [r for r in rows if r.host == host and r.page is None]
        pages = sorted((r for r in rows if r.host == host and r.page), key=lambda r: (-r.p95_ms, r.page))[:10]
        want += [(D, *dataclasses.astuple(r), rank) for rank, r in enumerate([total, *pages])]
    assert _query(known_day[0], "slowest_pages") == want
