"""The event model: one parser and validator for every entry point."""

from __future__ import annotations

import json

import pytest

from websessions.events import (
    MAX_EVENT_BYTES,
    Event,
    InvalidEvent,
    Rejection,
    dead_letter_record,
    format_time_ms,
    parse_event,
    parse_time_ms,
    validate,
)

NOW_MS = 1_795_255_200_000  # 2026-11-21T10:00:00.000Z
T_MS = 1_795_168_800_000 + 15 * 60_000 + 30_123  # 2026-11-20T10:15:30.123Z
BOOTCAMP = {
    "url": "/blog/flink",
    "referrer": "https://www.google.com/",
    "user_agent": "Mozilla/5.0 (Macintosh)",
    "host": "www.dataexpert.io",
    "ip": "203.0.113.7",
    "headers": '{"accept-language": "en-US"}',
    "event_time": "2026-11-20T10:15:30.123Z",
}


def _event(**changes) -> dict:
    event = dict(BOOTCAMP)
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def test_bootcamp_format_is_accepted_as_it_is() -> None:
    event = parse_event(json.dumps(BOOTCAMP).encode(), now_ms=NOW_MS)
    assert (event.event_time_ms, event.ip, event.host, event.url) == (
        T_MS,
        "203.0.113.7",
        "www.dataexpert.io",
        "/blog/flink",
    )
    assert event.referrer == "https://www.google.com/"
    assert event.user_agent == "Mozilla/5.0 (Macintosh)"
    assert event.headers == '{"accept-language": "en-US"}'
    assert event.event_type == "pageview"
    assert event.status is None and event.geo is None and event.extra == {}
    assert event.dt == "2026-11-20"
    assert event.event_time == "2026-11-20T10:15:30.123Z"


def test_missing_event_id_is_derived_from_content_deterministically() -> None:
    a = parse_event(json.dumps(BOOTCAMP), now_ms=NOW_MS)
    b = parse_event(json.dumps(BOOTCAMP), now_ms=NOW_MS)
    c = parse_event(json.dumps(_event(url="/other")), now_ms=NOW_MS)
    d = parse_event(json.dumps(_event(event_time="2026-11-20T10:15:30.124Z")), now_ms=NOW_MS)
    assert a.event_id == b.event_id
    assert len(a.event_id) == 32 and int(a.event_id, 16) >= 0
    assert len({a.event_id, c.event_id, d.event_id}) == 3


def test_same_event_spelled_differently_gets_the_same_derived_id() -> None:
    a = parse_event(json.dumps(_event(ip="2001:DB8::1", event_time="2026-11-20T10:15:30.123+00:00")), now_ms=NOW_MS)
    b = parse_event(json.dumps(_event(ip="2001:db8:0:0:0:0:0:1")), now_ms=NOW_MS)
    assert a.event_id == b.event_id


def test_explicit_event_id_is_kept() -> None:
    assert parse_event(_event(event_id="e-1"), now_ms=NOW_MS).event_id == "e-1"
    assert parse_event(_event(event_id=42), now_ms=NOW_MS).event_id == "42"


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("2026-11-20T10:15:30.123Z", T_MS),
        ("2026-11-20T10:15:30.123+00:00", T_MS),
        ("2026-11-20T10:15:30Z", T_MS - 123),
        ("2026-11-20T10:15:30.1Z", T_MS - 23),
        ("2026-11-20T10:15:30.123999Z", T_MS),
        ("1970-01-01T00:00:00.000Z", 0),
        ("2024-02-29T00:00:00.000Z", 1_709_164_800_000),
    ],
)
def test_event_time_forms_parse_to_epoch_milliseconds(text: str, expected_ms: int) -> None:
    assert parse_time_ms(text) == expected_ms


def test_time_formatting_is_iso_with_milliseconds_and_z() -> None:
    assert format_time_ms(T_MS) == "2026-11-20T10:15:30.123Z"
    assert format_time_ms(T_MS - 123) == "2026-11-20T10:15:30.000Z"
    assert format_time_ms(0) == "1970-01-01T00:00:00.000Z"


def test_time_formatting_per_minute_cache_matches_the_calendar() -> None:
    """The cached minute prefix gives what strftime gives, across minute, day and year edges."""
    import random
    import time

    rng = random.Random(3)
    samples = [-1, -60_001, 59_999, 60_000, 1_767_225_599_999, 1_767_225_600_000, 253_402_300_799_999]
    samples += [rng.randrange(-(10**12), 10**13) for _ in range(5_000)]
    for ms in samples:
        seconds, millis = divmod(ms, 1000)
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
        assert format_time_ms(ms) == expected, ms
        assert parse_time_ms(expected) == ms


def test_canonical_json_round_trips_and_normalises() -> None:
    raw = _event(
        ip="::FFFF:192.0.2.1",
        host="WWW.DataExpert.IO",
        event_time="2026-11-20T10:15:30+00:00",
        status="404",
        geo={"country": "US", "city": "Austin"},
        load_time_ms=12.5,
        user_id=7,
        utm_source="newsletter",
    )
    event = parse_event(json.dumps(raw), now_ms=NOW_MS)
    assert (event.ip, event.host, event.status, event.user_id) == ("192.0.2.1", "www.dataexpert.io", 404, "7")
    assert event.geo == {"country": "US", "region": None, "city": "Austin"}
    assert event.extra == {"utm_source": "newsletter"}
    assert event.is_error
    record = json.loads(event.to_json())
    assert record["event_time"] == "2026-11-20T10:15:30.000Z"
    assert record["extra"] == {"utm_source": "newsletter"}
    assert parse_event(event.to_json(), now_ms=NOW_MS) == event
    assert parse_event(event.to_json().encode(), now_ms=NOW_MS).to_json() == event.to_json()


