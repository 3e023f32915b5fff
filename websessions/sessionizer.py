"""The reference sessionizer: the rule of :mod:`websessions.sessions` in plain Python, the oracle.

Streaming (:class:`Sessionizer`): events are fed in arrival order; memory is bounded by the open
sessions (their event ids and distinct urls), not by the input.

- **Watermark** = latest event time seen − ``allowed_lateness_ms``.
- **Late**: an event whose time is before the watermark (as it was before the event arrived) is
  counted in ``late`` and not sessionized. Every session it could have joined or bridged is either
  still open (and then its time is not before the watermark) or already emitted, so an emitted session
  is never contradicted by a later accepted event.
- **Out of order** within the lateness is exact: an event joins every open session of its key that it
  touches (``start − timeout <= t <= end + timeout``); when it touches two, they are merged into one,
  like Flink's merging session windows.
- **Duplicates** (:func:`websessions.sessions.is_copy`): an event whose ``event_id`` was counted in an
  open session of its key at most the timeout away from it in event time is a copy, counted in
  ``duplicates``; the copy that arrived first stays. Ids of closed sessions are forgotten: a copy within
  the timeout of an event of a closed session is behind the watermark, i.e. late, anyway.
- **Closing**: a session is emitted ``closed`` once the watermark is past ``end + timeout``;
  :meth:`Sessionizer.flush` closes everything at end of input. :meth:`Sessionizer.open_sessions` is the
  speed layer's view (status ``open``).

Batch (:func:`sessionize`): the input is in arrival order (the raw files' order: partition, offset);
copies are decided in that order by the same rule, then the counted events are sessionized in event
time with no lateness. On an input with no late events the two modes give the same sessions.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from itertools import count

from websessions.events import Event, Rejection, validate
from websessions.sessions import CLOSED, OPEN, Session, SessionBuilder, SessionRule, is_copy

Key = tuple[str, str]


class Sessionizer:
    """Streaming sessionization: ``feed(event)`` returns the sessions that this event's watermark closed."""

    def __init__(self, rule: SessionRule, *, allowed_lateness_ms: int | None = None):
        self.rule = rule
        self.timeout_ms = rule.timeout_ms
        self.allowed_lateness_ms = rule.allowed_lateness_ms if allowed_lateness_ms is None else allowed_lateness_ms
        self.max_event_time_ms: int | None = None
        self.events_in = 0
        self.duplicates = 0
        self.late = 0
        self.sessions_out = 0
        self._open: dict[Key, list[SessionBuilder]] = {}
        self._deadlines: list[tuple[int, int, Key, SessionBuilder]] = []
        self._seq = count()

    @property
    def watermark_ms(self) -> int | None:
        if self.max_event_time_ms is None:
            return None
        return self.max_event_time_ms - self.allowed_lateness_ms

    @property
    def sessionized(self) -> int:
        """Events counted in a session (neither duplicate nor late)."""
        return self.events_in - self.duplicates - self.late

    def stats(self) -> dict[str, int]:
        return {
            "events_in": self.events_in,
            "sessionized": self.sessionized,
            "duplicates": self.duplicates,
            "late": self.late,
            "sessions_out": self.sessions_out,
            "open_sessions": sum(len(v) for v in self._open.values()),
        }

    def is_late(self, event_time_ms: int) -> bool:
        watermark = self.watermark_ms
        return watermark is not None and event_time_ms < watermark

    def feed(self, event: Event) -> list[Session]:
        """Take the next event in arrival order; return the sessions closed as a result (maybe none)."""
        self.events_in += 1
        t = event.event_time_ms
        if self.is_late(t):
            self.late += 1
            return []
        key = (event.ip, event.host)
        sessions = self._open.get(key)
        if sessions is None:
            sessions = self._open[key] = []
        if any(s.has_copy_of(event, self.rule) for s in sessions):
            self.duplicates += 1
        else:
            self._place(key, sessions, event)
        if self.max_event_time_ms is None or t > self.max_event_time_ms:
            self.max_event_time_ms = t
            return self._close_passed(self.max_event_time_ms - self.allowed_lateness_ms)
        return []

    def _place(self, key: Key, sessions: list[SessionBuilder], event: Event) -> None:
        t, timeout = event.event_time_ms, self.timeout_ms
        touching = [s for s in sessions if s.start_ms - timeout <= t <= s.end_ms + timeout]
        if not touching:
            builder = SessionBuilder(event)
            sessions.append(builder)
            sessions.sort(key=lambda s: s.start_ms)
            heapq.heappush(self._deadlines, (builder.end_ms + timeout, next(self._seq), key, builder))
            return
        target = touching[0]
        target.add(event)
        for other in touching[1:]:
            target.merge(other)
            sessions.remove(other)

    def _close_passed(self, watermark: int) -> list[Session]:
        """Close every open session whose ``end + timeout`` is before the watermark."""
        closed: list[Session] = []
        heap = self._deadlines
        while heap and heap[0][0] < watermark:
            _, _, key, builder = heapq.heappop(heap)
            sessions = self._open.get(key)
            if sessions is None or not any(s is builder for s in sessions):
                continue  # merged into another session
            deadline = builder.end_ms + self.timeout_ms
            if deadline >= watermark:
                heapq.heappush(heap, (deadline, next(self._seq), key, builder))
                continue
            sessions.remove(builder)
            if not sessions:
                del self._open[key]
            closed.append(builder.build(CLOSED))
        self.sessions_out += len(closed)
        return closed

    def flush(self) -> list[Session]:
        """End of input: close every open session, in the order the watermark would have closed them."""
        builders = [b for sessions in self._open.values() for b in sessions]
        builders.sort(key=lambda b: (b.end_ms, b.host, b.ip, b.start_ms))
        self._open.clear()
        self._deadlines.clear()
        self.sessions_out += len(builders)
        return [b.build(CLOSED) for b in builders]

    def open_sessions(self) -> list[Session]:
        """A snapshot of the sessions that may still grow (status ``open``), by host, ip, start."""
        snapshot = [b.build(OPEN) for sessions in self._open.values() for b in sessions]
        return sorted(snapshot, key=session_order)


