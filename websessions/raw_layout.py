"""The master dataset's layout in HDFS, and where each Kafka record of ``web_events`` belongs in it.

Areas, all beside ``settings.raw_events_dir`` (``<raw>``)::

    <raw>/dt=YYYY-MM-DD/part-<partition>-<first>-<last>.jsonl         events of that day (the master dataset)
    <raw>/dt=YYYY-MM-DD/_COMPLETE                                      the day is complete
    <raw>_late/dt=YYYY-MM-DD/part-...jsonl                             events that came after their day completed
    <raw>_quarantine/dt=YYYY-MM-DD/part-...jsonl                       poison records: partition, offset, reason,
                                                                       the raw bytes (dt: the record's Kafka time)
    <raw>_lander/lease/token-<n>                                       the lander's lease (websessions.lander_lease)
    <raw>_lander/journal                                               the batch being renamed into place
    <raw>_lander/gaps/part-<partition>-<first>-<last>.json             offsets Kafka dropped before they were read
    <raw>_lander/tmp/                                                  files being written

Every part file is named by the Kafka partition and the offsets of the batch it came from, so the files
themselves are the record of the lander's progress: a partition resumes at the highest ``last + 1`` of its
part and gap files in all areas (as Kafka Connect's HDFS sink does).

:func:`classify` decides where a record goes. Nothing of a record becomes part of a path unless it is a
real date: a record whose headers or value cannot be trusted is quarantined with the reason.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson

from websessions.settings import Settings

COMPLETE_MARKER = "_COMPLETE"
_PART_RE = re.compile(r"part-([0-9]{3,})-([0-9]{12,})-([0-9]{12,})\.(jsonl|json)\Z")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def late_dir(settings: Settings) -> str:
    return settings.raw_events_dir.rstrip("/") + "_late"


def quarantine_dir(settings: Settings) -> str:
    return settings.raw_events_dir.rstrip("/") + "_quarantine"


def lander_dir(settings: Settings) -> str:
    """The lander's own state: lease, journal, gap records, temporary files."""
    return settings.raw_events_dir.rstrip("/") + "_lander"


def gaps_dir(settings: Settings) -> str:
    return lander_dir(settings) + "/gaps"


def data_roots(settings: Settings) -> tuple[str, str, str]:
    """The areas holding part files: raw, late, quarantine."""
    return settings.raw_events_dir.rstrip("/"), late_dir(settings), quarantine_dir(settings)


def day_dir(root: str, dt: str) -> str:
    return f"{root.rstrip('/')}/dt={dt}"


def part_name(partition: int, first: int, last: int, suffix: str = "jsonl") -> str:
    return f"part-{partition:03d}-{first:012d}-{last:012d}.{suffix}"


def parse_part_name(name: str) -> tuple[int, int, int] | None:
    """(partition, first offset, last offset) of a part (or gap) file name, or None for anything else."""
    match = _PART_RE.match(name)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def is_date(text: str) -> bool:
    """True for a real calendar date written ``YYYY-MM-DD`` (nothing else may become a ``dt=`` path)."""
    if not _DATE_RE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def ms_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one record goes: ``dt`` and ``ts`` of a valid event, or the quarantine ``reason``."""

    dt: str
    ts: int = 0
    reason: str | None = None


def record_date(msg) -> str:
    """The day a record that is not a valid event is filed under: the date of its Kafka timestamp."""
    _kind, ms = msg.timestamp()
    return ms_date(ms if ms and ms > 0 else 0)


def classify(msg) -> Placement:
    """Where a ``web_events`` record belongs: its event's day, or the quarantine with a reason.

    A valid record has the ``dt`` and ``ts`` headers the publisher sets (:mod:`websessions.ingest`), a real
    date in ``dt`` that agrees with ``ts``, and a JSON object as its value whose ``event_time`` is of that day.
    """
    value = msg.value()
    if value is None:
        return Placement(record_date(msg), reason="tombstone")
    headers = dict(msg.headers() or ())
    dt_raw, ts_raw = headers.get("dt"), headers.get("ts")
    if dt_raw is None or ts_raw is None:
        return Placement(record_date(msg), reason="missing_headers")
    try:
        dt, ts = dt_raw.decode("ascii"), int(ts_raw)
    except (UnicodeDecodeError, ValueError, AttributeError):
        return Placement(record_date(msg), reason="bad_headers")
    if not is_date(dt) or ms_date(ts) != dt:
        return Placement(record_date(msg), reason="bad_headers")
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return Placement(record_date(msg), reason="not_json")
    if not isinstance(event, dict):
        return Placement(record_date(msg), reason="not_an_object")
    event_time = event.get("event_time")
    if not isinstance(event_time, str) or event_time[:10] != dt:
        return Placement(record_date(msg), reason="bad_event_time")
    return Placement(dt, ts)


def quarantine_record(msg, reason: str) -> bytes:
    """One quarantine line: where the record was, why, and its raw key, headers and value (base64)."""

    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode()

    return orjson.dumps(
        {
            "partition": msg.partition(),
            "offset": msg.offset(),
            "reason": reason,
            "kafka_timestamp_ms": msg.timestamp()[1],
            "key": b64(msg.key()),
            "headers": [[k, b64(v)] for k, v in (msg.headers() or ())],
            "value": b64(msg.value()),
        }
    )
