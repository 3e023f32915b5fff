"""The day's analytics in Postgres (:mod:`websessions.analytics` defines them): day replacement, reads.

Tables (grain first; ``dt`` is the UTC day the sessions start on, as in ``sessions``):

- ``agents_daily``: one row per day, host and user agent (``''`` for none): browser family, OS family,
  device class, bot flag, sessions and their events. A session's class: join ``sessions`` on
  ``(dt, host, coalesce(user_agent, ''))``.
- ``event_types_daily``: one row per day, host and event type: events, sessions.
- ``load_times_daily``: one row per day, host and page, and one per day and host with ``page`` NULL (all
  pages): samples and p50/p95/p99 load time (nearest rank; Spark's ``percentile_approx``).
- ``hourly_trends``: one row per day, host and UTC hour with events of the day's sessions: events,
  sessions started, active users, errors. An hour just after midnight can have rows under two days
  (sessions of the day before still running): readers sum them, see :func:`hourly_series`.
- ``page_covisits_daily``: one row per day, host, page and rank (1 .. ``recommend_top_k``): the page
  also viewed in the most sessions (bots excluded) that viewed ``page``.

The batch replaces a day of every table inside the transaction that swaps the day's sessions
(:meth:`websessions.stores.postgres_sessions.StagedDay.swap`): readers see the old day or the new one.
Every read below is a plain function returning dataclasses (the CLI and the dashboard call them). The
tables are created by ``postgres/migrations`` (:mod:`websessions.db_migrations`), never here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from websessions.analytics import SESSION_RANKINGS, AgentClass, LoadTimeRow, page_of_url
from websessions.sessions import Session, as_epoch_ms
from websessions.settings import Settings

# Table -> its columns after dt, as the batch's rows name them (hourly_trends' hour comes as hour_ms).
COLUMNS: dict[str, tuple[str, ...]] = {
    "agents_daily": (
        "host",
        "user_agent",
        "browser_family",
        "os_family",
        "device_class",
        "is_bot",
        "sessions",
        "events",
    ),
    "event_types_daily": ("host", "event_type", "events", "sessions"),
    "load_times_daily": ("host", "page", "samples", "p50_ms", "p95_ms", "p99_ms"),
    "hourly_trends": ("host", "hour_ms", "events", "sessions_started", "active_users", "errors"),
    "page_covisits_daily": ("host", "page", "rank", "also_viewed", "sessions"),
}
TABLES = tuple(COLUMNS)


def replace_day(cur, dt: str, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, int]:
    """In the caller's transaction: delete day ``dt`` of every table of :data:`TABLES` and insert
    ``rows[table]`` (mappings with the names of :data:`COLUMNS`; a missing table gets no rows).
    Returns the rows inserted per table."""
    from psycopg2.extras import execute_values

    inserted = {}
    for table, columns in COLUMNS.items():
        cur.execute(f"DELETE FROM {table} WHERE dt = %s", (dt,))
        values = [(dt, *(row[c] for c in columns)) for row in rows.get(table, ())]
        names = ", ".join("hour" if c == "hour_ms" else c for c in columns)
        template = "(" + ", ".join(["%s"] + ["to_timestamp(%s / 1000.0)" if c == "hour_ms" else "%s" for c in columns])
        if values:
            execute_values(cur, f"INSERT INTO {table} (dt, {names}) VALUES %s", values, template=template + ")")
        inserted[table] = len(values)
    return inserted


def _fetch(settings: Settings, sql: str, params: Mapping[str, Any]) -> list[tuple]:
    from websessions.db_migrations import serving_connection

    with serving_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _day(dt: str) -> str:
    return date.fromisoformat(dt).isoformat()


# -- reads ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentShare:
    """Sessions of one host over a range of days by one class of agent."""

    host: str
    agent: AgentClass
    sessions: int
    events: int


def agent_shares(settings: Settings, dt_from: str, dt_to: str, host: str | None = None) -> list[AgentShare]:
    """Per host, browser family, OS family and device class over ``dt_from`` .. ``dt_to``: sessions and
    events, most sessions first."""
    rows = _fetch(
        settings,
        """SELECT host, browser_family, os_family, device_class, is_bot, sum(sessions), sum(events)
        FROM agents_daily WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s::text IS NULL OR host = %(host)s)
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY host COLLATE "C", 6 DESC, browser_family COLLATE "C", os_family COLLATE "C", device_class""",
        {"from": _day(dt_from), "to": _day(dt_to), "host": host},
    )
    return [AgentShare(h, AgentClass(b, o, d, bot), int(n), int(e)) for h, b, o, d, bot, n, e in rows]


@dataclass(frozen=True)
class EventTypeCount:
    """Events of one type on one host over a range of days (``sessions`` summed over days)."""

    host: str
    event_type: str
    events: int
    sessions: int


def event_type_counts(settings: Settings, dt_from: str, dt_to: str, host: str | None = None) -> list[EventTypeCount]:
    """Per host and event type over ``dt_from`` .. ``dt_to``: events and sessions, most events first."""
    rows = _fetch(
        settings,
        """SELECT host, event_type, sum(events), sum(sessions) FROM event_types_daily
        WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s::text IS NULL OR host = %(host)s)
        GROUP BY 1, 2 ORDER BY host COLLATE "C", 3 DESC, event_type COLLATE "C\"""",
        {"from": _day(dt_from), "to": _day(dt_to), "host": host},
    )
    return [EventTypeCount(h, t, int(e), int(s)) for h, t, e, s in rows]


