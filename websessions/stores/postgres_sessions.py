"""The batch layer's sessions and daily statistics in Postgres: schema, atomic day replacement, reads.

Tables (grain first):

- ``sessions``: one row per session (the :class:`~websessions.sessions.Session` record), ``dt`` the
  UTC day it starts on; primary key ``session_id``.
- ``domain_daily_stats``: one row per day and host (sessions, events, average/max/median events per
  session, unique IPs, average/median duration, bounce rate); primary key ``(dt, host)``.

A day is replaced, never appended to: the new sessions are first loaded into an unlogged staging
table of this run (by ``COPY`` from Python, or by Spark's JDBC writer for large days — the batch
job chooses, see :class:`StagedDay`), then ONE transaction takes the day's advisory lock, deletes the
day from both tables, inserts the staged sessions and the stats, and drops the staging table.
Readers see the old day or the new one, never a mix or nothing; a rerun leaves identical rows, and
two runs of one day queue on the lock instead of colliding on keys.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from websessions.sessions import Session, as_epoch_ms, session_from_aggregates
from websessions.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id text PRIMARY KEY,
    dt date NOT NULL,
    host text NOT NULL,
    ip text NOT NULL,
    start_ts timestamptz NOT NULL,
    end_ts timestamptz NOT NULL,
    duration_s double precision NOT NULL,
    events integer NOT NULL,
    pages integer NOT NULL,
    first_url text NOT NULL,
    last_url text NOT NULL,
    referrer text,
    user_agent text,
    errors integer NOT NULL,
    geo jsonb,
    status text NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_dt_host_ip ON sessions (dt, host, ip);
CREATE TABLE IF NOT EXISTS domain_daily_stats (
    dt date NOT NULL,
    host text NOT NULL,
    sessions bigint NOT NULL,
    events bigint NOT NULL,
    avg_events_per_session double precision NOT NULL,
    max_events_per_session integer NOT NULL,
    median_events_per_session double precision NOT NULL,
    unique_ips bigint NOT NULL,
    avg_duration_s double precision NOT NULL,
    median_duration_s double precision NOT NULL,
    bounce_rate double precision NOT NULL,
    PRIMARY KEY (dt, host)
);
"""

# The staging layout: times as epoch ms and text for dt and geo, so any loader (COPY text, Spark's
# JDBC writer) can fill it without type conversions; the swap converts exactly.
STAGING_COLUMNS = (
    "session_id", "dt", "host", "ip", "start_ms", "end_ms", "duration_s", "events", "pages", "first_url",
    "last_url", "referrer", "user_agent", "errors", "geo", "status",
)  # fmt: skip
_STAGING_DDL = """
CREATE UNLOGGED TABLE {name} (
    session_id text NOT NULL, dt text NOT NULL, host text NOT NULL, ip text NOT NULL, start_ms bigint NOT NULL,
    end_ms bigint NOT NULL, duration_s double precision NOT NULL, events integer NOT NULL, pages integer NOT NULL,
    first_url text NOT NULL, last_url text NOT NULL, referrer text, user_agent text, errors integer NOT NULL,
    geo text, status text NOT NULL
)
"""
_SWAP_SESSIONS = """
INSERT INTO sessions (session_id, dt, host, ip, start_ts, end_ts, duration_s, events, pages, first_url, last_url,
                      referrer, user_agent, errors, geo, status)
SELECT session_id, dt::date, host, ip,
       timestamptz 'epoch' + start_ms * interval '1 millisecond',
       timestamptz 'epoch' + end_ms * interval '1 millisecond',
       duration_s, events, pages, first_url, last_url, referrer, user_agent, errors, geo::jsonb, status
FROM {name}
"""
_SESSION_SELECT = """
SELECT host, ip, start_ts, end_ts, events, pages, first_url, last_url, referrer, user_agent, errors, geo, status
FROM sessions
WHERE dt = %(dt)s AND (%(host)s::text IS NULL OR host = %(host)s) AND (%(ip)s::text IS NULL OR ip = %(ip)s)
ORDER BY host COLLATE "C", ip COLLATE "C", start_ts
"""
_LOCK_NAMESPACE = "websessions.batch_day"


