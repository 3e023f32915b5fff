"""From the job's update rows to session records: decoding, and the live view's bucket chaining.

Closed sessions arrive final from Flink's session window (:func:`closed_session`). Open sessions are
assembled here from per-bucket aggregates (:class:`Partial`): a bucket is at most the timeout long, so
its events all belong to one session and a key's sessions are the chains of its buckets in which each
bucket starts no more than the timeout after the previous one ends (:meth:`SessionRule.continues`, the
one rule). Counts add up across buckets (an event and its copies share one bucket), distinct pages are
the union of the buckets' urls, first/last events are the min/max of the buckets' sort keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streaming.sessions_job import ID_SEPARATOR, URL_SEPARATOR
from websessions.events import parse_time_ms
from websessions.sessions import (
    CLOSED,
    OPEN,
    Session,
    SessionRule,
    session_from_aggregates,
    window_end_to_last_event_ms,
)
from websessions.stores.hbase_sessions import MinuteMetrics

TIME_CHARS = 24  # the canonical event_time that starts every first/last sort key


@dataclass(frozen=True, slots=True)
class FirstEvent:
    time_ms: int
    url: str
    referrer: str | None
    user_agent: str | None
    geo: dict[str, Any] | None


def first_event(key: str) -> FirstEvent:
    """Decode ``event_time || event_id || NUL || json[url, referrer, user_agent, geo]``."""
    payload = json.loads(key.rsplit("\x00", 1)[1])
    url, referrer, user_agent, geo = payload
    return FirstEvent(parse_time_ms(key[:TIME_CHARS]), url, referrer, user_agent, json.loads(geo) if geo else None)


def last_event(key: str) -> tuple[int, str]:
    """Decode ``event_time || event_id || NUL || url`` into (time, url)."""
    return parse_time_ms(key[:TIME_CHARS]), key.rsplit("\x00", 1)[1]


def closed_session(row: Mapping[str, Any], rule: SessionRule) -> Session:
    """A ``session`` update row as the session record (window end converted to the last event)."""
    first = first_event(row["first_event"])
    _, last_url = last_event(row["last_event"])
    return session_from_aggregates(
        row["host"],
        row["ip"],
        parse_time_ms(row["t_start"]),
        window_end_to_last_event_ms(parse_time_ms(row["t_end"]), rule),
        row["events"],
        row["pages"],
        first.url,
        last_url,
        first.referrer,
        first.user_agent,
        row["errors"],
        first.geo,
        CLOSED,
    )


@dataclass(frozen=True, slots=True)
class Partial:
    """The aggregates of one key's events in one bucket."""

    bucket: int
    events: int
    errors: int
    first_key: str
    last_key: str
    urls: tuple[str, ...]

    @property
    def first_ms(self) -> int:
        return parse_time_ms(self.first_key[:TIME_CHARS])

    @property
    def last_ms(self) -> int:
        return parse_time_ms(self.last_key[:TIME_CHARS])

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Partial:
        """A ``partial`` update row: its id and url lists counted distinct."""
        urls = tuple(sorted(set(row["urls"].split(URL_SEPARATOR)))) if row["urls"] else ()
        events, errors = (len(set(row[k].split(ID_SEPARATOR))) if row[k] else 0 for k in ("event_ids", "error_ids"))
        return cls(row["bucket"], events, errors, row["first_event"], row["last_event"], urls)

    def to_bytes(self) -> bytes:
        record = [self.bucket, self.events, self.errors, self.first_key, self.last_key, list(self.urls)]
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Partial:
        bucket, events, errors, first_key, last_key, urls = json.loads(raw)
        return cls(bucket, events, errors, first_key, last_key, tuple(urls))


def metrics_of(row: Mapping[str, Any]) -> MinuteMetrics:
    return MinuteMetrics(row["host"], row["bucket"], row["events"], row["users"], row["errors"])


def chains(partials: list[Partial], rule: SessionRule) -> list[list[Partial]]:
    """A key's buckets grouped into sessions: sorted by first event, split where the gap exceeds the timeout."""
    out: list[list[Partial]] = []
    end = None
    for p in sorted(partials, key=lambda p: p.first_key):
        if end is not None and rule.continues(p.first_ms - end):
            out[-1].append(p)
            end = max(end, p.last_ms)
        else:
            out.append([p])
            end = p.last_ms
    return out


