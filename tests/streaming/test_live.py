"""The HBase writer's live view, without services: bucket chaining, merges, closing, leftovers; row keys."""

from __future__ import annotations

import json

from streaming.live import LiveSessions, Partial, closed_session, first_event
from websessions.events import format_time_ms
from websessions.sessions import SessionRule, session_from_aggregates
from websessions.stores.hbase_sessions import row_key, start_of, user_prefix

RULE = SessionRule(timeout_ms=300_000, allowed_lateness_ms=60_000)
T0 = 1_795_170_000_000  # 2026-11-20T10:20:00Z, a whole minute


def key(t: int, event_id: str, url: str, geo: dict | None = None) -> str:
    payload = json.dumps([url, "https://ref/", "UA", json.dumps(geo) if geo else None])
    return f"{format_time_ms(t)}{event_id}\x00{payload}"


def partial(t_first: int, t_last: int, events: int = 1, urls: tuple[str, ...] = ("/",)) -> Partial:
    return Partial(
        bucket=t_first // 60_000,
        events=events,
        errors=0,
        first_key=key(t_first, "a", urls[0]),
        last_key=f"{format_time_ms(t_last)}z\x00{urls[-1]}",
        urls=urls,
    )


def test_first_event_key_decodes_url_referrer_agent_and_geo() -> None:
    first = first_event(key(T0, "id|with\x00odd", "/ü?q=1", {"country": "NL", "city": None}))
    assert (first.time_ms, first.url, first.referrer, first.user_agent) == (T0, "/ü?q=1", "https://ref/", "UA")
    assert first.geo == {"country": "NL", "city": None}


def test_buckets_within_the_timeout_chain_into_one_open_session() -> None:
    live = LiveSessions(RULE)
    live.on_partial("h", "1.1.1.1", partial(T0, T0 + 10_000, urls=("/a",)))
    change = live.on_partial("h", "1.1.1.1", partial(T0 + 310_000, T0 + 320_000, events=2, urls=("/a", "/b")))
    ((session, buckets),) = change.puts
    assert (session.start_ms, session.end_ms, session.events, session.pages, session.status) == (
        T0,
        T0 + 320_000,
        3,
        2,
        "open",
    )
    assert list(buckets) == [(T0 + 310_000) // 60_000] and change.deletes == []


def test_gap_over_the_timeout_makes_two_rows_and_a_bridge_merges_them() -> None:
    live = LiveSessions(RULE)
    live.on_partial("h", "ip", partial(T0, T0))
    change = live.on_partial("h", "ip", partial(T0 + 420_000, T0 + 420_000))  # 7 min later: a new session
    assert [s.start_ms for s, _ in change.puts] == [T0 + 420_000]
    bridge = live.on_partial("h", "ip", partial(T0 + 240_000, T0 + 240_000))  # 4 min: touches both
    assert bridge.deletes == [("h", "ip", T0 + 420_000)]
    ((merged, buckets),) = bridge.puts
    assert (merged.start_ms, merged.end_ms, merged.events) == (T0, T0 + 420_000, 3)
    assert len(buckets) == 3  # the merged row carries every bucket, so it can be rebuilt after a restart


def test_closing_forgets_the_buckets_drops_other_rows_and_ignores_stale_updates() -> None:
    live = LiveSessions(RULE)
    live.on_partial("h", "ip", partial(T0 + 60_000, T0 + 60_000))  # the live view missed the first event
    closed = session_from_aggregates("h", "ip", T0, T0 + 60_000, 2, 1, "/", "/", status="closed")
    change = live.on_closed(closed)
    assert change.deletes == [("h", "ip", T0 + 60_000)] and live.keys == {}
    assert live.on_partial("h", "ip", partial(T0 + 60_000, T0 + 60_000)).puts == []  # raced the watermark


def test_sweep_drops_open_rows_long_past_their_close() -> None:
    live = LiveSessions(RULE)
    live.on_partial("h", "old", partial(T0, T0))
    live.on_partial("h", "new", partial(T0 + 3_600_000, T0 + 3_600_000))
    change = live.sweep(grace_ms=300_000)
    assert change.deletes == [("h", "old", T0)] and set(live.keys) == {("h", "new")}


def test_closed_row_converts_the_window_end_to_the_last_event() -> None:
    row = {
        "host": "h", "ip": "ip", "t_start": format_time_ms(T0), "t_end": format_time_ms(T0 + 30_000 + 300_000),
        "events": 2, "pages": 2, "errors": 1, "first_event": key(T0, "a", "/a"),
        "last_event": f"{format_time_ms(T0 + 30_000)}b\x00/b",
    }  # fmt: skip
    session = closed_session(row, RULE)
    assert (session.end_ms, session.last_url, session.status, session.errors) == (T0 + 30_000, "/b", "closed", 1)


def test_row_keys_list_a_users_sessions_newest_first() -> None:
    keys = [row_key("h", "1.2.3.4", t) for t in (T0, T0 + 1, T0 + 86_400_000)]
    assert sorted(keys) == keys[::-1]
    assert all(k.startswith(user_prefix("h", "1.2.3.4")) for k in keys)
    assert not row_key("h", "1.2.3.45", T0).startswith(user_prefix("h", "1.2.3.4"))
    assert [start_of(k) for k in keys] == [T0, T0 + 1, T0 + 86_400_000]
