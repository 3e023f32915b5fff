"""The collector's pure rules: framing decisions, bounded replies, pixel event ids, CORS."""

from __future__ import annotations

import json

import pytest

from websessions.collector.framing import (
    MAX_LISTED_ERRORS,
    CorsPolicy,
    Framing,
    Refusal,
    pixel_event,
    pixel_event_id,
    request_framing,
    split_events,
    summarize,
)
from websessions.events import Rejection, parse_event
from websessions.settings import Settings

LIMIT = 65536


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"content-length", b"120")], Framing(120, False)),
        ([(b"content-length", b"0")], Framing(0, False)),
        ([(b"content-length", b"65536")], Framing(65536, False)),
        ([(b"transfer-encoding", b"chunked")], Framing(None, True)),
        ([(b"transfer-encoding", b"Chunked ")], Framing(None, True)),
        ([(b"content-length", b"5"), (b"content-length", b"5")], Framing(5, False)),
    ],
)
def test_well_framed_bodies_may_be_read(headers, expected) -> None:
    assert request_framing("POST", headers, LIMIT) == expected


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ([(b"content-length", b"-1")], 400, "bad_length"),
        ([(b"content-length", b"abc")], 400, "bad_length"),
        ([(b"content-length", b"+12")], 400, "bad_length"),
        ([(b"content-length", b"1e3")], 400, "bad_length"),
        ([(b"content-length", b"9" * 40)], 400, "bad_length"),
        ([(b"content-length", b"5"), (b"content-length", b"6")], 400, "bad_length"),
        ([(b"content-length", b"65537")], 413, "too_large"),
        ([(b"content-length", b"10000000")], 413, "too_large"),
        ([], 411, "length_required"),
        ([(b"transfer-encoding", b"gzip")], 400, "bad_framing"),
        ([(b"transfer-encoding", b"gzip, chunked")], 400, "bad_framing"),
        ([(b"transfer-encoding", b"chunked"), (b"content-length", b"5")], 400, "bad_framing"),
    ],
)
def test_bad_framing_is_refused_from_the_head_alone(headers, status, reason) -> None:
    refusal = request_framing("POST", headers, LIMIT)
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.reason) == (status, reason)
    assert refusal.message
    # Only a refused payload goes to the dead-letter topic; protocol errors are not events.
    assert refusal.dead_letter is (status == 413)


def test_a_get_without_length_has_an_empty_body() -> None:
    assert request_framing("GET", [], LIMIT) == Framing(0, False)


def test_events_are_split_by_content_type() -> None:
    assert split_events(b"application/json; charset=utf-8", b'{"a":1}\n{"b":2}') == [b'{"a":1}\n{"b":2}']
    assert split_events(b"text/plain", b"{}") == [b"{}"]
    assert split_events(b"application/x-ndjson", b'{"a":1}\n\n  \n{"b":2}\r\n') == [b'{"a":1}', b'{"b":2}']
    assert split_events(b"Application/JSONL", b"{}\n{}") == [b"{}", b"{}"]
    refusal = split_events(b"application/xml", b"<a/>")
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.reason, refusal.dead_letter) == (415, "bad_content_type", True)
    assert isinstance(split_events(b"", b"{}"), Refusal)


def test_replies_list_at_most_ten_errors_whatever_the_batch() -> None:
    rejections = [(i, Rejection("malformed_json", f"line {i}")) for i in range(0, 100_000, 2)]
    status, body = summarize(100_000, rejections)
    assert status == 207
    assert (body["accepted"], body["rejected"]) == (50_000, 50_000)
    assert len(body["errors"]) == MAX_LISTED_ERRORS
    assert body["errors"][0] == {"index": 0, "reason": "malformed_json", "message": "line 0"}
    assert body["errors_omitted"] == 50_000 - MAX_LISTED_ERRORS
    assert len(json.dumps(body)) < 2000


