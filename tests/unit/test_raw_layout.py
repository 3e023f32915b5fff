"""Where a Kafka record lands: the classification of valid and poison records, and file names."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from websessions.events import parse_time_ms
from websessions.raw_layout import classify, is_date, parse_part_name, part_name, quarantine_record

DAY = "2026-11-20"
TS = parse_time_ms(f"{DAY}T10:00:00.000Z")
EVENT = json.dumps({"event_time": f"{DAY}T10:00:00.000Z", "ip": "1.2.3.4", "host": "a.io", "url": "/"}).encode()
KAFKA_TS = parse_time_ms("2026-12-07T08:00:00.000Z")


@dataclass
class Record:
    """The parts of a consumed Kafka message that the lander reads."""

    _value: bytes | None
    _headers: list | None
    _partition: int = 1
    _offset: int = 42

    def value(self):
        return self._value

    def headers(self):
        return self._headers

    def key(self):
        return b"k"

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def timestamp(self):
        return (1, KAFKA_TS)


GOOD_HEADERS = [("dt", DAY.encode()), ("ts", str(TS).encode())]


def test_a_valid_record_goes_to_its_event_day() -> None:
    place = classify(Record(EVENT, GOOD_HEADERS))
    assert (place.dt, place.ts, place.reason) == (DAY, TS, None)


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (None, GOOD_HEADERS, "tombstone"),
        (EVENT, None, "missing_headers"),
        (EVENT, [("dt", DAY.encode())], "missing_headers"),
        (EVENT, [("dt", b"../x"), ("ts", str(TS).encode())], "bad_headers"),
        (EVENT, [("dt", b"2026-02-30"), ("ts", str(TS).encode())], "bad_headers"),
        (EVENT, [("dt", DAY.encode()), ("ts", b"later")], "bad_headers"),
        (EVENT, [("dt", b"2026-11-21"), ("ts", str(TS).encode())], "bad_headers"),  # dt and ts disagree
        (b"{oops", GOOD_HEADERS, "not_json"),
        (b'"a string"', GOOD_HEADERS, "not_an_object"),
        (json.dumps({"event_time": "2026-11-19T23:59:59.999Z"}).encode(), GOOD_HEADERS, "bad_event_time"),
    ],
)
def test_a_poison_record_is_quarantined_under_its_kafka_date(value, headers, reason) -> None:
    place = classify(Record(value, headers))
    assert (place.dt, place.reason) == ("2026-12-07", reason)


def test_a_quarantine_line_keeps_the_raw_bytes_and_where_they_were() -> None:
    record = json.loads(quarantine_record(Record(b"\xff\x00raw", None, 3, 77), "not_json"))
    assert (record["partition"], record["offset"], record["reason"]) == (3, 77, "not_json")
    assert record["value"] == "/wByYXc="  # base64 of the raw bytes


def test_part_names_round_trip_and_nothing_else_parses() -> None:
    assert parse_part_name(part_name(2, 10, 99)) == (2, 10, 99)
    assert parse_part_name(part_name(2, 10, 99, "json")) == (2, 10, 99)
    assert parse_part_name("part-002-10-99.jsonl") is None
    assert parse_part_name("_COMPLETE") is None
    assert parse_part_name(part_name(2, 10, 99) + ".tmp") is None


def test_only_real_dates_may_become_paths() -> None:
    assert is_date("2026-11-20")
    for text in ("../x", "2026-13-01", "2026-11-20/..", "20261120", "2026-11-2"):
        assert not is_date(text), text
