"""Access logs (combined and common formats) into events: a corpus of real-world-shaped lines, the
simulator's sample, line identity, and the equivalence of a log line with the collector's beacon."""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest

from websessions.access_log import parse_line, validate_line
from websessions.collector.framing import pixel_event
from websessions.events import Event, Rejection, parse_event, parse_time_ms
from websessions.log_tail import file_id_of, fingerprint, split_lines, whole_line_blocks
from websessions.simulator import generate_day
from websessions.simulator.access_log import LogStats, combined_lines

NOW = parse_time_ms("2026-12-07T12:00:00.000Z")
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"

# (line, expected fields of the event); host "default.example" comes from --host unless the line has one.
VALID = [
    (  # Apache's own example: common + user, a zone west of UTC
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
        '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
        dict(
            event_time="2000-10-10T20:55:36.000Z",
            ip="127.0.0.1",
            host="default.example",
            url="/apache_pb.gif",
            referrer="http://www.example.com/start.html",
            user_agent="Mozilla/4.08 [en] (Win98; I ;Nav)",
            status=200,
            user_id="frank",
            extra={"method": "GET", "bytes": 2326},
        ),
    ),
    (  # IPv6 client, a half-hour zone east of UTC, Apache's \" and \\ inside the agent
        '2001:db8:85a3::8a2e:370:7334 - - [07/Dec/2026:17:02:03 +0530] "POST /api/v1/events?a=1&b=%20 HTTP/2.0" '
        '201 17 "https://www.dataexpert.io/courses?utm_source=x" "curl/8.5 \\"quoted\\" C:\\\\agent"',
        dict(
            event_time="2026-12-07T11:32:03.000Z",
            ip="2001:db8:85a3::8a2e:370:7334",
            url="/api/v1/events?a=1&b=%20",
            referrer="https://www.dataexpert.io/courses?utm_source=x",
            user_agent='curl/8.5 "quoted" C:\\agent',
            status=201,
            extra={"method": "POST", "bytes": 17},
        ),
    ),
    (  # Nginx escapes " as \x22 and bytes above 0x7f as \xHH (UTF-8 underneath)
        '203.0.113.9 - - [07/Dec/2026:11:00:00 +0000] "GET /caf\\xC3\\xA9 HTTP/1.1" 404 153 "-" '
        '"Bot \\x22Crawler\\x22 \\xE2\\x9C\\x93"',
        dict(
            event_time="2026-12-07T11:00:00.000Z",
            url="/café",
            referrer=None,
            user_agent='Bot "Crawler" ✓',
            status=404,
            extra={"method": "GET", "bytes": 153},
        ),
    ),
    (  # every optional field "-": no bytes, no referrer, no agent, no user
        '198.51.100.7 - - [07/Dec/2026:11:00:01 +0000] "HEAD / HTTP/1.1" 304 - "-" "-"',
        dict(url="/", referrer=None, user_agent=None, user_id=None, extra={"method": "HEAD", "bytes": None}),
    ),
    (  # the common format: no referrer, no agent
        '198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET /docs HTTP/1.1" 200 5120',
        dict(url="/docs", referrer=None, user_agent=None, status=200, extra={"method": "GET", "bytes": 5120}),
    ),
    (  # Apache's vhost_combined: the virtual host (its port dropped) wins over --host
        f'www.dataexpert.io:443 198.51.100.7 - - [07/Dec/2026:11:00:03 +0000] "GET /pricing HTTP/1.1" 200 9 "-" "{UA}"',
        dict(host="www.dataexpert.io", url="/pricing", user_agent=UA),
    ),
    (  # an IPv6 virtual host with its port, and an IPv4-mapped client address
        '[2001:db8::1]:8080 ::ffff:10.0.0.1 - - [07/Dec/2026:11:00:04 +0000] "GET / HTTP/1.1" 200 9 "-" "-"',
        dict(host="2001:db8::1", ip="10.0.0.1"),
    ),
    (  # Nginx's "main" layout: $http_x_forwarded_for after the agent (ignored)
        '10.1.2.3 - - [07/Dec/2026:11:00:05 +0000] "GET /blog HTTP/1.1" 200 42 "-" "curl/8.5" "198.51.100.1, 10.0.0.1"',
        dict(ip="10.1.2.3", url="/blog", user_agent="curl/8.5"),
    ),
    (  # a zone east of UTC crossing midnight and the year backwards; HTTP/0.9 without a protocol
        '192.0.2.44 - - [01/Jan/2026:00:30:00 +0100] "GET /" 200 12',
        dict(event_time="2025-12-31T23:30:00.000Z", url="/", extra={"method": "GET", "bytes": 12}),
    ),
]

