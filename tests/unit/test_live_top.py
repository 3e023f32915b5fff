"""The live top lists' definitions and reference (websessions.live_top), without services."""

from __future__ import annotations

import json

import pytest

from websessions.events import Event, format_time_ms, validate
from websessions.live_top import OTHER, ranked, reference_top_lists, referrer_host, window
from websessions.sessions import SessionRule
from websessions.settings import load_settings

T0 = 1_796_000_000_000 - 1_796_000_000_000 % 60_000  # a minute's start


@pytest.mark.parametrize(
    ("referrer", "host"),
    [
        (None, "(direct)"),
        ("", "(direct)"),
        ("-", "(direct)"),
        ("not a url", "(direct)"),
        ("https://Search.Example/q?x=1", "search.example"),
        ("http://news.example:8080/item", "news.example"),
        ("https://user@social.example/p", "user"),  # the batch's pattern stops at "@" too
        ("android-app://com.example.app/", "com.example.app"),
        ("1http://x.example/", "(direct)"),  # a scheme starts with a letter
    ],
)
def test_a_referrer_host_is_what_the_batch_extracts(referrer: str | None, host: str) -> None:
    assert referrer_host(referrer) == host


def test_ranked_orders_by_count_then_item_and_leaves_out_other_and_zero() -> None:
    counts = {"/b": 3, "/a": 3, "/c": 5, OTHER: 9, "/gone": 0, "/d": 1}
    assert ranked(counts, 3) == [("/c", 5), ("/a", 3), ("/b", 3)]


def test_a_window_ends_with_the_minute_of_now() -> None:
    assert window(T0 + 59_999, 5) == (T0 // 60_000 - 4, T0 // 60_000)
    with pytest.raises(ValueError):
        window(T0, 0)


def event(t_ms: int, ip: str, url: str, referrer: str | None = None, event_id: str | None = None) -> Event:
    raw = {"event_time": format_time_ms(t_ms), "ip": ip, "host": "h.test", "url": url,
           "event_id": event_id or f"{ip}-{t_ms}"}  # fmt: skip
    if referrer is not None:
        raw["referrer"] = referrer
    found = validate(json.dumps(raw))
    assert isinstance(found, Event)
    return found


def test_pages_count_per_event_in_the_window_and_referrers_per_session_start() -> None:
    rule = SessionRule.from_settings(load_settings(env={}, create_secrets=False))
    events = [
        event(T0 - 6 * 60_000, "10.0.0.1", "/old", "https://a.example/"),  # starts before the 5-minute window
        event(T0 - 60_000, "10.0.0.1", "/x?q=1", "https://a.example/"),  # same session: a view, no new referrer
        event(T0, "10.0.0.2", "/x#top", "https://B.example/"),
        event(T0, "10.0.0.2", "/x#top", "https://B.example/", event_id="10.0.0.2-reload"),
        event(T0 + 1_000, "10.0.0.3", "/y"),
    ]
    lists = reference_top_lists(events, rule, T0, 5)["h.test"]
    assert lists.pages == [("/x", 3), ("/y", 1)]
    assert lists.referrers == [("(direct)", 1), ("b.example", 1)]
    hour = reference_top_lists(events, rule, T0, 60)["h.test"]
    assert hour.pages == [("/x", 3), ("/old", 1), ("/y", 1)]
    assert hour.referrers == [("(direct)", 1), ("a.example", 1), ("b.example", 1)]
