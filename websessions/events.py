"""The web event: one JSON object, parsed and validated the same way by every entry point.

The collector, ``websessions ingest``, the speed layer, the batch layer and the reference sessionizer
all call :func:`parse_event` (raising) or :func:`validate` (returning a :class:`Rejection`), so an
event accepted by one is accepted by all, and a rejected one carries the same reason code everywhere.

Required fields: ``event_time`` (ISO-8601 UTC, ``2026-11-20T10:15:30.123Z``; ``+00:00`` instead of
``Z`` and whole seconds are accepted, extra fraction digits are truncated to the millisecond),
``ip`` (IPv4 or IPv6; normalised by :mod:`ipaddress`, an IPv4-mapped IPv6 address becomes IPv4),
``host`` (lower-cased; a non-ASCII name is IDNA-encoded) and ``url``. Optional: ``event_id``,
``referrer``, ``user_agent``, ``headers`` (object or string), ``event_type`` (``pageview``),
``status`` (HTTP status), ``user_id``, ``geo`` (``country``, ``region``, ``city``),
``load_time_ms``. Other keys are kept under ``extra``. The bootcamp format (``url, referrer,
user_agent, host, ip, headers, event_time``) is a subset and is accepted unchanged.

``event_id``, when absent, is derived from the content (:func:`derive_event_id`), so the same event
sent twice has the same id and counts once in a session (see ``docs/sessions.md``).

Rejection reasons: ``too_large``, ``malformed_json``, ``not_an_object``, ``missing_field:<name>``,
``bad_field:<name>`` (wrong type or value), ``bad_time``, ``future_time``, ``bad_ip``, ``bad_host``,
``bad_url``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

MAX_EVENT_BYTES = 64 * 1024
MAX_FUTURE_SKEW_MS = 5 * 60 * 1000
MAX_URL_CHARS = 8192
MAX_TEXT_CHARS = 4096
REQUIRED_FIELDS = ("event_time", "ip", "host", "url")
GEO_FIELDS = ("country", "region", "city")
KNOWN_FIELDS = frozenset(
    REQUIRED_FIELDS
    + ("event_id", "referrer", "user_agent", "headers", "event_type", "status", "user_id", "geo")
    + ("load_time_ms", "extra")
)

_TIME_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|\+00:00)\Z")
_HOST_RE = re.compile(r"(?=.{1,253}\Z)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*\.?\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000
_day_cache: dict[str, int] = {}
_minute_cache: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> epoch ms, filled by the validating path
_ip_cache: dict[str, str] = {}
_host_cache: dict[str, str] = {}
_CACHE_MAX = 65_536


class InvalidEvent(ValueError):
    """An event that cannot be accepted; ``reason`` is the machine-readable code."""

    def __init__(self, reason: str, message: str, dt: str | None = None):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.dt = dt

    @property
    def rejection(self) -> Rejection:
        return Rejection(self.reason, self.message, self.dt)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event was refused. ``dt`` is the event's UTC date when its time could be read."""

    reason: str
    message: str
    dt: str | None = None


@dataclass(slots=True)
class Event:
    """A valid event in canonical form (``event_time_ms``: epoch milliseconds, UTC).

    Treat it as immutable (it is not frozen only because frozen dataclasses are slow to build, and
    millions are built per batch).
    """

    event_id: str
    event_time_ms: int
    ip: str
    host: str
    url: str
    referrer: str | None = None
    user_agent: str | None = None
    headers: dict[str, Any] | str | None = None
    event_type: str = "pageview"
    status: int | None = None
    user_id: str | None = None
    geo: dict[str, str | None] | None = None
    load_time_ms: int | float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def event_time(self) -> str:
        return format_time_ms(self.event_time_ms)

    @property
    def dt(self) -> str:
        """The UTC date (``YYYY-MM-DD``) of the event: its raw-data partition."""
        return format_time_ms(self.event_time_ms)[:10]

    @property
    def is_error(self) -> bool:
        return self.status is not None and self.status >= 400

    def to_dict(self) -> dict[str, Any]:
        """The canonical record; ``parse_event(event.to_json()) == event``."""
        record = {
            "event_id": self.event_id,
            "event_time": self.event_time,
            "ip": self.ip,
            "host": self.host,
            "url": self.url,
            "referrer": self.referrer,
            "user_agent": self.user_agent,
            "headers": self.headers,
            "event_type": self.event_type,
            "status": self.status,
            "user_id": self.user_id,
            "geo": self.geo,
            "load_time_ms": self.load_time_ms,
        }
        if self.extra:
            record["extra"] = self.extra
        return record

    def to_json(self) -> str:
        return self.to_bytes().decode()

    def to_bytes(self) -> bytes:
        """The canonical JSON as UTF-8 (compact, non-ASCII kept): what Kafka and the raw archive hold."""
        return orjson.dumps(self.to_dict())


