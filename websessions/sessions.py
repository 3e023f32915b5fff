"""The session definition, stated once (``docs/sessions.md`` has the prose and the reasons).

- **Key**: ``(ip, host)``; events of a key are ordered by ``event_time``.
- **Timeout**: ``settings.session_timeout_s`` (300 s). A new session starts only when the gap to the
  key's previous event is **greater** than the timeout; a gap of exactly the timeout continues it.
- **Dedupe** (:func:`is_copy`): copies of an ``event_id`` of one key (events without one get a
  content-derived id) whose event times are at most the timeout apart are one event, and the copy that
  **arrives first** wins (arrival = Kafka offset order; a key is on one partition). A copy further than
  the timeout from every counted copy of its id is an event of its own. Every layer can honour this
  exactly: a counted copy within the timeout of a later copy is always in a session that is still open
  when the later copy arrives (unless that copy is late), so the stream never needs forgotten ids.
- **Day**: a session belongs to the UTC date on which it starts (``dt``).
- **Record**: ``start`` is the first event, ``end`` the last event (not ``last + timeout``);
  ``first_url``/``referrer``/``user_agent``/``geo`` come from the first event and ``last_url`` from the
  last, ties in time broken by ``event_id`` in code point order (Python's and Spark's string order; the
  Java operator compares code points too, not ``String.compareTo``'s UTF-16 units); ``events`` counts the
  counted copies,
  ``pages`` distinct urls, ``errors`` events with ``status >= 400``.
- **Open/closed**: a session is ``open`` while its key may still receive events and ``closed`` once the
  watermark (latest event time seen minus ``allowed_lateness_s``) has passed ``end + timeout``.
- **Lateness**: an event older than the watermark is *late*: counted, never sessionized (see
  :mod:`websessions.sessionizer`, the reference implementation).

Each engine implements this rule natively and a conformance suite holds them to it
(``tests/conformance/``: every shared vector of ``tests/vectors/`` through this module's reference,
:mod:`websessions.sessionizer`, Spark and Flink, every field of every record compared):

- **Batch** (``batch/sessionize.py``): Spark window functions per key, ordered by
  ``(event_time_ms, event_id)`` after the dedupe (``batch/events.py``, arrival order from the raw files'
  offsets): ``lag`` finds a gap greater than the timeout, a running maximum gives each event its
  session's start; ``min_by``/``max_by`` pick the first and last event. No session windows.
- **Speed** (``streaming/java/websessions/speed/SessionFunction.java``): a keyed Flink operator in the
  JVM (touch, merge, dedupe, close once the watermark is past ``end + timeout``), emitting the open
  record as it grows; its HBase sink (``streaming/java-hbase``) writes the record as JSON.

The record leaves every engine as aggregates (first and last event, counts) and becomes a
:class:`Session` through :func:`session_from_aggregates` or :meth:`Session.from_dict` where Python reads
it back (Postgres, HBase), which recompute the derived fields (``session_id``, ``dt``). ``session_id`` is
``sha1("<host>|<ip>|<start epoch ms>")``, first 20 hex digits, computable natively in SQL and Java.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from websessions.events import Event, format_time_ms, parse_time_ms

if TYPE_CHECKING:
    from websessions.settings import Settings

SESSION_ID_HEX = 20
OPEN = "open"
CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class SessionRule:
    """Every tunable of the session rule, in milliseconds where it is a duration.

    ``days_late_allowed`` (how many days after its date an event may still land in its day's batch)
    and ``max_session_days`` (longer sessions are quarantined, see :meth:`is_overlong`) are used by
    the batch layer; the sessionizer itself needs ``timeout_ms`` and ``allowed_lateness_ms``.
    """

    timeout_ms: int = 300_000
    allowed_lateness_ms: int = 60_000
    days_late_allowed: int = 1
    max_session_days: int = 2

    def __post_init__(self) -> None:
        if self.timeout_ms <= 0 or self.allowed_lateness_ms < 0:
            raise ValueError("the session timeout must be positive and the allowed lateness not negative")

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionRule:
        return cls(
            timeout_ms=settings.session_timeout_s * 1000,
            allowed_lateness_ms=settings.allowed_lateness_s * 1000,
            days_late_allowed=settings.days_late_allowed,
            max_session_days=settings.max_session_days,
        )

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000

    def is_overlong(self, session: Session) -> bool:
        """Longer than ``max_session_days``: the batch layer quarantines such sessions (bots)."""
        return session.end_ms - session.start_ms > self.max_session_days * 86_400_000


def is_copy(counted_ms: Iterable[int], event_time_ms: int, rule: SessionRule) -> bool:
    """The dedupe rule: an event is a copy (a duplicate) when a counted copy of its ``(ip, host,
    event_id)`` that arrived before it is at most ``rule.timeout_ms`` away from it in event time.

    ``counted_ms`` are the event times of the copies already counted (in arrival order).
    """
    return any(abs(event_time_ms - t) <= rule.timeout_ms for t in counted_ms)


def session_id(host: str, ip: str, start_ms: int) -> str:
    """Deterministic id: ``sha1(f"{host}|{ip}|{start_ms}")`` hex, first 20 digits.

    In Spark SQL: ``substring(sha1(concat_ws('|', host, ip, cast(start_ms AS STRING))), 1, 20)``.
    """
    return hashlib.sha1(f"{host}|{ip}|{int(start_ms)}".encode()).hexdigest()[:SESSION_ID_HEX]


def as_epoch_ms(value: int | float | datetime | str) -> int:
    """Epoch ms from an engine value: int/float ms, a ``datetime`` (naive means UTC) or ISO-8601 UTC text."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(value, str):
        return parse_time_ms(value)
    return int(value)


@dataclass(frozen=True, slots=True)
class Session:
    """One row of the ``web_sessions`` grain: one session of one ``(ip, host)``."""

    session_id: str
    host: str
    ip: str
    start_ms: int
    end_ms: int
    events: int
    pages: int
    first_url: str
    last_url: str
    referrer: str | None = None
    user_agent: str | None = None
    errors: int = 0
    geo: dict[str, Any] | None = None
    status: str = CLOSED

    @property
    def start(self) -> str:
        return format_time_ms(self.start_ms)

    @property
    def end(self) -> str:
        return format_time_ms(self.end_ms)

    @property
    def duration_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000

    @property
    def dt(self) -> str:
        """The UTC date the session starts on: the day (partition) it belongs to."""
        return format_time_ms(self.start_ms)[:10]

    def to_dict(self) -> dict[str, Any]:
        start = self.start
        return {
            "session_id": self.session_id,
            "host": self.host,
            "ip": self.ip,
            "start": start,
            "end": self.end,
            "duration_s": self.duration_s,
            "events": self.events,
            "pages": self.pages,
            "first_url": self.first_url,
            "last_url": self.last_url,
            "referrer": self.referrer,
            "user_agent": self.user_agent,
            "errors": self.errors,
            "geo": self.geo,
            "status": self.status,
            "dt": start[:10],
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Session:
        """The inverse of :meth:`to_dict` (derived fields are recomputed, not trusted)."""
        return session_from_aggregates(
            record["host"],
            record["ip"],
            as_epoch_ms(record["start"]),
            as_epoch_ms(record["end"]),
            record["events"],
            record["pages"],
            record["first_url"],
            record["last_url"],
            record.get("referrer"),
            record.get("user_agent"),
            record.get("errors", 0),
            record.get("geo"),
            record.get("status", CLOSED),
        )


def session_from_aggregates(
    host: str,
    ip: str,
    start_ms: int | datetime,
    end_ms: int | datetime,
    events: int,
    pages: int,
    first_url: str,
    last_url: str,
    referrer: str | None = None,
    user_agent: str | None = None,
    errors: int = 0,
    geo: dict[str, Any] | None = None,
    status: str = CLOSED,
) -> Session:
    """The record from an engine's aggregates. ``end_ms`` is the LAST EVENT (a session window's end,
    ``last + gap``, is not). Times may be epoch ms or datetimes (UTC)."""
    start, end = as_epoch_ms(start_ms), as_epoch_ms(end_ms)
    if end < start:
        raise ValueError(f"session of {ip} on {host} ends ({end}) before it starts ({start})")
    if status not in (OPEN, CLOSED):
        raise ValueError(f"session status must be {OPEN!r} or {CLOSED!r}, not {status!r}")
    return Session(
        session_id=session_id(host, ip, start),
        host=host,
        ip=ip,
        start_ms=start,
        end_ms=end,
        events=int(events),
        pages=int(pages),
        first_url=first_url,
        last_url=last_url,
        referrer=referrer,
        user_agent=user_agent,
        errors=int(errors or 0),
        geo=geo,
        status=status,
    )


class SessionBuilder:
    """The aggregates of one session as events arrive (in any order) and as sessions merge.

    Holds the event times of each counted ``event_id`` (for :func:`is_copy`) and the distinct urls of
    the session: memory is per open session, released when the session is closed and turned into a
    :class:`Session` by :meth:`build`.
    """

    __slots__ = ("host", "ip", "start_ms", "end_ms", "ids", "urls", "events", "errors", "first", "last")

    def __init__(self, event: Event):
        self.host = event.host
        self.ip = event.ip
        self.start_ms = self.end_ms = event.event_time_ms
        self.ids: dict[str, list[int]] = {event.event_id: [event.event_time_ms]}
        self.urls = {event.url}
        self.events = 1
        self.errors = 1 if event.is_error else 0
        self.first = event
        self.last = event

    def has_copy_of(self, event: Event, rule: SessionRule) -> bool:
        """True when a counted event of this session makes ``event`` a copy (:func:`is_copy`)."""
        counted = self.ids.get(event.event_id)
        return counted is not None and is_copy(counted, event.event_time_ms, rule)

    def add(self, event: Event) -> None:
        """Add an event of the same key that is not a copy (the caller checks :meth:`has_copy_of`)."""
        t = event.event_time_ms
        self.ids.setdefault(event.event_id, []).append(t)
        self.urls.add(event.url)
        self.events += 1
        if event.is_error:
            self.errors += 1
        if (t, event.event_id) < (self.first.event_time_ms, self.first.event_id):
            self.first = event
            self.start_ms = t
        if (t, event.event_id) > (self.last.event_time_ms, self.last.event_id):
            self.last = event
            self.end_ms = t

    def merge(self, other: SessionBuilder) -> None:
        """Absorb ``other`` (same key): an out-of-order event has bridged the two sessions."""
        for event_id, times in other.ids.items():
            self.ids.setdefault(event_id, []).extend(times)
        self.urls |= other.urls
        self.events += other.events
        self.errors += other.errors
        if (other.first.event_time_ms, other.first.event_id) < (self.first.event_time_ms, self.first.event_id):
            self.first = other.first
            self.start_ms = other.start_ms
        if (other.last.event_time_ms, other.last.event_id) > (self.last.event_time_ms, self.last.event_id):
            self.last = other.last
            self.end_ms = other.end_ms

    def build(self, status: str = CLOSED) -> Session:
        first = self.first
        return session_from_aggregates(
            self.host,
            self.ip,
            self.start_ms,
            self.end_ms,
            self.events,
            len(self.urls),
            first.url,
            self.last.url,
            first.referrer,
            first.user_agent,
            self.errors,
            first.geo,
            status,
        )
