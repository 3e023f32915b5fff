"""The live top lists on the real speed layer: Kafka -> the PyFlink job (its JVM counts) -> HBase -> the read model.

A bounded, known input (two hosts, the last 70 minutes: pages with query strings and fragments, referrers with
upper case, ports, user info, ``-`` and none, a producer's retry of one event, ties) is published through the
ingest path on a private topic; the job (``websessions speed run``) writes private HBase tables. The lists
read back (:func:`websessions.live_top.live_top_lists`: pages and referrers, last 5 and 60 minutes, per host)
must equal the plain-Python reference (:func:`websessions.live_top.reference_top_lists`) of the same events.
Nothing has to close: pages count per event and referrers per session start, both within the emit interval.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator

import pytest

from streaming.runner import read_stats, speed_dir
from tests.integration.datasets import kafka_topics, private_settings
from websessions.background import BackgroundJob
from websessions.events import Event, format_time_ms, validate
from websessions.ingest import publish_lines
from websessions.live_top import WINDOWS_MIN, live_top_lists, reference_top_lists
from websessions.sessions import SessionRule
from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions

pytestmark = pytest.mark.integration

HOSTS = ("shop.toplist.test", "blog.toplist.test")
PAGES = ("/", "/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i", "/j", "/k", "/l")
REFERRERS = (
    None, "-", "", "https://Search.Example/q?x=1", "http://news.example:8080/item", "https://user@social.example/p",
    "https://search.example/other", "android-app://com.example.app/", "not a url",
)  # fmt: skip


@pytest.fixture
def private(stack) -> Iterator[Settings]:
    """Settings with a private topic, HBase tables and checkpoint directory."""
    fields = ("kafka_topic_events", "kafka_topic_session_updates", "hbase_table_sessions", "hbase_table_live_metrics")
    private = private_settings(stack("kafka", "hbase"), "toplists", *fields)
    with kafka_topics(private, private.kafka_topic_events, private.kafka_topic_session_updates):
        yield private
    with HBaseSessions(private) as store:
        store.drop_tables()
    shutil.rmtree(speed_dir(private), ignore_errors=True)


def known_events(now_ms: int) -> list[Event]:
    """Visits over the 70 minutes before ``now_ms``, in event time (so none is late): each visitor (ip) lands with
    a referrer and reads a few pages (with queries and fragments) a few seconds apart; visitors come back after more
    than the session timeout, so an ip has several sessions; one event is sent twice (a producer's retry)."""
    rng = random.Random(17)
    raw = []
    start = now_ms - 70 * 60_000
    for visit in range(160):
        t = start + rng.randrange(70 * 60_000 - 60_000)
        ip = f"198.51.100.{visit % 40}"
        host = HOSTS[visit % 2] if visit % 7 else HOSTS[0]
        referrer = REFERRERS[rng.randrange(len(REFERRERS))]
        for step in range(rng.randrange(1, 6)):
            page = PAGES[min(int(rng.expovariate(0.35)), len(PAGES) - 1)]
            url = page + rng.choice(("", "?utm_source=x", "#top", "?q=1#f"))
            raw.append({"event_id": f"v{visit}-{step}", "ip": ip, "host": host, "url": url, "referrer": referrer,
                        "event_time": format_time_ms(t + step * 7_000), "status": 200})  # fmt: skip
    raw.sort(key=lambda r: r["event_time"])
    raw.insert(len(raw) // 2, dict(raw[len(raw) // 2]))  # a retry: the same event again, right after it
    events = []
    for record in raw:
        event = validate(json.dumps({k: v for k, v in record.items() if v is not None}))
        assert isinstance(event, Event), event
        events.append(event)
    return events


def test_live_top_lists_from_the_real_speed_layer_equal_the_reference(private: Settings) -> None:
    now_ms = int(time.time() * 1000) - 30_000
    events = known_events(now_ms)
    rule = SessionRule.from_settings(private)
    last_ms = max(e.event_time_ms for e in events)
    expected = {m: reference_top_lists(events, rule, last_ms, m) for m in WINDOWS_MIN}
    # The input is worth testing: both hosts in both windows, full page lists (ties among them), several referrers.
    for m in WINDOWS_MIN:
        assert set(expected[m]) == set(HOSTS)
    assert all(len(expected[60][h].pages) == 10 and len(expected[60][h].referrers) >= 5 for h in HOSTS)

    job = BackgroundJob(private, f"speed-test-{private.kafka_topic_events}", ["speed", "run"], stop_timeout_s=90)
    job.start()
    try:
        assert publish_lines(private, [e.to_json() for e in events]).dead_lettered == 0

        def read() -> dict:
            return {m: {h: live_top_lists(private, h, m, now_ms=last_ms) for h in HOSTS} for m in WINDOWS_MIN}

        deadline = time.monotonic() + 240
        got = read()
        while got != expected and time.monotonic() < deadline:
            assert job.pid() is not None, f"the speed job stopped: {job.status_line()}"
            time.sleep(2)
            got = read()
        for m in WINDOWS_MIN:
            for h in HOSTS:
                assert (m, got[m][h]) == (m, expected[m][h]), f"speed job: {read_stats(private)}"
    finally:
        job.stop()


def test_the_update_topic_writers_top_counts_read_back_summed_over_the_window(private: Settings) -> None:
    """The cluster's path (update topic -> Python writer) stores the counts the JVM sink stores, read alike."""
    last = int(time.time() * 1000) // 60_000
    host = HOSTS[0]
    with HBaseSessions(private) as store:
        store.ensure_table()
        counts = {(host, last, "p", "/a"): 3, (host, last - 4, "p", "/b"): 5, (host, last - 5, "p", "/c"): 9,
                  (host, last, "r", "(direct)"): 2, (host, last - 59, "r", "x.example"): 1,
                  (host, last - 60, "r", "y.example"): 7, (HOSTS[1], last, "p", "/z"): 8}  # fmt: skip
        assert store.put_top_counts(counts.items()) == len(counts)
    recent = live_top_lists(private, host, 5, now_ms=last * 60_000)
    assert (recent.pages, recent.referrers) == ([("/b", 5), ("/a", 3)], [("(direct)", 2)])
    hour = live_top_lists(private, host, 60, now_ms=last * 60_000 + 59_999)
    assert (hour.pages, hour.referrers) == ([("/c", 9), ("/b", 5), ("/a", 3)], [("(direct)", 2), ("x.example", 1)])
