"""The day's web analytics beyond sessions, defined once: agents and bots, actions, load times, hourly
trends, notable sessions and page co-visitation ("visitors of this page also viewed").

This module is the reference (plain Python over the reference sessions and their events); the batch
layer's Spark transforms (:mod:`batch.analytics`) must produce the same rows, and the integration test
compares them on a known day. Like the history tables, every measure counts the events of the
sessions that start on the day (deduplicated), so it reconciles with the day's sessions.

- **Agents.** A user agent is classified by the ``user-agents`` library (on ``ua-parser``'s maintained
  regexes): browser family, OS family, device class ``bot`` / ``tablet`` / ``mobile`` / ``desktop``
  (the first that applies; ``desktop`` is everything else, a missing agent included) and the bot
  flag (``device_class == "bot"``). A session's agent is that of its first event. The batch parses
  each distinct agent of the day once, in the driver (:func:`classify_agent`, memoised).
- **Percentiles** of load time are nearest-rank: the smallest value with at least ``p`` of the
  values at or below it (``sorted[ceil(p * n) - 1]``). Spark's ``percentile_approx`` with accuracy
  :data:`PERCENTILE_ACCURACY` returns exactly this while a group has fewer than that many values, and
  a value within ``n / accuracy`` ranks of it beyond.
- **Hours** are UTC hours of event time; a session crossing midnight puts its later events in hours
  of the next day (still under the day its session started).
- **Co-visitation** counts, per host and ordered pair of distinct pages, the sessions (bots excluded:
  a crawler's page set is no visitor's interest) that viewed both; each page keeps its top ``k``,
  ranked by sessions (descending), then page (ascending, by code point).
- **Notable sessions** rank by events or by duration, ties broken by the other measure (descending),
  then start and session id (ascending).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from websessions.events import Event
from websessions.sessionizer import counted_events
from websessions.sessions import Session, SessionRule

DEVICE_CLASSES = ("desktop", "mobile", "tablet", "bot")
PERCENTILES = (0.5, 0.95, 0.99)
PERCENTILE_ACCURACY = 10_000  # Spark's default for percentile_approx: relative rank error 1/10,000
HOME = "/"
NO_AGENT = ""  # how a missing user agent is keyed in the agent tables
SESSION_RANKINGS = ("events", "duration")


@dataclass(frozen=True)
class AgentClass:
    """What a user agent is: browser family, OS family, device class and whether it is a bot."""

    browser_family: str
    os_family: str
    device_class: str
    is_bot: bool


@lru_cache(maxsize=65_536)
def classify_agent(user_agent: str | None) -> AgentClass:
    """The class of ``user_agent`` (``None`` is treated as the empty agent)."""
    import user_agents

    parsed = user_agents.parse(user_agent or "")
    if parsed.is_bot:
        device = "bot"
    elif parsed.is_tablet:
        device = "tablet"
    elif parsed.is_mobile:
        device = "mobile"
    else:
        device = "desktop"
    return AgentClass(parsed.browser.family, parsed.os.family, device, device == "bot")


def page_of_url(url: str) -> str:
    """The page of a url: its path without query string or fragment (``/`` when empty); Spark's
    adapter is :func:`batch.history.page`."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    return path or HOME


def nearest_rank(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p`` percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1]


# -- the day's tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRow:
    """One row of ``agents_daily``: one host, day and user agent (``""`` for none), with its class."""

    host: str
    user_agent: str
    browser_family: str
    os_family: str
    device_class: str
    is_bot: bool
    sessions: int
    events: int


def agents_daily(sessions: Iterable[Session]) -> list[AgentRow]:
    """Per host and user agent of the sessions' first events: the class, sessions and their events."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in sessions:
        c = counts[(s.host, s.user_agent or NO_AGENT)]
        c[0] += 1
        c[1] += s.events
    rows = []
    for (host, agent), (n, events) in sorted(counts.items()):
        k = classify_agent(agent)
        rows.append(AgentRow(host, agent, k.browser_family, k.os_family, k.device_class, k.is_bot, n, events))
    return rows


def bot_sessions(agents: Iterable[AgentRow]) -> dict[str, int]:
    """Host -> sessions whose agent is a bot (every host of ``agents``, zero included)."""
    out: Counter[str] = Counter()
    for row in agents:
        out[row.host] += row.sessions if row.is_bot else 0
    return dict(out)


@dataclass(frozen=True)
class EventTypeRow:
    """One row of ``event_types_daily``: one host, day and event type."""

    host: str
    event_type: str
    events: int
    sessions: int


def event_types_daily(events_by_session: Mapping[str, Sequence[Event]]) -> list[EventTypeRow]:
    """Per host and event type: events, and sessions with at least one such event."""
    events: Counter[tuple[str, str]] = Counter()
    sessions: dict[tuple[str, str], set[str]] = defaultdict(set)
    for sid, evs in events_by_session.items():
        for e in evs:
            events[(e.host, e.event_type)] += 1
            sessions[(e.host, e.event_type)].add(sid)
    return [EventTypeRow(h, t, n, len(sessions[(h, t)])) for (h, t), n in sorted(events.items())]


@dataclass(frozen=True)
class LoadTimeRow:
    """One row of ``load_times_daily``: one host and page (``page`` None: all pages of the host) and day;
    nearest-rank percentiles of ``load_time_ms`` over the events that carry one."""

    host: str
    page: str | None
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def load_times_daily(events_by_session: Mapping[str, Sequence[Event]]) -> list[LoadTimeRow]:
    """Per host and page, and per host over all its pages: load-time samples and p50/p95/p99."""
    groups: dict[tuple[str, str | None], list[float]] = defaultdict(list)
    for evs in events_by_session.values():
        for e in evs:
            if e.load_time_ms is not None:
                groups[(e.host, page_of_url(e.url))].append(float(e.load_time_ms))
                groups[(e.host, None)].append(float(e.load_time_ms))
    return [
        LoadTimeRow(host, page, len(v), *(nearest_rank(v, p) for p in PERCENTILES))
        for (host, page), v in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or ""))
    ]


@dataclass(frozen=True)
class HourRow:
    """One row of ``hourly_trends``: one host and UTC hour (epoch ms of its start) of the day's sessions."""

    host: str
    hour_ms: int
    events: int
    sessions_started: int
    active_users: int
    errors: int