def session_order(session: Session) -> tuple[str, str, int]:
    """The order of session listings and of the shared vectors: host, ip, start."""
    return (session.host, session.ip, session.start_ms)


def counted_events(events: Iterable[Event], rule: SessionRule) -> tuple[list[Event], int]:
    """The events that count (in event time, then id) and the number of copies dropped: ``events`` are
    in ARRIVAL order, which decides which copy of an ``event_id`` is counted
    (:func:`websessions.sessions.is_copy`, the first to arrive wins)."""
    counted: dict[tuple[str, str, str], list[int]] = {}
    kept: list[Event] = []
    duplicates = 0
    for event in events:
        times = counted.setdefault((event.ip, event.host, event.event_id), [])
        if is_copy(times, event.event_time_ms, rule):
            duplicates += 1
            continue
        times.append(event.event_time_ms)
        kept.append(event)
    kept.sort(key=lambda e: (e.event_time_ms, e.event_id))
    return kept, duplicates


def sessionize(events: Iterable[Event], rule: SessionRule, stats: dict[str, int] | None = None) -> list[Session]:
    """Batch mode: all sessions of ``events``, sorted by host, ip, start; nothing is late.

    ``events`` are in ARRIVAL order: it decides which copy of an ``event_id`` is counted
    (:func:`websessions.sessions.is_copy`, the first to arrive wins); the counted events are then
    sessionized in event time, so their order among themselves does not matter. ``stats``, if given,
    is filled with the counters (``duplicates`` counts the copies).
    """
    kept, duplicates = counted_events(events, rule)
    sessionizer = Sessionizer(rule, allowed_lateness_ms=0)
    sessions: list[Session] = []
    for event in kept:
        sessions.extend(sessionizer.feed(event))
    sessions.extend(sessionizer.flush())
    if stats is not None:
        stats.update(sessionizer.stats())
        stats["events_in"] += duplicates
        stats["duplicates"] += duplicates
    return sorted(sessions, key=session_order)


def sessionize_jsonl(
    lines: Iterable[bytes | str],
    rule: SessionRule,
    *,
    batch: bool = False,
    on_invalid: Callable[[int, Rejection], None] | None = None,
    stats: dict[str, int] | None = None,
) -> Iterator[Session]:
    """Sessionize JSON lines: streaming (sessions as they close, memory bounded) or ``batch`` (sorted).

    Blank lines are skipped; an invalid line is passed to ``on_invalid(line_number, rejection)``,
    counted in ``stats["invalid"]`` and otherwise skipped. ``stats`` receives the counters at the end.
    """
    invalid = 0

    def events() -> Iterator[Event]:
        nonlocal invalid
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            outcome = validate(line)
            if isinstance(outcome, Rejection):
                invalid += 1
                if on_invalid is not None:
                    on_invalid(number, outcome)
                continue
            yield outcome

    counters: dict[str, int] = {}
    if batch:
        yield from sessionize(events(), rule, counters)
    else:
        sessionizer = Sessionizer(rule)
        for event in events():
            yield from sessionizer.feed(event)
        yield from sessionizer.flush()
        counters = sessionizer.stats()
    if stats is not None:
        stats.update(counters, invalid=invalid)
