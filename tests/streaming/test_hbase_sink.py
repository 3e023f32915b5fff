"""The HBase writer's bookkeeping of the job's update rows (no services: nothing is flushed here)."""

from __future__ import annotations

import orjson

from streaming.hbase_sink import SpeedSink
from streaming.updates import session_of_update
from websessions.events import format_time_ms
from websessions.sessions import CLOSED, OPEN
from websessions.settings import load_settings
from websessions.stores.hbase_sessions import row_key, start_of, user_prefix

T0 = 1_764_633_600_000  # 2025-12-02T00:00:00Z
HOST, IP = "www.example.io", "203.0.113.9"


def row(kind: str, start: int, end: int | None = None, events: int = 2) -> dict:
    if kind == "drop":
        return {"kind": "drop", "host": HOST, "ip": IP, "t_start": format_time_ms(start)}
    return {
        "kind": kind, "host": HOST, "ip": IP, "t_start": format_time_ms(start), "t_end": format_time_ms(end),
        "events": events, "pages": 1, "errors": 0, "first_url": "/a", "last_url": "/b",
        "referrer": None, "user_agent": "ua", "geo": '{"country":"NL"}',
    }  # fmt: skip


def sink() -> SpeedSink:
    return SpeedSink(load_settings(create_secrets=False))


def apply(s: SpeedSink, *rows: dict) -> None:
    for r in rows:
        s.apply(orjson.dumps(r))


def test_an_update_row_becomes_the_session_record() -> None:
    session = session_of_update(row("open", T0, T0 + 90_000, events=3))
    assert (session.status, session.start_ms, session.end_ms, session.events) == (OPEN, T0, T0 + 90_000, 3)
    assert session.geo == {"country": "NL"} and session.duration_s == 90.0
    assert session_of_update(row("session", T0, T0 + 1)).status == CLOSED


def test_the_newest_row_of_a_session_start_wins_within_a_flush() -> None:
    s = sink()
    apply(s, row("open", T0, T0 + 1_000), row("open", T0, T0 + 5_000, events=3))
    assert [x.end_ms for x in s._open.values()] == [T0 + 5_000]
    apply(s, row("drop", T0))  # merged into another start: the live view goes
    assert not s._open and s._open_deletes == {(HOST, IP, T0)}
    apply(s, row("open", T0, T0 + 6_000))  # back again (a replay): a put, no delete
    assert not s._open_deletes and len(s._open) == 1


def test_a_closed_record_is_final() -> None:
    s = sink()
    apply(s, row("open", T0, T0 + 1_000), row("session", T0, T0 + 2_000), row("open", T0, T0 + 1_000))
    assert not s._open and list(s._closed) == [(HOST, IP, T0)]
    apply(s, row("drop", T0))
    assert not s._open_deletes
    assert s.kinds == {"open": 2, "session": 1, "drop": 1}


def test_the_newest_count_of_a_top_list_item_wins_within_a_flush() -> None:
    s = sink()
    top = {"host": HOST, "bucket": T0 // 60_000, "first_url": "/a"}
    apply(s, {**top, "kind": "top_page", "events": 1}, {**top, "kind": "top_page", "events": 4},
          {**top, "kind": "top_referrer", "first_url": "(direct)", "events": 2})  # fmt: skip
    assert s._top == {(HOST, T0 // 60_000, "top_page", "/a"): 4, (HOST, T0 // 60_000, "top_referrer", "(direct)"): 2}
    assert s.pending == 2


def test_sweep_drops_live_rows_long_past_their_close_only() -> None:
    s = sink()
    s.open_rows = {(HOST, IP, T0): T0 + 1_000, (HOST, IP, T0 + 3_600_000): T0 + 3_600_000}
    apply(s, row("open", T0 + 3_600_000, T0 + 3_700_000))  # moves the estimated watermark on
    horizon = T0 + 3_700_000 - s.rule.allowed_lateness_ms - 2 * s.rule.timeout_ms
    assert T0 + 1_000 < horizon < T0 + 3_600_000
    assert s.sweep(grace_ms=s.rule.timeout_ms) == 1
    assert s._open_deletes == {(HOST, IP, T0)}


def test_row_keys_list_a_users_sessions_newest_first() -> None:
    keys = [row_key(HOST, IP, T0 + d) for d in (0, 1, 86_400_000)]
    assert sorted(keys) == keys[::-1]
    assert all(k.startswith(user_prefix(HOST, IP)) for k in keys)
    assert [start_of(k) for k in keys] == [T0, T0 + 1, T0 + 86_400_000]
