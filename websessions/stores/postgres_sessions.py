"""The batch layer's sessions and daily statistics in Postgres: schema, atomic day replacement, reads.

Tables (grain first):

- ``sessions``: one row per session (the :class:`~websessions.sessions.Session` record), ``dt`` the
  UTC day it starts on; primary key ``(session_id, dt)``. Partitioned by day (``LIST (dt)``): the
  partition of day D is ``sessions_dYYYYMMDD``.
- ``domain_daily_stats``: one row per day and host (sessions, events, average/max/median events per
  session, unique IPs, average/median duration, bounce rate); primary key ``(dt, host)``.

A day is replaced, never appended to: the new sessions are loaded with ``COPY`` into a table of this
run (rows from Python, or text files a Spark job wrote, for large days — the batch job chooses, see
:class:`StagedDay`) whose ``CHECK`` constraint refuses a session of another day; its indexes are
built once, after the load. Then ONE transaction takes the day's advisory lock, detaches and drops
the day's old partition, attaches the new table in its place and replaces the day's stats. Readers
see the old day or the new one, never a mix or nothing; a rerun leaves identical rows (and no dead
rows behind: the old partition is dropped whole), and two runs of one day queue on the lock.
The schema is ``postgres/migrations`` (:mod:`websessions.db_migrations`); nothing here creates or alters
it (the staging table of a day is the swap's own, made ``LIKE sessions``), and every read and write
first checks the database is at the expected version.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager as ContextManager
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, BinaryIO

from websessions.events import format_time_ms
from websessions.sessions import Session, as_epoch_ms, session_from_aggregates
from websessions.settings import Settings
from websessions.stores import postgres_analytics

log = logging.getLogger(__name__)

# The columns of ``sessions`` in table order (``postgres/migrations``; a test compares them with the table):
# the one list of the session record's columns in Postgres, and the COPY layout of a staged day. Times are
# ISO-8601 UTC text (``websessions.events.format_time_ms``), geo JSON text.
SESSION_COLUMNS = (
    "session_id", "dt", "host", "ip", "start_ts", "end_ts", "duration_s", "events", "pages", "first_url",
    "last_url", "referrer", "user_agent", "errors", "geo", "status",
)  # fmt: skip
# The columns a Session is rebuilt from, in :func:`websessions.sessions.session_from_aggregates`' order
# (``session_id``, ``dt`` and ``duration_s`` follow from them).
RECORD_COLUMNS = tuple(c for c in SESSION_COLUMNS if c not in ("session_id", "dt", "duration_s"))
_SESSION_SELECT = f"""
SELECT {", ".join(RECORD_COLUMNS)}
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
    bot_sessions: int = 0  # sessions whose agent is a bot (websessions.analytics.classify_agent)
    bot_share: float = 0.0

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


def partition_name(dt: str) -> str:
    """The partition of ``sessions`` that holds day ``dt``."""
    return f"sessions_d{_day(dt).replace('-', '')}"


def _day(dt: str) -> str:
    return date.fromisoformat(dt).isoformat()


def _copy_text(value: Any) -> str:
    """One field of COPY's text format (``\\N`` is null; backslash, tab, newline, CR escaped)."""
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_row(session: Session) -> tuple:
    """A session as the values of :data:`SESSION_COLUMNS`."""
    import json

    geo = None if session.geo is None else json.dumps(session.geo, ensure_ascii=False, sort_keys=True)
    return (
        session.session_id, session.dt, session.host, session.ip, format_time_ms(session.start_ms),
        format_time_ms(session.end_ms), repr(session.duration_s), session.events, session.pages, session.first_url,
        session.last_url, session.referrer, session.user_agent, session.errors, geo, session.status,
    )  # fmt: skip


def _stats_row(dt: str, row: DailyStats | Mapping[str, Any]) -> tuple:
    # A mapping may leave out the fields with defaults (the bot columns).
    record = row.as_dict() if isinstance(row, DailyStats) else DailyStats(**{**dict(row), "dt": dt}).as_dict()
    record["dt"] = dt
    return tuple(record[name] for name in STATS_COLUMNS)