def test_ipv6_is_normalised() -> None:
    assert parse_event(_event(ip="2001:0DB8:0000:0000:0000:0000:0000:0001"), now_ms=NOW_MS).ip == "2001:db8::1"


def test_unicode_url_and_idn_host_are_accepted() -> None:
    event = parse_event(json.dumps(_event(url="/café/日本", host="Bücher.example"), ensure_ascii=False), now_ms=NOW_MS)
    assert event.url == "/café/日本"
    assert event.host == "xn--bcher-kva.example"
    assert "/café/日本" in event.to_json()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe{}", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"an event"', "not_an_object"),
        (json.dumps(_event(event_time=None)), "missing_field:event_time"),
        (json.dumps(_event(ip=None)), "missing_field:ip"),
        (json.dumps(_event(host=None)), "missing_field:host"),
        (json.dumps(_event(url=None)), "missing_field:url"),
        (json.dumps(_event(ip=2130706433)), "bad_field:ip"),
        (json.dumps(_event(ip="999.1.1.1")), "bad_ip"),
        (json.dumps(_event(ip="")), "bad_ip"),
        (json.dumps(_event(event_time="2026-11-20 10:15:30.123")), "bad_time"),
        (json.dumps(_event(event_time="2026-11-20T10:15:30.123+02:00")), "bad_time"),
        (json.dumps(_event(event_time="2026-02-30T10:15:30.123Z")), "bad_time"),
        (json.dumps(_event(event_time="2026-11-20T24:00:00.000Z")), "bad_time"),
        (json.dumps(_event(event_time="yesterday")), "bad_time"),
        (json.dumps(_event(event_time="2026-11-21T10:05:00.001Z")), "future_time"),
        (json.dumps(_event(host="exa mple.com")), "bad_host"),
        (json.dumps(_event(host="")), "bad_host"),
        (json.dumps(_event(url="")), "bad_url"),
        (json.dumps(_event(url="/a\nb")), "bad_url"),
        (json.dumps(_event(status=999)), "bad_field:status"),
        (json.dumps(_event(status=True)), "bad_field:status"),
        (json.dumps(_event(referrer=5)), "bad_field:referrer"),
        (json.dumps(_event(headers=[1])), "bad_field:headers"),
        (json.dumps(_event(geo="US")), "bad_field:geo"),
        (json.dumps(_event(load_time_ms=-1)), "bad_field:load_time_ms"),
        (json.dumps(_event(event_id="")), "bad_field:event_id"),
        (json.dumps(_event(url="/" + "x" * MAX_EVENT_BYTES)).encode(), "too_large"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(raw: bytes | str, reason: str) -> None:
    outcome = validate(raw, now_ms=NOW_MS)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == reason
    assert outcome.message
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, now_ms=NOW_MS)
    assert caught.value.reason == reason


def test_future_skew_boundary_is_inclusive_and_configurable() -> None:
    at_limit = _event(event_time=format_time_ms(NOW_MS + 300_000))
    assert isinstance(validate(at_limit, now_ms=NOW_MS), Event)
    over = _event(event_time=format_time_ms(NOW_MS + 300_001))
    assert validate(over, now_ms=NOW_MS).reason == "future_time"
    assert isinstance(validate(over, now_ms=NOW_MS, max_future_skew_ms=400_000), Event)


def test_byte_limit_is_configurable() -> None:
    raw = json.dumps(BOOTCAMP).encode()
    assert isinstance(validate(raw, now_ms=NOW_MS, max_bytes=len(raw)), Event)
    assert validate(raw, now_ms=NOW_MS, max_bytes=len(raw) - 1).reason == "too_large"


def test_rejection_knows_the_event_date_once_the_time_was_read() -> None:
    assert validate(_event(ip="nope"), now_ms=NOW_MS).dt == "2026-11-20"
    assert validate(_event(event_time="nope"), now_ms=NOW_MS).dt is None


def test_dead_letter_record_keeps_reason_payload_and_dates() -> None:
    raw = json.dumps(_event(ip="999.1.1.1")).encode()
    rejection = validate(raw, now_ms=NOW_MS)
    record = dead_letter_record(raw, rejection, rejected_at_ms=NOW_MS)
    assert record["reason"] == "bad_ip"
    assert "999.1.1.1" in record["message"]
    assert json.loads(record["raw"])["ip"] == "999.1.1.1"
    assert record["rejected_at"] == "2026-11-21T10:00:00.000Z"
    assert record["dt"] == "2026-11-20"
    assert record["raw_truncated"] is False
    json.dumps(record)  # the DLQ value must be serialisable

    garbage = dead_letter_record(b"\xff{oops", validate(b"\xff{oops"), rejected_at_ms=NOW_MS)
    assert garbage["reason"] == "malformed_json"
    assert garbage["raw"] == "\ufffd{oops"
    assert garbage["dt"] == "2026-11-21"


def test_fast_time_path_still_validates_seconds_and_digits() -> None:
    assert parse_time_ms("2026-11-20T10:15:30.123Z") == T_MS  # the minute is now known
    for bad in ("2026-11-20T10:15:60.000Z", "2026-11-20T10:15:3x.000Z", "2026-11-20T10:15:30.1٢3Z"):
        with pytest.raises(InvalidEvent) as caught:
            parse_time_ms(bad)
        assert caught.value.reason == "bad_time"
    assert parse_time_ms("2026-11-20T10:15:59.999Z") == T_MS - 30_123 + 59_999