_format_minute_cache: dict[int, str] = {}  # minute since the epoch -> "YYYY-MM-DDTHH:MM:"


def format_time_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds: ``2026-11-20T10:15:30.123Z``."""
    minute, rest = divmod(int(ms), 60_000)
    prefix = _format_minute_cache.get(minute)
    if prefix is None:
        if len(_format_minute_cache) >= 100_000:
            _format_minute_cache.clear()
        prefix = _format_minute_cache[minute] = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
    seconds, millis = divmod(rest, 1000)
    return f"{prefix}{seconds:02d}.{millis:03d}Z"


def parse_time_ms(value: str) -> int:
    """ISO-8601 UTC text to epoch milliseconds; raises ``InvalidEvent('bad_time', ...)``.

    The canonical form (``...T10:15:30.123Z``) of a minute already validated once takes a fast path.
    """
    if len(value) == 24 and value[23] == "Z" and value[19] == "." and value[16] == ":" and value.isascii():
        base = _minute_cache.get(value[:16])
        seconds, millis = value[17:19], value[20:23]
        if base is not None and seconds.isdigit() and millis.isdigit() and seconds < "60":
            return base + int(seconds) * 1000 + int(millis)
    return _parse_time_ms_checked(value)


def _parse_time_ms_checked(value: str) -> int:
    match = _TIME_RE.match(value)
    if match is None:
        raise InvalidEvent("bad_time", f"event_time {value[:64]!r} is not ISO-8601 UTC like 2026-11-20T10:15:30.123Z")
    day, hh, mm, ss, frac, _ = match.groups()
    days = _day_cache.get(day)
    if days is None:
        try:
            days = date.fromisoformat(day).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            raise InvalidEvent("bad_time", f"event_time {value!r} has no such date") from None
        if len(_day_cache) < 100_000:
            _day_cache[day] = days
    h, m, s = int(hh), int(mm), int(ss)
    if h > 23 or m > 59 or s > 59:
        raise InvalidEvent("bad_time", f"event_time {value!r} has no such time of day")
    minute_ms = days * _DAY_MS + (h * 60 + m) * 60_000
    if len(_minute_cache) >= 100_000:
        _minute_cache.clear()
    _minute_cache[value[:16]] = minute_ms
    millis = int((frac + "00")[:3]) if frac else 0
    return minute_ms + s * 1000 + millis


def derive_event_id(
    event_time_ms: int, ip: str, host: str, url: str, referrer: str | None, user_agent: str | None
) -> str:
    """The id of an event that came without one: sha1 of the canonical JSON of its identity, 32 hex."""
    identity = [format_time_ms(event_time_ms), ip, host, url, referrer, user_agent]
    canonical = json.dumps(identity, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(canonical.encode()).hexdigest()[:32]


def _text(obj: dict, name: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"bad_field:{name}", f"{name} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidEvent(f"bad_field:{name}", f"{name} is longer than {limit} characters")
    return value


def _cached(cache: dict[str, str], normalise, value: str) -> str:
    """Normalisation of ips and hosts memoised (bounded): the same few thousand repeat on the hot path."""
    known = cache.get(value)
    if known is None:
        known = normalise(value)
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[value] = known
    return known


def _normalise_ip(value: str) -> str:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidEvent("bad_ip", f"ip {value[:64]!r} is not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _normalise_host(value: str) -> str:
    host = value.strip().lower()
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidEvent("bad_host", f"host {value[:64]!r} is not a valid domain name") from None
    if _HOST_RE.match(host):
        return host.rstrip(".")
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        raise InvalidEvent("bad_host", f"host {value[:64]!r} is not a domain name or IP address") from None


def _check_url(value: str) -> str:
    if not value.strip():
        raise InvalidEvent("bad_url", "url is empty")
    if len(value) > MAX_URL_CHARS:
        raise InvalidEvent("bad_url", f"url is longer than {MAX_URL_CHARS} characters")
    if _CONTROL_RE.search(value):
        raise InvalidEvent("bad_url", f"url {value[:64]!r} contains control characters")
    return value


def _status(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise InvalidEvent("bad_field:status", f"status {value!r} is not an HTTP status (100-599)")
    return value


def _geo(value: Any) -> dict[str, str | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent("bad_field:geo", f"geo must be an object with {', '.join(GEO_FIELDS)}")
    geo = {name: _text(value, name, 256) for name in GEO_FIELDS}
    return geo


def _decode(raw: bytes | str | dict, max_bytes: int) -> dict:
    if isinstance(raw, dict):
        return raw
    size = len(raw) if isinstance(raw, bytes | bytearray) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidEvent("too_large", f"event of {size} bytes exceeds the limit of {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent("malformed_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", f"an event is a JSON object, not {type(obj).__name__}")
    return obj


def parse_event(
    raw: bytes | str | dict,
    now_ms: int | None = None,
    *,
    max_bytes: int = MAX_EVENT_BYTES,
    max_future_skew_ms: int = MAX_FUTURE_SKEW_MS,
) -> Event:
    """Parse and validate one event; raises :class:`InvalidEvent` with the reason code.

    ``now_ms`` (epoch ms, default: the clock) bounds ``event_time``: an event more than
    ``max_future_skew_ms`` ahead of it is ``future_time``.
    """
    obj = _decode(raw, max_bytes)
    for name in REQUIRED_FIELDS:
        if obj.get(name) is None:
            raise InvalidEvent(f"missing_field:{name}", f"the required field {name!r} is missing")
    for name in REQUIRED_FIELDS:
        if not isinstance(obj[name], str):
            raise InvalidEvent(f"bad_field:{name}", f"{name} must be a string, not {type(obj[name]).__name__}")
    return event_from_fields(obj, parse_time_ms(obj["event_time"]), now_ms, max_future_skew_ms=max_future_skew_ms)


def event_from_fields(
    obj: dict, event_time_ms: int, now_ms: int | None = None, *, max_future_skew_ms: int = MAX_FUTURE_SKEW_MS
) -> Event:
    """:func:`parse_event` after the time was read: the skew check and every other field's checks.

    For sources that read the time themselves (access logs: :mod:`websessions.access_log`); ``obj``'s
    required text fields must already be strings.
    """
    try:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if event_time_ms > now + max_future_skew_ms:
            ahead_s = (event_time_ms - now) / 1000
            when = format_time_ms(event_time_ms)
            raise InvalidEvent("future_time", f"event_time {when} is {ahead_s:.0f}s in the future")
        return _build(obj, event_time_ms)
    except InvalidEvent as exc:
        exc.dt = format_time_ms(event_time_ms)[:10]
        raise


def _build(obj: dict, event_time_ms: int) -> Event:
    ip = _cached(_ip_cache, _normalise_ip, obj["ip"])
    host = _cached(_host_cache, _normalise_host, obj["host"])
    url = _check_url(obj["url"])
    referrer = _text(obj, "referrer", MAX_URL_CHARS)
    user_agent = _text(obj, "user_agent")
    headers = obj.get("headers")
    if headers is not None and not isinstance(headers, dict | str):
        raise InvalidEvent("bad_field:headers", "headers must be an object or a string")
    event_type = _text(obj, "event_type", 64) or "pageview"
    user_id = obj.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    user_id = _text({"user_id": user_id}, "user_id", 256)
    load_time = obj.get("load_time_ms")
    if load_time is not None and (
        isinstance(load_time, bool) or not isinstance(load_time, int | float) or not 0 <= load_time < 1e9
    ):
        raise InvalidEvent("bad_field:load_time_ms", f"load_time_ms {load_time!r} is not a duration in ms")
    event_id = obj.get("event_id")
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if event_id is not None and (not isinstance(event_id, str) or not event_id or len(event_id) > 256):
        raise InvalidEvent("bad_field:event_id", "event_id must be a non-empty string of at most 256 characters")
    extra = obj.get("extra") if isinstance(obj.get("extra"), dict) else {}
    unknown = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    if unknown:
        extra = {**extra, **unknown}
    return Event(
        event_id=event_id or derive_event_id(event_time_ms, ip, host, url, referrer, user_agent),
        event_time_ms=event_time_ms,
        ip=ip,
        host=host,
        url=url,
        referrer=referrer,
        user_agent=user_agent,
        headers=headers,
        event_type=event_type,
        status=_status(obj.get("status")),
        user_id=user_id,
        geo=_geo(obj.get("geo")),
        load_time_ms=load_time,
        extra=extra,
    )


def validate(
    raw: bytes | str | dict,
    now_ms: int | None = None,
    *,
    max_bytes: int = MAX_EVENT_BYTES,
    max_future_skew_ms: int = MAX_FUTURE_SKEW_MS,
) -> Event | Rejection:
    """Like :func:`parse_event`, but returns the :class:`Rejection` instead of raising."""
    try:
        return parse_event(raw, now_ms, max_bytes=max_bytes, max_future_skew_ms=max_future_skew_ms)
    except InvalidEvent as exc:
        return exc.rejection


def dead_letter_record(raw: bytes | str, rejection: Rejection, rejected_at_ms: int | None = None) -> dict[str, Any]:
    """The dead-letter record of a refused payload: reason, message, the payload as text, when, and
    ``dt`` (the event's date if its time was readable, else the rejection date)."""
    at = int(time.time() * 1000) if rejected_at_ms is None else rejected_at_ms
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
    truncated = len(text) > MAX_EVENT_BYTES
    return {
        "reason": rejection.reason,
        "message": rejection.message,
        "raw": text[:MAX_EVENT_BYTES],
        "raw_truncated": truncated,
        "rejected_at": format_time_ms(at),
        "dt": rejection.dt or format_time_ms(at)[:10],
    }