class StagedDay:
    """A day's sessions staged for an atomic swap: ``with StagedDay(settings, dt) as staged:``.

    On entry a table :attr:`table` with the columns of ``sessions`` (:data:`SESSION_COLUMNS`) and
    ``CHECK (dt = D)`` is created and committed; :meth:`copy_sessions` fills it with rows from Python,
    :meth:`copy_text` with COPY text a Spark job wrote (a session of another day fails the COPY with
    :class:`ValueError`). :meth:`swap` indexes it and makes it the day's partition in one transaction;
    leaving the block without a swap (an error) drops it and leaves the day as it was.
    """

    def __init__(self, settings: Settings, dt: str):
        self.settings = settings
        self.dt = _day(dt)
        self.table = f"sessions_stage_{self.dt.replace('-', '')}_{uuid.uuid4().hex[:12]}"
        self.swapped = False

    def __enter__(self) -> StagedDay:
        from websessions.db_migrations import serving_connection

        with serving_connection(self.settings) as conn:
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE TABLE {self.table} (LIKE sessions,"
                    f" CONSTRAINT {self.table}_day CHECK (dt = DATE '{self.dt}'))"
                )
            conn.commit()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.swapped:
            return
        from websessions.clients import postgres

        with postgres.connect(self.settings, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")
        log.warning("day %s was not replaced: staging table %s dropped", self.dt, self.table)

    def _copy(self, cur, stream: Any) -> int:
        from psycopg2.errors import CheckViolation

        try:
            cur.copy_expert(f"COPY {self.table} ({', '.join(SESSION_COLUMNS)}) FROM STDIN", stream, size=1 << 20)
        except CheckViolation as exc:
            raise ValueError(f"staged sessions do not start on {self.dt}: the day was not replaced ({exc})") from exc
        return cur.rowcount

    def copy_sessions(self, sessions: Iterable[Session], chunk_rows: int = 50_000) -> int:
        """COPY sessions into the staging table (in chunks, one transaction); returns the row count."""
        from websessions.clients import postgres

        total = 0
        with postgres.connect(self.settings) as conn, conn.cursor() as cur:
            buffer, pending = io.StringIO(), 0
            for session in sessions:
                buffer.write("\t".join(_copy_text(v) for v in _copy_row(session)) + "\n")
                pending += 1
                if pending == chunk_rows:
                    buffer.seek(0)
                    total += self._copy(cur, buffer)
                    buffer, pending = io.StringIO(), 0
            if pending:
                buffer.seek(0)
                total += self._copy(cur, buffer)
            conn.commit()
        return total

    def copy_text(self, sources: Sequence[Callable[[], ContextManager[BinaryIO]]], connections: int = 2) -> int:
        """COPY every source (opens a byte stream of lines in COPY's text format, :data:`SESSION_COLUMNS` in
        order, escaped as :func:`_copy_text` does) into the staging table, over ``connections`` connections
        at once (each COPY keeps one Postgres backend busy); returns the row count."""
        from concurrent.futures import ThreadPoolExecutor

        from websessions.clients import postgres

        def copy(part: Sequence[Callable[[], ContextManager[BinaryIO]]]) -> int:
            rows = 0
            with postgres.connect(self.settings) as conn, conn.cursor() as cur:
                for source in part:
                    with source() as stream:
                        rows += self._copy(cur, stream)
                conn.commit()
            return rows

        n = max(1, min(connections, len(sources)))
        with ThreadPoolExecutor(max_workers=n) as pool:
            return sum(pool.map(copy, [sources[i::n] for i in range(n)]))

    def swap(
        self,
        stats_rows: Iterable[DailyStats | Mapping[str, Any]],
        analytics: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    ) -> DayReplaced:
        """Make the staged table day D's partition and replace D's stats (``stats_rows``) and analytics
        (``analytics``: table -> rows, :func:`websessions.stores.postgres_analytics.replace_day`; every
        analytics table's day is replaced, emptied when absent) in one transaction.

        The staged table's indexes (those of ``sessions``) are built first, in their own transaction,
        so the swap itself only moves catalog entries.
        """
        from websessions.clients import postgres

        stats = [_stats_row(self.dt, row) for row in stats_rows]
        partition = partition_name(self.dt)
        with postgres.connect(self.settings) as conn, conn.cursor() as cur:
            cur.execute(f"ALTER TABLE {self.table} ADD PRIMARY KEY (session_id, dt)")
            cur.execute(f"CREATE INDEX ON {self.table} (dt, host, ip)")
            cur.execute(f"ANALYZE {self.table}")
            conn.commit()
            day_key = int(self.dt.replace("-", ""))
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (_LOCK_NAMESPACE, day_key))
            sessions_deleted = 0
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (partition,))
            if cur.fetchone()[0]:
                cur.execute(f"SELECT count(*) FROM {partition}")
                (sessions_deleted,) = cur.fetchone()
                cur.execute(f"ALTER TABLE sessions DETACH PARTITION {partition}")
                cur.execute(f"DROP TABLE {partition}")
            cur.execute(f"ALTER TABLE {self.table} RENAME TO {partition}")
            cur.execute(f"ALTER TABLE {partition} RENAME CONSTRAINT {self.table}_day TO {partition}_day")
            cur.execute(f"ALTER TABLE sessions ATTACH PARTITION {partition} FOR VALUES IN ('{self.dt}')")
            cur.execute(f"SELECT count(*) FROM {partition}")
            (inserted,) = cur.fetchone()
            cur.execute("DELETE FROM domain_daily_stats WHERE dt = %s", (self.dt,))
            stats_deleted = cur.rowcount
            placeholders = ", ".join(["%s"] * len(STATS_COLUMNS))
            cur.executemany(
                f"INSERT INTO domain_daily_stats ({', '.join(STATS_COLUMNS)}) VALUES ({placeholders})", stats
            )
            postgres_analytics.replace_day(cur, self.dt, analytics or {})
            conn.commit()
        self.swapped = True
        return DayReplaced(self.dt, inserted, len(stats), sessions_deleted, stats_deleted)


