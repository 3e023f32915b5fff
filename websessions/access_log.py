"""Web-server access logs as a source: Apache/Nginx *combined* and *common* lines into events.

One compiled regular expression per layout reads a line; the fields become the dict a beacon becomes
(see :mod:`websessions.collector.framing`) and go through the core's checks
(:func:`websessions.events.event_from_fields`, :func:`~websessions.events.parse_event` after the time),
so a log line is validated exactly like every other event.

Layouts (detected per line):

- common: ``%h %l %u %t "%r" %>s %b``
- combined: common + ``"%{Referer}i" "%{User-agent}i"`` (further fields after the agent, like Nginx's
  ``"$http_x_forwarded_for"``, are allowed and ignored)
- either one preceded by a virtual host, ``%v`` or ``%v:%p`` (Apache's ``vhost_combined``)

Mapping: ``ip`` = ``%h``; ``event_time`` = ``%t`` converted from its zone to UTC; ``host`` = the
virtual host of the line, else the default host (``--host``); ``url`` = the request target; ``status``;
``user_id`` = ``%u`` (the authenticated user); ``referrer``; ``user_agent``; ``extra`` = ``method`` and
``bytes`` (``None`` for ``-``). ``-`` is "absent" everywhere. Quoted fields are unescaped the way both
servers escape them: ``\\"`` and ``\\\\`` (Apache), ``\\xHH`` bytes (both; decoded as UTF-8), ``\\n``/``\\t``.

The event id is given by the caller: :mod:`websessions.log_tail` derives it from the file's identity
and the line's byte offset, so reading a line again gives the same id (copies count once downstream)
while two identical requests in one second stay two events.

Rejection reasons (beside those of :mod:`websessions.events`): ``malformed_line`` (not one of the
layouts), ``bad_request`` (the request is not ``METHOD TARGET [PROTOCOL]``), ``bad_time``,
``missing_field:host`` (no virtual host and no default host).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from websessions.events import (
    MAX_EVENT_BYTES,
    Event,
    InvalidEvent,
    Rejection,
    _cached,  # the core's bounded memo (ips, hosts), here for minutes
    event_from_fields,
    format_time_ms,
)

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'  # "unrolled": no alternation per character
_COMMON = r"(\S+) (\S+) (\S+) \[([^\]]*)\] " + _QUOTED + r" ([0-9]{3}|-) ([0-9]+|-)"  # %h %l %u [%t] "%r" %>s %b
_FIELDS = _COMMON + rf"(?: {_QUOTED} {_QUOTED}(?: .*)?)?\Z"  # + "%{Referer}i" "%{User-agent}i" [more fields]
LINE_RE = re.compile(_FIELDS)
VHOST_LINE_RE = re.compile(r"(\S+) " + _FIELDS)
_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "b": "\b"}
_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_minute_ms: dict[str, int] = {}  # "10/Oct/2000:13:55 -0700" -> epoch ms of that minute (UTC)


def _unescape(value: str) -> str:
    """A quoted field as the server meant it: escapes undone, ``\\xHH`` bytes read as UTF-8."""
    if "\\" not in value:
        return value

    def replace(match: re.Match) -> str:
        code = match.group(1)
        if code[0] == "x" and len(code) == 3:
            return chr(int(code[1:], 16))  # a byte, as a latin-1 character until the whole is decoded
        return _SIMPLE_ESCAPES.get(code, code)

    text = _ESCAPE_RE.sub(replace, value)
    try:
        return text.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # characters above U+00FF were written unescaped: keep the text
        return text


def log_time_ms(stamp: str) -> int:
    """``10/Oct/2000:13:55:36 -0700`` to epoch milliseconds (UTC); raises ``InvalidEvent('bad_time')``."""
    if len(stamp) != 26 or stamp[20] != " " or stamp[17] != ":":
        raise InvalidEvent("bad_time", f"time {stamp[:40]!r} is not like 10/Oct/2000:13:55:36 -0700")
    base = _cached(_minute_ms, _minute_of, stamp[:17] + stamp[20:])
    seconds = stamp[18:20]
    if not (seconds.isdigit() and seconds < "60"):
        raise InvalidEvent("bad_time", f"time {stamp!r} has no such second")
    return base + int(seconds) * 1000


def _minute_of(minute: str) -> int:
    """``10/Oct/2000:13:55 -0700`` (a stamp without its seconds) to epoch milliseconds."""
    month = _MONTHS.get(minute[3:6])
    zone = minute[18:]
    if month is None or zone[0] not in "+-" or not (zone[1:] + minute[0:2] + minute[7:11]).isdigit():
        raise InvalidEvent("bad_time", f"time {minute!r} is not like 10/Oct/2000:13:55:36 -0700")
    try:
        local = datetime.strptime(
            f"{minute[7:11]}-{month:02d}-{minute[:2]} {minute[12:17]} {zone}", "%Y-%m-%d %H:%M %z"
        )
    except ValueError:
        raise InvalidEvent("bad_time", f"time {minute!r} has no such date, time or zone") from None
    return int(local.timestamp()) * 1000


def _host_of(vhost: str) -> str:
    """``www.example.com:443`` -> ``www.example.com``; ``[2001:db8::1]:80`` -> ``2001:db8::1``."""
    if vhost.startswith("["):
        return vhost[1 : vhost.find("]")] if "]" in vhost else vhost
    name, colon, port = vhost.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else vhost


def line_fields(line: str, default_host: str | None = None) -> tuple[dict[str, Any], int]:
    """The event fields of one log line (without ``event_id``) and its time in epoch ms (UTC), or
    ``InvalidEvent`` with the reason. The dict is what :func:`websessions.events.event_from_fields`
    validates."""
    match = LINE_RE.match(line)
    if match is not None:
        vhost = None
        ip, _ident, user, stamp, request, status, size, referrer, agent = match.groups()
    else:
        match = VHOST_LINE_RE.match(line)
        if match is None:
            raise InvalidEvent("malformed_line", "not an access-log line in the common or combined format")
        vhost, ip, _ident, user, stamp, request, status, size, referrer, agent = match.groups()
    event_time_ms = log_time_ms(stamp)
    parts = (_unescape(request) if "\\" in request else request).split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        method, url = parts[0], parts[1]
    elif len(parts) == 2:  # HTTP/0.9: no protocol
        method, url = parts
    else:
        message = f"request {request[:64]!r} is not METHOD TARGET PROTOCOL"
        raise InvalidEvent("bad_request", message, _day(event_time_ms))
    if not method.isalpha():
        raise InvalidEvent("bad_request", f"request method {method[:32]!r} is not a token", _day(event_time_ms))
    host = _host_of(vhost) if vhost is not None and vhost != "-" else default_host
    if host is None:
        message = "no virtual host in the line and no default host (--host)"
        raise InvalidEvent("missing_field:host", message, _day(event_time_ms))
    fields = {
        "ip": ip,
        "host": host,
        "url": url,
        "referrer": None if referrer is None or referrer == "-" else _unescape(referrer),
        "user_agent": None if agent is None or agent == "-" else _unescape(agent),
        "status": None if status == "-" else int(status),
        "user_id": None if user == "-" else _unescape(user),
        "extra": {"method": method, "bytes": None if size == "-" else int(size)},
    }
    return fields, event_time_ms


def _day(ms: int) -> str:
    return format_time_ms(ms)[:10]


def parse_line(line: str, event_id: str, default_host: str | None = None, now_ms: int | None = None) -> Event:
    """One log line as a validated :class:`Event`; raises :class:`InvalidEvent` with the reason code."""
    if len(line) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"line of {len(line)} characters exceeds the limit of {MAX_EVENT_BYTES}")
    fields, event_time_ms = line_fields(line, default_host)
    fields["event_id"] = event_id
    return event_from_fields(fields, event_time_ms, now_ms)


def validate_line(
    line: str, event_id: str, default_host: str | None = None, now_ms: int | None = None
) -> Event | Rejection:
    """Like :func:`parse_line`, but returns the :class:`Rejection` instead of raising."""
    try:
        return parse_line(line, event_id, default_host, now_ms)
    except InvalidEvent as exc:
        return exc.rejection