def open_session(host: str, ip: str, chain: list[Partial]) -> Session:
    """The open session record of one chain of buckets."""
    first_key = min(p.first_key for p in chain)
    last_key = max(p.last_key for p in chain)
    first = first_event(first_key)
    last_ms, last_url = last_event(last_key)
    urls = set().union(*(p.urls for p in chain))
    return session_from_aggregates(
        host, ip, first.time_ms, last_ms, sum(p.events for p in chain), len(urls), first.url, last_url,
        first.referrer, first.user_agent, sum(p.errors for p in chain), first.geo, OPEN,
    )  # fmt: skip


@dataclass
class KeyState:
    partials: dict[int, Partial] = field(default_factory=dict)
    rows: dict[int, int] = field(default_factory=dict)  # open rows written: start_ms -> end_ms


@dataclass
class LiveChange:
    """What one update means for HBase: open rows to (re)write and open rows to drop."""

    puts: list[tuple[Session, dict[int, bytes]]] = field(default_factory=list)
    deletes: list[tuple[str, str, int]] = field(default_factory=list)  # (host, ip, start_ms)


class LiveSessions:
    """The open sessions of every key, from partial updates and closed sessions (in any order)."""

    def __init__(self, rule: SessionRule):
        self.rule = rule
        self.keys: dict[tuple[str, str], KeyState] = {}
        self.closed_until: dict[tuple[str, str], int] = {}  # last event of the key's latest closed session
        self.max_event_ms = 0

    @property
    def open_rows(self) -> int:
        return sum(len(ks.rows) for ks in self.keys.values())

    def restore(self, host: str, ip: str, start_ms: int, end_ms: int, partials: list[Partial]) -> None:
        """Take back an open row found in HBase at startup."""
        ks = self.keys.setdefault((host, ip), KeyState())
        ks.rows[start_ms] = end_ms
        for p in partials:
            ks.partials[p.bucket] = p
            self.max_event_ms = max(self.max_event_ms, p.last_ms)

    def on_partial(self, host: str, ip: str, partial: Partial) -> LiveChange:
        change = LiveChange()
        key = (host, ip)
        if partial.last_ms <= self.closed_until.get(key, -1):
            return change  # a bucket of a session that is already closed (updates raced the watermark)
        self.max_event_ms = max(self.max_event_ms, partial.last_ms)
        ks = self.keys.setdefault(key, KeyState())
        ks.partials[partial.bucket] = partial
        built = [(open_session(host, ip, chain), chain) for chain in chains(list(ks.partials.values()), self.rule)]
        rows = {session.start_ms: session.end_ms for session, _ in built}
        change.deletes = [(host, ip, start) for start in ks.rows if start not in rows]  # merged into another
        for session, chain in built:
            if session.start_ms not in ks.rows or (change.deletes and partial in chain):
                change.puts.append((session, {p.bucket: p.to_bytes() for p in chain}))  # carries all its buckets
            elif partial in chain:
                change.puts.append((session, {partial.bucket: partial.to_bytes()}))
        ks.rows = rows
        return change

    def on_closed(self, session: Session) -> LiveChange:
        """A session closed: forget its buckets; its other open rows (other starts) are dropped."""
        change = LiveChange()
        key = (session.host, session.ip)
        self.closed_until[key] = max(self.closed_until.get(key, -1), session.end_ms)
        self.max_event_ms = max(self.max_event_ms, session.end_ms)
        ks = self.keys.get(key)
        if ks is None:
            return change
        ks.partials = {b: p for b, p in ks.partials.items() if not session.start_ms <= p.first_ms <= session.end_ms}
        for start in [s for s in ks.rows if session.start_ms <= s <= session.end_ms]:
            del ks.rows[start]
            if start != session.start_ms:  # the closed put clears its own row's live view
                change.deletes.append((session.host, session.ip, start))
        if not ks.partials and not ks.rows:
            del self.keys[key]
        return change

    def sweep(self, grace_ms: int) -> LiveChange:
        """Drop open rows that should have closed long ago (their end + timeout + ``grace_ms`` is behind
        the estimated watermark): leftovers of updates that raced a restart. Also forgets old closings."""
        change = LiveChange()
        watermark = self.max_event_ms - self.rule.allowed_lateness_ms
        horizon = watermark - self.rule.timeout_ms - grace_ms
        for key in list(self.keys):
            ks = self.keys[key]
            for start, end in list(ks.rows.items()):
                if end < horizon:
                    del ks.rows[start]
                    change.deletes.append((key[0], key[1], start))
            ks.partials = {b: p for b, p in ks.partials.items() if p.last_ms >= horizon}
            if not ks.partials and not ks.rows:
                del self.keys[key]
        self.closed_until = {k: v for k, v in self.closed_until.items() if v >= horizon}
        return change