def replace_day(
    settings: Settings,
    dt: str,
    sessions_rows: Iterable[Session],
    stats_rows: Iterable[DailyStats | Mapping[str, Any]],
    analytics: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> DayReplaced:
    """Replace day ``dt`` of ``sessions``, ``domain_daily_stats`` and the analytics tables atomically
    (COPY, then one swap).

    Every session must start on ``dt``; ``stats_rows`` are :class:`DailyStats` or mappings with its
    field names (``dt`` is taken from the argument); ``analytics`` as :meth:`StagedDay.swap` takes them.
    """
    with StagedDay(settings, dt) as staged:
        staged.copy_sessions(sessions_rows)
        return staged.swap(stats_rows, analytics)


def session_of_row(row: tuple) -> Session:
    """A row of :data:`RECORD_COLUMNS` as the session record."""
    host, ip, start, end, *rest = row
    return session_from_aggregates(host, ip, as_epoch_ms(start), as_epoch_ms(end), *rest)


def sessions_of_day(settings: Settings, dt: str, host: str | None = None, ip: str | None = None) -> list[Session]:
    """The batch layer's sessions of day ``dt`` (optionally of one host and/or ip), by host, ip, start."""
    from websessions.db_migrations import serving_connection

    with serving_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(_SESSION_SELECT, {"dt": _day(dt), "host": host, "ip": ip})
        rows = cur.fetchall()
    return [session_of_row(row) for row in rows]


def _daily_stats_rows(rows: Iterable[tuple]) -> Iterator[DailyStats]:
    for row in rows:
        record = dict(zip(STATS_COLUMNS, row, strict=True))
        record["dt"] = record["dt"].isoformat()
        yield DailyStats(**record)


def daily_stats(settings: Settings, dt_from: str, dt_to: str) -> list[DailyStats]:
    """``domain_daily_stats`` for the days ``dt_from`` .. ``dt_to`` (inclusive), by day and host."""
    from websessions.db_migrations import serving_connection

    with serving_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(STATS_COLUMNS)} FROM domain_daily_stats"
            ' WHERE dt BETWEEN %s AND %s ORDER BY dt, host COLLATE "C"',
            (_day(dt_from), _day(dt_to)),
        )
        rows = cur.fetchall()
    return list(_daily_stats_rows(rows))