HOUR_MS = 3_600_000


def hourly_trends(sessions: Iterable[Session], events_by_session: Mapping[str, Sequence[Event]]) -> list[HourRow]:
    """Per host and hour with events: events, sessions started, active users (distinct IPs with an
    event in the hour) and errors (status >= 400)."""
    events: Counter[tuple[str, int]] = Counter()
    errors: Counter[tuple[str, int]] = Counter()
    users: dict[tuple[str, int], set[str]] = defaultdict(set)
    started: Counter[tuple[str, int]] = Counter()
    for s in sessions:
        started[(s.host, s.start_ms - s.start_ms % HOUR_MS)] += 1
        for e in events_by_session[s.session_id]:
            key = (e.host, e.event_time_ms - e.event_time_ms % HOUR_MS)
            events[key] += 1
            errors[key] += e.is_error
            users[key].add(e.ip)
    return [
        HourRow(h, t, n, started[(h, t)], len(users[(h, t)]), errors[(h, t)]) for (h, t), n in sorted(events.items())
    ]


@dataclass(frozen=True)
class CoVisitRow:
    """One row of ``page_covisits_daily``: for one host, page and day, the ``rank``-th page also viewed in
    the same sessions (``sessions``: how many viewed both)."""

    host: str
    page: str
    rank: int
    also_viewed: str
    sessions: int


def page_covisits(
    sessions: Iterable[Session], events_by_session: Mapping[str, Sequence[Event]], top_k: int
) -> list[CoVisitRow]:
    """Per host and page, the ``top_k`` pages most often viewed in the same (non-bot) sessions."""
    pairs: Counter[tuple[str, str, str]] = Counter()
    for s in sessions:
        if classify_agent(s.user_agent).is_bot:
            continue
        pages = sorted({page_of_url(e.url) for e in events_by_session[s.session_id]})
        for a in pages:
            for b in pages:
                if a != b:
                    pairs[(s.host, a, b)] += 1
    ranked: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for (host, a, b), n in pairs.items():
        ranked[(host, a)].append((-n, b))
    rows = []
    for (host, a), candidates in sorted(ranked.items()):
        for rank, (n, b) in enumerate(sorted(candidates)[:top_k], 1):
            rows.append(CoVisitRow(host, a, rank, b, -n))
    return rows


def top_sessions(sessions: Iterable[Session], n: int, by: str = "events", host: str | None = None) -> list[Session]:
    """The ``n`` sessions with the most events (``by="events"``) or the longest (``"duration"``)."""
    if by not in SESSION_RANKINGS:
        raise ValueError(f"rank sessions by one of {', '.join(SESSION_RANKINGS)}, not {by!r}")
    chosen = [s for s in sessions if host is None or s.host == host]
    measures = (lambda s: (s.events, s.end_ms - s.start_ms)) if by == "events" else (
        lambda s: (s.end_ms - s.start_ms, s.events)
    )  # fmt: skip
    chosen.sort(key=lambda s: (*(-m for m in measures(s)), s.start_ms, s.session_id))
    return chosen[:n]


def change(current: float, previous: float | None) -> float | None:
    """The relative change from ``previous`` to ``current`` (None without a previous value or from zero)."""
    if previous is None or previous == 0:
        return None
    return (current - previous) / previous


def events_by_session(
    sessions: Iterable[Session], events: Iterable[Event], rule: SessionRule
) -> dict[str, list[Event]]:
    """Session id -> its counted events (``events`` in arrival order: the copies are dropped as the
    sessionizer drops them), in event time; the input of the day's tables."""
    kept, _ = counted_events(events, rule)
    by_key: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in kept:
        by_key[(e.ip, e.host)].append(e)
    return {
        s.session_id: [e for e in by_key[(s.ip, s.host)] if s.start_ms <= e.event_time_ms <= s.end_ms] for s in sessions
    }