@pytest.mark.parametrize(
    ("total", "rejected", "status"),
    [(5, 0, 202), (5, 5, 400), (5, 2, 207), (1, 1, 400), (0, 0, 400)],
)
def test_reply_status_says_how_much_was_accepted(total, rejected, status) -> None:
    got, body = summarize(total, [(i, Rejection("bad_ip", "x")) for i in range(rejected)])
    assert got == status
    assert "errors_omitted" not in body
    assert bool(body["errors"]) is (status != 202)  # an error reply always says why


HEADERS = {b"user-agent": b"Mozilla/5.0 test", b"host": b"zachwilson.tech:443", b"referer": b"https://zachwilson.tech/"}


def test_a_retried_pixel_without_an_id_or_time_gets_the_same_event_id() -> None:
    query = b"url=/pricing&host=zachwilson.tech&r=8x1"
    first = json.loads(pixel_event(query, HEADERS, "198.51.100.4", now_ms=1_790_000_000_000))
    retry = json.loads(pixel_event(query, HEADERS, "198.51.100.4", now_ms=1_790_000_004_321))
    assert first["event_time"] != retry["event_time"]  # the server's clock fills the time ...
    assert first["event_id"] == retry["event_id"] == pixel_event_id("198.51.100.4", "Mozilla/5.0 test", query)
    # ... but another page, visitor or agent is another event.
    assert (
        json.loads(pixel_event(b"url=/other&host=zachwilson.tech", HEADERS, "198.51.100.4", 0))["event_id"]
        != (first["event_id"])
    )
    assert pixel_event_id("198.51.100.5", "Mozilla/5.0 test", query) != first["event_id"]
    assert pixel_event_id("198.51.100.4", "curl/8", query) != first["event_id"]


def test_a_client_side_event_id_wins_and_the_pixel_event_is_valid() -> None:
    query = b"url=/pricing&eid=abc-123&event_time=2026-11-20T10:15:30.123Z"
    raw = pixel_event(query, HEADERS, "198.51.100.4", now_ms=1_800_000_000_000)
    event = parse_event(raw, now_ms=1_800_000_000_000)
    assert event.event_id == "abc-123"
    assert (event.ip, event.host, event.url) == ("198.51.100.4", "zachwilson.tech", "/pricing")
    assert (event.referrer, event.user_agent) == ("https://zachwilson.tech/", "Mozilla/5.0 test")
    assert event.event_time == "2026-11-20T10:15:30.123Z"
    assert "eid" not in event.extra
    assert parse_event(pixel_event(b"url=/&event_id=e-9", HEADERS, "198.51.100.4", 0), now_ms=0).event_id == "e-9"


def test_the_forwarded_client_is_the_pixel_ip() -> None:
    headers = {**HEADERS, b"x-forwarded-for": b"203.0.113.9, 10.0.0.1"}
    assert json.loads(pixel_event(b"url=/", headers, "10.0.0.1", 0))["ip"] == "203.0.113.9"


def test_cors_echoes_only_the_monitored_sites() -> None:
    policy = CorsPolicy(Settings().collector_cors_origins)
    assert len(policy.origins) == len(Settings().report_hosts.split(","))
    site = b"https://www.dataexpert.io"
    assert (b"access-control-allow-origin", site) in policy.headers(site)
    for other in (b"https://evil.example", b"http://www.dataexpert.io", b"null", None):
        assert all(name != b"access-control-allow-origin" for name, _ in policy.headers(other))
    status, headers = policy.preflight(site)
    assert status == 204
    assert dict(headers)[b"access-control-allow-methods"] == b"GET, POST, OPTIONS"
    assert dict(headers)[b"access-control-allow-headers"] == b"content-type"
    assert policy.preflight(b"https://evil.example")[0] == 403
    assert CorsPolicy(" https://a.example/ ,").allows(b"https://A.example")


def test_default_cors_origins_are_the_report_hosts_over_https() -> None:
    settings = Settings()
    assert settings.collector_cors_origins.split(",") == [f"https://{h}" for h in settings.report_hosts.split(",")]