@dataclass(frozen=True)
class DailyStats:
    """One row of ``domain_daily_stats``: one host on one day."""

    dt: str
    host: str
    sessions: int
    events: int
    avg_events_per_session: float
    max_events_per_session: int
    median_events_per_session: float
    unique_ips: int
    avg_duration_s: float
    median_duration_s: float
    bounce_rate: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


STATS_COLUMNS = tuple(DailyStats.__dataclass_fields__)


@dataclass(frozen=True)
class DayReplaced:
    """What one replacement of a day did."""

    dt: str
    sessions: int
    stats: int
    sessions_deleted: int
    stats_deleted: int


def ensure_schema(conn) -> None:
    """Create ``sessions`` and ``domain_daily_stats`` if absent (idempotent; the caller commits)."""
    with conn.cursor() as cur:
        cur.execute(SCHEMA)


def _day(dt: str) -> str:
    return date.fromisoformat(dt).isoformat()


def _copy_text(value: Any) -> str:
    """One field of COPY's text format (``\\N`` is null; backslash, tab, newline, CR escaped)."""
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _staging_row(session: Session) -> tuple:
    import json

    geo = None if session.geo is None else json.dumps(session.geo, ensure_ascii=False, sort_keys=True)
    return (
        session.session_id, session.dt, session.host, session.ip, session.start_ms, session.end_ms,
        repr(session.duration_s), session.events, session.pages, session.first_url, session.last_url,
        session.referrer, session.user_agent, session.errors, geo, session.status,
    )  # fmt: skip


def _stats_row(dt: str, row: DailyStats | Mapping[str, Any]) -> tuple:
    record = row.as_dict() if isinstance(row, DailyStats) else dict(row)
    record["dt"] = dt
    return tuple(record[name] for name in STATS_COLUMNS)


class StagedDay:
    """A day's sessions staged for an atomic swap: ``with StagedDay(settings, dt) as staged:``.

    On entry an unlogged table :attr:`table` (columns :data:`STAGING_COLUMNS`) is created and
    committed, so other connections (Spark's JDBC writer) can fill it; :meth:`copy_sessions` fills it
    from Python. :meth:`swap` replaces the day in one transaction and drops the table; leaving the
    block without a swap (an error) drops it too and leaves the day as it was.
    """

    def __init__(self, settings: Settings, dt: str):
        self.settings = settings
        self.dt = _day(dt)
        self.table = f"sessions_stage_{self.dt.replace('-', '')}_{uuid.uuid4().hex[:12]}"
        self.swapped = False

    def __enter__(self) -> StagedDay:
        from websessions.clients import postgres

        with postgres.connect(self.settings) as conn:
            ensure_schema(conn)
            with conn.cursor() as cur:
                cur.execute(_STAGING_DDL.format(name=self.table))
            conn.commit()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.swapped:
            return
        from websessions.clients import postgres

        with postgres.connect(self.settings, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")
        log.warning("day %s was not replaced: staging table %s dropped", self.dt, self.table)

    def copy_sessions(self, sessions: Iterable[Session], chunk_rows: int = 50_000) -> int:
        """COPY sessions into the staging table (in chunks, each committed); returns the row count."""
        from websessions.clients import postgres

        total = 0
        with postgres.connect(self.settings) as conn, conn.cursor() as cur:
            buffer = io.StringIO()
            pending = 0
            for session in sessions:
                buffer.write("\t".join(_copy_text(v) for v in _staging_row(session)) + "\n")
                pending += 1
                if pending == chunk_rows:
                    total += self._flush(cur, buffer, pending)
                    buffer, pending = io.StringIO(), 0
            total += self._flush(cur, buffer, pending)
            conn.commit()
        return total

    def _flush(self, cur, buffer: io.StringIO, rows: int) -> int:
        if rows:
            buffer.seek(0)
            cur.copy_expert(f"COPY {self.table} ({', '.join(STAGING_COLUMNS)}) FROM STDIN", buffer)
        return rows

    def swap(self, stats_rows: Iterable[DailyStats | Mapping[str, Any]]) -> DayReplaced:
        """Replace the day's sessions (from the staging table) and stats (``stats_rows``) in one transaction."""
        from websessions.clients import postgres

        stats = [_stats_row(self.dt, row) for row in stats_rows]
        with postgres.connect(self.settings) as conn, conn.cursor() as cur:
            day_key = int(self.dt.replace("-", ""))
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (_LOCK_NAMESPACE, day_key))
            cur.execute(f"SELECT count(*) FROM {self.table} WHERE dt <> %s", (self.dt,))
            (foreign,) = cur.fetchone()
            if foreign:
                raise ValueError(f"{foreign} staged sessions do not start on {self.dt}: the day was not replaced")
            cur.execute("DELETE FROM sessions WHERE dt = %s", (self.dt,))
            sessions_deleted = cur.rowcount
            cur.execute(_SWAP_SESSIONS.format(name=self.table))
            inserted = cur.rowcount
            cur.execute("DELETE FROM domain_daily_stats WHERE dt = %s", (self.dt,))
            stats_deleted = cur.rowcount
            placeholders = ", ".join(["%s"] * len(STATS_COLUMNS))
            cur.executemany(
                f"INSERT INTO domain_daily_stats ({', '.join(STATS_COLUMNS)}) VALUES ({placeholders})", stats
            )
            cur.execute(f"DROP TABLE {self.table}")
            conn.commit()
        self.swapped = True
        return DayReplaced(self.dt, inserted, len(stats), sessions_deleted, stats_deleted)


