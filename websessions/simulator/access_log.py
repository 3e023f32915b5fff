"""Simulated traffic as a web server's access log: ``websessions generate --format combined``.

Each page view of the simulated JSON lines becomes one line of the combined format, preceded by the
virtual host (Apache's ``vhost_combined``) unless every event is on one host; clicks, conversions and
exceptions are beacon events a web server never logs, so they are left out. The simulator's malformed
lines stay malformed in the log's own ways: a bad address or time written as it came, a missing field
as ``-``, and a line that was not JSON as a request a server logs without a usable request line (a TLS
handshake sent to the HTTP port) or a line cut off mid-write. Standard library only, like the simulator.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_TLS_HELLO = r"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


@dataclass
class LogStats:
    """Lines written, and the simulated events left out (not requests a server sees)."""

    lines: int = 0
    skipped_events: int = 0


def log_time(event_time: str) -> str:
    """``2026-11-20T10:15:30.123Z`` -> ``20/Nov/2026:10:15:30 +0000`` (a log's second resolution)."""
    return f"{event_time[8:10]}/{_MONTHS[int(event_time[5:7]) - 1]}/{event_time[:4]}:{event_time[11:19]} +0000"


def quote(value: object) -> str:
    """A quoted log field as Apache writes it: ``"`` and ``\\`` escaped, other bytes as ``\\xHH``."""
    if value is None or value == "":
        return '"-"'
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    if not (text.isascii() and text.isprintable()):
        text = "".join(
            c if c.isascii() and c.isprintable() else "".join(f"\\x{b:02x}" for b in c.encode()) for c in text
        )
    return f'"{text}"'


def _size(url: str, status: int) -> int:
    spread = zlib.crc32(url.encode())
    return 150 + spread % 400 if status >= 400 else 2_000 + spread % 60_000


def combined_line(record: dict, vhost: bool) -> str:
    """One simulated event (a decoded JSON line) as a combined log line; fields are written as they are."""
    stamp = record.get("event_time")
    when = log_time(stamp) if isinstance(stamp, str) and len(stamp) == 24 else str(stamp)
    url, status = record.get("url"), record.get("status")
    request = f"GET {url} HTTP/1.1" if url else "-"
    size = "-" if not isinstance(status, int) else _size(str(url), status)
    line = (
        f"{record.get('ip') or '-'} - {record.get('user_id') or '-'} [{when}] {quote(request)} {status or '-'} {size}"
        f" {quote(record.get('referrer'))} {quote(record.get('user_agent'))}"
    )
    return f"{record.get('host') or '-'} {line}" if vhost else line


def _broken(text: str, vhost: bool) -> str:
    """A line the server wrote that holds no request: a TLS handshake on the HTTP port, or a cut-off line."""
    client = f"203.0.113.{len(text) % 250 + 1}"
    when = log_time(_stamp_in(text))
    if zlib.crc32(text.encode()) % 2:
        line = f'{client} - - [{when}] "{_TLS_HELLO}" 400 157 "-" "-"'
        return f"{_host_in(text)} {line}" if vhost else line
    whole = combined_line({"ip": client, "event_time": _stamp_in(text), "url": "/", "status": 200}, vhost=False)
    return whole[: len(whole) // 2]


def _host_in(text: str) -> str:
    at = text.find('"host":"')
    return text[at + 8 : text.find('"', at + 8)] if at >= 0 else "-"


def _stamp_in(text: str) -> str:
    found = _STAMP_RE.search(text)
    return found.group(0) if found else "1970-01-01T00:00:00.000Z"


def combined_lines(json_lines: Iterable[str], vhost: bool, stats: LogStats | None = None) -> Iterator[str]:
    """The access log of simulated JSON lines (page views only; see the module docstring)."""
    stats = stats if stats is not None else LogStats()
    for text in json_lines:
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            stats.lines += 1
            yield _broken(text, vhost)
            continue
        if record.get("event_type", "pageview") != "pageview":
            stats.skipped_events += 1
            continue
        stats.lines += 1
        yield combined_line(record, vhost)