def load_times(
    settings: Settings, dt: str, host: str | None = None, pages: bool = True, limit: int | None = None
) -> list[LoadTimeRow]:
    """Load-time percentiles of day ``dt`` (the rows of ``load_times_daily``, as the reference defines them):
    per host (page None) and, with ``pages``, per page (the ``limit`` slowest by p95 per host); by host, the
    host row first."""
    rows = _fetch(
        settings,
        """SELECT host, page, samples, p50_ms, p95_ms, p99_ms FROM (
            SELECT *, row_number() OVER (PARTITION BY host, page IS NULL ORDER BY p95_ms DESC, page COLLATE "C") AS n
            FROM load_times_daily WHERE dt = %(dt)s AND (%(host)s::text IS NULL OR host = %(host)s)
              AND (%(pages)s OR page IS NULL)) ranked
        WHERE page IS NULL OR %(limit)s::int IS NULL OR n <= %(limit)s
        ORDER BY host COLLATE "C", page IS NOT NULL, p95_ms DESC, page COLLATE "C\"""",
        {"dt": _day(dt), "host": host, "pages": pages, "limit": limit},
    )
    return [LoadTimeRow(h, p, int(n), a, b, c) for h, p, n, a, b, c in rows]


@dataclass(frozen=True)
class HourPoint:
    """One host in one UTC hour (``hour``: ISO-8601 of its start)."""

    host: str
    hour: str
    events: int
    sessions_started: int
    active_users: int
    errors: int


def hourly_series(settings: Settings, dt_from: str, dt_to: str, host: str | None = None) -> list[HourPoint]:
    """The hourly series of the days ``dt_from`` .. ``dt_to`` (the days the sessions started on), by host
    and hour. An hour with rows under two days (just after midnight) is summed; its active users are
    then an upper bound (an IP with sessions of both days in that hour counts twice)."""
    rows = _fetch(
        settings,
        """SELECT host, hour, sum(events), sum(sessions_started), sum(active_users), sum(errors) FROM hourly_trends
        WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s::text IS NULL OR host = %(host)s)
        GROUP BY 1, 2 ORDER BY host COLLATE "C", hour""",
        {"from": _day(dt_from), "to": _day(dt_to), "host": host},
    )
    from websessions.events import format_time_ms

    return [HourPoint(h, format_time_ms(as_epoch_ms(t)), int(e), int(s), int(u), int(x)) for h, t, e, s, u, x in rows]


@dataclass(frozen=True)
class Recommendation:
    """A page also viewed by the visitors of another page on one day (``sessions``: how many viewed both)."""

    dt: str
    host: str
    page: str
    rank: int
    also_viewed: str
    sessions: int


def recommendations(settings: Settings, host: str, url: str, dt: str | None = None) -> list[Recommendation]:
    """ "Visitors of this page also viewed": the ranked pages for ``url``'s page on ``host`` on day ``dt``
    (default: the latest day that has any for that page)."""
    rows = _fetch(
        settings,
        """SELECT dt, host, page, rank, also_viewed, sessions FROM page_covisits_daily
        WHERE host = %(host)s AND page = %(page)s AND dt = coalesce(%(dt)s::date,
            (SELECT max(dt) FROM page_covisits_daily WHERE host = %(host)s AND page = %(page)s))
        ORDER BY rank""",
        {"host": host, "page": page_of_url(url), "dt": _day(dt) if dt else None},
    )
    return [Recommendation(d.isoformat(), h, p, r, a, int(n)) for d, h, p, r, a, n in rows]


@dataclass(frozen=True)
class NotableSession:
    """A session of the batch layer with its agent's class (``is_bot`` False when the agent is unknown)."""

    session: Session
    browser_family: str | None
    device_class: str | None
    is_bot: bool


_RANKING = {"events": "s.events DESC, s.duration_s DESC", "duration": "s.duration_s DESC, s.events DESC"}


def top_sessions(
    settings: Settings, dt: str, n: int, by: str = "events", host: str | None = None
) -> list[NotableSession]:
    """The ``n`` sessions of day ``dt`` with the most events (``by="events"``) or the longest
    (``"duration"``), ties broken as :func:`websessions.analytics.top_sessions` breaks them."""
    from websessions.stores.postgres_sessions import RECORD_COLUMNS, session_of_row

    if by not in SESSION_RANKINGS:
        raise ValueError(f"rank sessions by one of {', '.join(SESSION_RANKINGS)}, not {by!r}")
    rows = _fetch(
        settings,
        f"""SELECT {", ".join(f"s.{c}" for c in RECORD_COLUMNS)}, a.browser_family, a.device_class,
                   coalesce(a.is_bot, false)
        FROM sessions s LEFT JOIN agents_daily a
          ON a.dt = s.dt AND a.host = s.host AND a.user_agent = coalesce(s.user_agent, '')
        WHERE s.dt = %(dt)s AND (%(host)s::text IS NULL OR s.host = %(host)s)
        ORDER BY {_RANKING[by]}, s.start_ts, s.session_id COLLATE "C" LIMIT %(n)s""",
        {"dt": _day(dt), "host": host, "n": n},
    )
    n_record = len(RECORD_COLUMNS)
    return [NotableSession(session_of_row(row[:n_record]), *row[n_record:]) for row in rows]