def replace_day(
    settings: Settings,
    dt: str,
    sessions_rows: Iterable[Session],
    stats_rows: Iterable[DailyStats | Mapping[str, Any]],
) -> DayReplaced:
    """Replace day ``dt`` of ``sessions`` and ``domain_daily_stats`` atomically (COPY, then one swap).

    Every session must start on ``dt``; ``stats_rows`` are :class:`DailyStats` or mappings with its
    field names (``dt`` is taken from the argument).
    """
    with StagedDay(settings, dt) as staged:
        staged.copy_sessions(sessions_rows)
        return staged.swap(stats_rows)


def _session(row: tuple) -> Session:
    host, ip, start, end, events, pages, first_url, last_url, referrer, user_agent, errors, geo, status = row
    return session_from_aggregates(
        host, ip, as_epoch_ms(start), as_epoch_ms(end), events, pages, first_url, last_url, referrer, user_agent,
        errors, geo, status,
    )  # fmt: skip


def sessions_of_day(settings: Settings, dt: str, host: str | None = None, ip: str | None = None) -> list[Session]:
    """The batch layer's sessions of day ``dt`` (optionally of one host and/or ip), by host, ip, start."""
    from websessions.clients import postgres

    with postgres.connect(settings) as conn:
        ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute(_SESSION_SELECT, {"dt": _day(dt), "host": host, "ip": ip})
            rows = cur.fetchall()
        conn.commit()
    return [_session(row) for row in rows]


def _daily_stats_rows(rows: Iterable[tuple]) -> Iterator[DailyStats]:
    for row in rows:
        record = dict(zip(STATS_COLUMNS, row, strict=True))
        record["dt"] = record["dt"].isoformat()
        yield DailyStats(**record)


def daily_stats(settings: Settings, dt_from: str, dt_to: str) -> list[DailyStats]:
    """``domain_daily_stats`` for the days ``dt_from`` .. ``dt_to`` (inclusive), by day and host."""
    from websessions.clients import postgres

    with postgres.connect(settings) as conn:
        ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT {', '.join(STATS_COLUMNS)} FROM domain_daily_stats"
                ' WHERE dt BETWEEN %s AND %s ORDER BY dt, host COLLATE "C"',
                (_day(dt_from), _day(dt_to)),
            )
            rows = cur.fetchall()
        conn.commit()
    return list(_daily_stats_rows(rows))