INVALID = [
    ("garbage", "malformed_line"),
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET /docs HTTP/1.1" 200', "malformed_line"),  # cut off
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET /docs HTTP/1.1" 200 12 "-', "malformed_line"),
    ('198.51.100.7 - - 07/Dec/2026:11:00:02 +0000 "GET / HTTP/1.1" 200 12 "-" "-"', "malformed_line"),
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "-" 400 0 "-" "-"', "bad_request"),  # Nginx: no request line
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01" 400 157 "-" "-"', "bad_request"),
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET /a b HTTP/1.1" 400 0 "-" "-"', "bad_request"),
    ('198.51.100.7 - - [32/Dec/2026:11:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
    ('198.51.100.7 - - [07/Dez/2026:11:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +05x0] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
    ('198.51.100.7 - - [07/Dec/2026:11:00:61 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
    ('198.51.100.7 - - [2026-12-07T11:00:02Z] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
    ('999.1.2.3 - - [07/Dec/2026:11:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_ip"),
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET / HTTP/1.1" 999 1 "-" "-"', "bad_field:status"),
    ('198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET /\\x01x HTTP/1.1" 200 1 "-" "-"', "bad_url"),
    ('198.51.100.7 - - [07/Dec/2026:13:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', "future_time"),
    ('bad_host! 198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_host"),
]


@pytest.mark.parametrize(("line", "expected"), VALID, ids=[str(i) for i in range(len(VALID))])
def test_real_world_lines_parse_to_the_expected_event(line: str, expected: dict) -> None:
    event = parse_line(line, "log:0", "default.example", now_ms=NOW)
    record = event.to_dict()
    for name, value in expected.items():
        assert record[name] == value, name
    if "host" not in expected:
        assert record["host"] == "default.example"
    assert record["event_id"] == "log:0" and record["event_type"] == "pageview"


@pytest.mark.parametrize(("line", "reason"), INVALID, ids=[r for _, r in INVALID])
def test_malformed_lines_are_rejected_with_their_reason(line: str, reason: str) -> None:
    outcome = validate_line(line, "log:0", "default.example", now_ms=NOW)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == reason, outcome.message


def test_a_line_without_virtual_host_needs_a_default_host() -> None:
    line = '198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-"'
    outcome = validate_line(line, "log:0", None, now_ms=NOW)
    assert isinstance(outcome, Rejection) and outcome.reason == "missing_field:host"
    assert outcome.dt == "2026-12-07"  # a dead letter is filed under the line's own day


def test_a_log_line_and_the_equivalent_pixel_beacon_yield_the_same_event() -> None:
    """The beacon is what the collector receives for the same page view: the same client (here through a
    proxy), agent, referrer and site, the page in ``url``, received at the time the server logged. The
    collector's own conversion (``pixel_event``) and the access-log parser give the same event; the log
    adds what only the server knows (method, bytes) under ``extra``."""
    line = (
        f'2001:db8::7 - alice [07/Dec/2026:12:15:30 +0100] "GET /courses/spark?ref=nav HTTP/1.1" 200 5120 '
        f'"https://www.dataexpert.io/" "{UA}"'
    )
    from_log = parse_line(line, "f00dfeedf00dfeed:4096", "www.dataexpert.io", now_ms=NOW)
    query = b"url=%2Fcourses%2Fspark%3Fref%3Dnav&status=200&user_id=alice&eid=f00dfeedf00dfeed%3A4096"
    headers = {
        b"host": b"www.dataexpert.io:443",
        b"user-agent": UA.encode(),
        b"referer": b"https://www.dataexpert.io/",
        b"x-forwarded-for": b"2001:db8::7, 10.0.0.2",
    }
    received_ms = parse_time_ms("2026-12-07T11:15:30.000Z")
    from_beacon = parse_event(pixel_event(query, headers, "10.0.0.2", received_ms), now_ms=NOW)
    assert from_log.extra == {"method": "GET", "bytes": 5120}
    assert from_beacon.extra == {}
    assert {**from_log.to_dict(), "extra": {}} == {**from_beacon.to_dict(), "extra": {}}


def test_the_simulated_access_log_parses_back_to_its_page_views() -> None:
    json_lines = list(generate_day(date(2026, 11, 20), 3000, seed=5))
    stats = LogStats()
    log_lines = list(combined_lines(json_lines, vhost=True, stats=stats))
    outcomes = [validate_line(line, f"sample:{i}", None, now_ms=NOW) for i, line in enumerate(log_lines)]
    events = [o for o in outcomes if isinstance(o, Event)]
    rejected = [o for o in outcomes if isinstance(o, Rejection)]
    page_views = []
    for text in json_lines:
        outcome = parse_event_or_none(text)
        if outcome is not None and outcome.event_type == "pageview":
            page_views.append(outcome)
    assert stats.lines == len(log_lines) == len(events) + len(rejected)
    assert stats.lines + stats.skipped_events == len(json_lines)
    assert len(events) == len(page_views) and 0 < len(rejected) < 20
    for event, view in zip(events, page_views, strict=True):
        assert (event.ip, event.host, event.url, event.referrer, event.user_agent, event.status) == (
            view.ip,
            view.host,
            view.url,
            view.referrer or None,
            view.user_agent,
            view.status,
        )
        assert event.event_time_ms == view.event_time_ms // 1000 * 1000  # a log has whole seconds


def parse_event_or_none(text: str) -> Event | None:
    try:
        return parse_event(text, now_ms=NOW)
    except ValueError:
        return None


def test_a_line_keeps_its_id_when_read_again_from_a_rotated_or_compressed_copy(tmp_path) -> None:
    lines = [
        b'198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"\n',
        b'198.51.100.7 - - [07/Dec/2026:11:00:02 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"\n',  # the same request again
        b"\n",
        b'198.51.100.7 - - [07/Dec/2026:11:00:03 +0000] "GET /b HTTP/1.1" 200 1 "-" "-"',  # no final newline
    ]
    plain, packed = tmp_path / "access.log.1", tmp_path / "access.log.2.gz"
    plain.write_bytes(b"".join(lines))
    with gzip.open(packed, "wb") as out:
        out.write(b"".join(lines))
    assert file_id_of(plain) == file_id_of(packed) == fingerprint(lines[0])

    def ids(path) -> list[tuple[int, bytes]]:
        with open(path, "rb") if path.suffix != ".gz" else gzip.open(path, "rb") as handle:
            return [item for offset, block in whole_line_blocks(handle, 0) for item in split_lines(block, offset)]

    assert ids(plain) == ids(packed)
    offsets = [offset for offset, _ in ids(plain)]
    assert offsets == [0, len(lines[0]), 2 * len(lines[0]), 2 * len(lines[0]) + 1]
    events = [validate_line(raw.decode(), f"f:{at}", "h.example", NOW) for at, raw in ids(plain) if raw.strip()]
    assert [e.event_id for e in events] == ["f:0", f"f:{len(lines[0])}", f"f:{offsets[3]}"]
    assert len({json.dumps(e.to_dict(), sort_keys=True) for e in events}) == 3  # identical requests: two events


def test_generate_format_combined_writes_a_log_of_the_simulated_sites(tmp_path, capsys) -> None:
    from websessions.cli import main
    from websessions.simulator import DEFAULT_HOSTS

    out = tmp_path / "access.log"
    argv = ["generate", "--date", "2026-11-20", "--events", "2000", "--seed", "4", "--format", "combined"]
    assert main([*argv, "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    outcomes = [validate_line(line, f"f:{i}", None, NOW) for i, line in enumerate(lines)]
    events = [o for o in outcomes if isinstance(o, Event)]
    assert f"access log: {len(lines)} lines" in capsys.readouterr().err
    assert {e.host for e in events} == set(DEFAULT_HOSTS)  # virtual hosts: no --host needed
    assert len(events) > 0.99 * len(lines) and {e.status for e in events} >= {200, 404}


def test_access_log_options_are_refused_where_they_mean_nothing(capsys) -> None:
    from websessions.cli import main

    assert main(["ingest", "events.jsonl", "--follow"]) == 2
    assert main(["generate", "--date", "2026-11-20", "--events", "10", "--format", "combined", "--kafka"]) == 2
    assert "--format combined" in capsys.readouterr().err
