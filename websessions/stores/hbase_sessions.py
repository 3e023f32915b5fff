"""The speed layer's sessions and live metrics in HBase (through the Thrift 1 gateway, happybase).

Table ``settings.hbase_table_sessions`` — grain: one row per session of one ``(ip, host)``.

- **Row key** ``<host>|<ip>|<Long.MAX_VALUE - start_ms, 19 digits>``: a user's sessions on a site are
  one contiguous key range, newest first, so "recent sessions of this ip on this host" is a prefix scan
  that stops after ``limit`` rows. Hosts and ips never contain ``|``. The key is a function of
  ``(host, ip, start)`` like ``session_id``, so every write of a session is idempotent.
- **Family ``s``** — the closed session: ``s:record`` (the :meth:`Session.to_dict` JSON), ``s:dt``,
  ``s:session_id``. Written once the watermark has passed the session's end + timeout; final.
- **Family ``o``** — the live view: ``o:record`` (the open session so far, status ``open``). Open
  writes never touch ``s``, so a late-arriving live update can never overwrite a closed session;
  readers take ``s`` when a row has both. Closing deletes the ``o`` family, and so does a merge that
  moves the session to another start (the job's ``drop`` rows).
- Both families keep one version and expire after ``settings.hbase_session_ttl_days``.

Table ``settings.hbase_table_live_metrics`` — grain: one row per host and minute of event time, key
``<host>|<YYYY-MM-DDTHH:MM>``, family ``m``: ``events``, ``active_users`` (distinct ips), ``errors``,
``error_rate``; same TTL.

Table ``<hbase_table_live_metrics>_top`` — the live top lists: one row per host and minute of event time, key
``<host>|<YYYY-MM-DDTHH:MM>`` as the metrics; family ``p``: one cell per page (qualifier the page, value its views),
family ``r``: one per referrer host (value the sessions that started in the minute with it); running totals
written by the speed job's sink, summed over the last minutes by :mod:`websessions.live_top`. Same TTL.

Table ``<hbase_table_sessions>_late`` — grain: one row per event the speed layer counted late, key
``<dt>|<host>|<ip>|<event time ms, 13 digits>|<partition>|<offset>`` (a replayed late event rewrites its
row), family ``l``; same TTL. The reconciliation reads it to attribute differences (``late_in_speed``).

Table ``<hbase_table_sessions>_progress`` — the speed job's progress, written by its HBase sink after the
updates it covers: row ``source|<partition>`` (the job's counters of one Kafka partition: ``records``,
``invalid``, ``offset_min``, ``offset_max``, ``t_end`` = latest valid event time) and row ``sink|<subtask>``
(what that sink writer wrote since it started: ``updates``, ``sessions_closed``, ``open_puts``, ``open_deletes``,
``metric_puts``, ``late_puts``, ``top_puts``, ``flushes``, ``flushed_at_ms``); family ``p``, no TTL. ``speed status``
reads it.

Connections. The Thrift server closes a connection that sent nothing for
``hbase.thrift.server.socket.read.timeout`` (``settings.hbase_thrift_idle_timeout_ms``); the next call
on it reads EOF (``TTransportException``) or hits a broken pipe. :meth:`HBaseSessions.retrying` runs an
operation once more on a fresh connection when that happens; every write here is a whole-record put
or a delete of a key that is a function of the session, so a repeated write changes nothing.

Reads: :meth:`HBaseSessions.recent` is one short prefix scan. :meth:`HBaseSessions.sessions_of_day` reads
every row of the table (or of the host / host+ip prefix when given) and keeps the day's: the cost grows
with the table, not the day. Fine for demo sizes; a production store would add a day-keyed index table.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import orjson

from websessions.events import format_time_ms, parse_time_ms
from websessions.sessions import CLOSED, Session
from websessions.settings import Settings

log = logging.getLogger(__name__)

LONG_MAX = 2**63 - 1
SEP = "|"
SESSION_FAMILY = b"s"
OPEN_FAMILY = b"o"
METRICS_FAMILY = b"m"
RECORD = b"s:record"
LATE_TIME = b"l:t"  # <sessions table>_late: one row per late event, "<dt>|<host>|<ip>|<time ms>|<part>|<offset>"
OPEN_RECORD = b"o:record"
T = TypeVar("T")


def closed_connection_errors() -> tuple[type[BaseException], ...]:
    """What a call on a Thrift connection the server has closed raises: EOF on the first read
    (``TTransportException``), a broken pipe or a reset on later writes."""
    from thriftpy2.transport import TTransportException

    return (TTransportException, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def late_table_name(settings: Settings) -> str:
    """The table of the events the speed layer counted late (read by the reconciliation)."""
    return f"{settings.hbase_table_sessions}_late"


def progress_table_name(settings: Settings) -> str:
    """The table of the speed job's progress (its partition counters and its sink's counters)."""
    return f"{settings.hbase_table_sessions}_progress"


def top_table_name(settings: Settings) -> str:
    """The table of the live top lists' counts per host and minute (pages, referrers)."""
    return f"{settings.hbase_table_live_metrics}_top"


def row_key(host: str, ip: str, start_ms: int) -> bytes:
    """``<host>|<ip>|<Long.MAX_VALUE - start_ms>``: newest session first within a user's prefix."""
    return f"{host}{SEP}{ip}{SEP}{LONG_MAX - int(start_ms):019d}".encode()


def user_prefix(host: str, ip: str) -> bytes:
    return f"{host}{SEP}{ip}{SEP}".encode()


def start_of(key: bytes) -> int:
    """The session start encoded in a row key."""
    return LONG_MAX - int(key.rsplit(SEP.encode(), 1)[1])


def metric_key(host: str, minute: int) -> bytes:
    """``<host>|<YYYY-MM-DDTHH:MM>`` for ``minute`` minutes since the epoch."""
    return f"{host}{SEP}{format_time_ms(minute * 60_000)[:16]}".encode()


@dataclass(frozen=True, slots=True)
class MinuteMetrics:
    """Live metrics of one host in one minute of event time."""

    host: str
    minute: int
    events: int
    active_users: int
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.events if self.events else 0.0

    @property
    def at(self) -> str:
        return format_time_ms(self.minute * 60_000)[:16]


def _minute_of_row(host: str, key: bytes, columns: dict[bytes, bytes]) -> MinuteMetrics:
    at = key.decode().rsplit(SEP, 1)[1]
    return MinuteMetrics(
        host=host,
        minute=parse_time_ms(f"{at}:00.000Z") // 60_000,
        events=int(columns[b"m:events"]),
        active_users=int(columns[b"m:active_users"]),
        errors=int(columns[b"m:errors"]),
    )


def _encode_session(session: Session) -> bytes:
    return orjson.dumps(session.to_dict())  # compact, UTF-8 (as json.dumps with ensure_ascii=False)


def _decode_session(raw: bytes) -> Session:
    return Session.from_dict(orjson.loads(raw))


def session_of_row(columns: dict[bytes, bytes]) -> Session | None:
    """The session a row holds: the closed record if any, else the open one."""
    raw = columns.get(RECORD) or columns.get(OPEN_RECORD)
    return _decode_session(raw) if raw else None


class SessionWriter:
    """Batched mutations (puts and deletes are sent in ``batch_size`` groups and on :meth:`flush`)."""

    def __init__(self, sessions_table, metrics_table, batch_size: int = 2000):
        self._sessions = sessions_table.batch(batch_size=batch_size)
        self._metrics = metrics_table.batch(batch_size=batch_size)
        self.puts = 0
        self.deletes = 0

    def put_closed(self, session: Session) -> None:
        """The final record of a closed session; drops the row's live view."""
        key = row_key(session.host, session.ip, session.start_ms)
        self._sessions.put(
            key,
            {
                RECORD: _encode_session(session),
                b"s:dt": session.dt.encode(),
                b"s:session_id": session.session_id.encode(),
            },
        )
        self._sessions.delete(key, columns=[OPEN_FAMILY])
        self.puts += 1

    def put_open(self, session: Session) -> None:
        """The live record of an open session."""
        self._sessions.put(row_key(session.host, session.ip, session.start_ms), {OPEN_RECORD: _encode_session(session)})
        self.puts += 1

    def delete_open(self, host: str, ip: str, start_ms: int) -> None:
        """Remove the live view of one row (a closed record in the same row stays)."""
        self._sessions.delete(row_key(host, ip, start_ms), columns=[OPEN_FAMILY])
        self.deletes += 1

    def delete_row(self, key: bytes) -> None:
        self._sessions.delete(key)
        self.deletes += 1

    def put_metrics(self, metrics: MinuteMetrics) -> None:
        self._metrics.put(
            metric_key(metrics.host, metrics.minute),
            {
                b"m:events": str(metrics.events).encode(),
                b"m:active_users": str(metrics.active_users).encode(),
                b"m:errors": str(metrics.errors).encode(),
                b"m:error_rate": f"{metrics.error_rate:.6f}".encode(),
            },
        )
        self.puts += 1

    def flush(self) -> None:
        self._sessions.send()
        self._metrics.send()


class HBaseSessions:
    """``with HBaseSessions(settings) as store:`` — the speed layer's sessions and live metrics."""

    def __init__(self, settings: Settings, timeout_ms: int = 30_000):
        self.settings = settings
        self.timeout_ms = timeout_ms
        self.sessions_name = settings.hbase_table_sessions
        self.metrics_name = settings.hbase_table_live_metrics
        self.late_name = late_table_name(settings)
        self.progress_name = progress_table_name(settings)
        self.top_name = top_table_name(settings)
        self._connection_cm = None
        self.connection = None
        self.reconnects = 0

    def __enter__(self) -> HBaseSessions:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._connection_cm is not None:
            self._connection_cm.__exit__(*exc)
        self._connection_cm = self.connection = None

    def _open(self) -> None:
        from websessions.clients import hbase

        self._connection_cm = hbase.connect(self.settings, timeout_ms=self.timeout_ms)
        self.connection = self._connection_cm.__enter__()

    def reconnect(self) -> None:
        """Drop the current connection (closing a dead socket may fail: ignored) and open a new one."""
        if self._connection_cm is not None:
            with contextlib.suppress(*closed_connection_errors(), OSError):
                self._connection_cm.__exit__(None, None, None)
        self._connection_cm = self.connection = None
        self._open()
        self.reconnects += 1

    def retrying(self, operation: Callable[[], T], what: str) -> T:
        """``operation()``, run once more on a fresh connection if the server had closed this one.

        Only for idempotent operations (all writes of this store are): a call that failed half-way
        may have been applied.
        """
        try:
            return operation()
        except closed_connection_errors() as exc:
            log.warning(
                "hbase: %s failed on a connection the Thrift server had closed (%s: %s); reconnecting, retrying once",
                what, type(exc).__name__, exc,
            )  # fmt: skip
            self.reconnect()
            return operation()

    @property
    def sessions_table(self):
        return self.connection.table(self.sessions_name)

    @property
    def metrics_table(self):
        return self.connection.table(self.metrics_name)

    def ensure_table(self) -> None:
        """Create both tables if absent (one version per cell, TTL ``hbase_session_ttl_days``)."""
        ttl = self.settings.hbase_session_ttl_days * 86_400
        family = {"max_versions": 1, "time_to_live": ttl}
        existing = set(self.connection.tables())
        wanted = {
            self.sessions_name.encode(): {"s": family, "o": family},
            self.metrics_name.encode(): {"m": family},
            self.late_name.encode(): {"l": family},
            self.progress_name.encode(): {"p": {"max_versions": 1}},
            self.top_name.encode(): {"p": family, "r": family},
        }
        for name, families in wanted.items():
            if name not in existing:
                try:
                    self.connection.create_table(name, families)
                    log.info("created HBase table %s", name.decode())
                except Exception as exc:  # two writers may race to create it
                    if "TableExistsException" not in repr(exc):
                        raise

    def drop_tables(self) -> None:
        """Delete both tables (tests and ``speed reset``)."""
        existing = set(self.connection.tables())
        for name in (self.sessions_name, self.metrics_name, self.late_name, self.progress_name, self.top_name):
            if name.encode() in existing:
                self.connection.delete_table(name, disable=True)

    def writer(self, batch_size: int = 2000) -> SessionWriter:
        return SessionWriter(self.sessions_table, self.metrics_table, batch_size)

    def put_sessions(self, sessions: Iterable[Session]) -> int:
        """Write sessions (closed ones as final records, open ones as the live view); idempotent."""
        sessions = list(sessions)

        def write() -> None:
            writer = self.writer()
            for session in sessions:
                (writer.put_closed if session.status == CLOSED else writer.put_open)(session)
            writer.flush()

        self.retrying(write, "writing sessions")
        return len(sessions)

    def delete(self, sessions: Iterable[Session]) -> int:
        """Delete these sessions' rows entirely."""
        keys = [row_key(session.host, session.ip, session.start_ms) for session in sessions]

        def write() -> None:
            writer = self.writer()
            for key in keys:
                writer.delete_row(key)
            writer.flush()

        self.retrying(write, "deleting sessions")
        return len(keys)

    def recent(self, ip: str, host: str, limit: int = 10) -> list[Session]:
        """The user's most recent sessions on ``host``, newest first (open ones included)."""
        out = []
        for _, columns in self.sessions_table.scan(
            row_prefix=user_prefix(host, ip), columns=[RECORD, OPEN_RECORD], limit=limit
        ):
            session = session_of_row(columns)
            if session is not None:
                out.append(session)
        return out

    def sessions_of_day(self, dt: str, host: str | None = None, ip: str | None = None) -> list[Session]:
        """Sessions that start on ``dt`` (closed and open), sorted by host, ip, start.

        A scan of the whole table (or of the host / host+ip prefix): the cost grows with the table.
        """
        prefix = None
        if host:
            prefix = user_prefix(host, ip) if ip else f"{host}{SEP}".encode()
        out = []
        for _, columns in self._scan(prefix, columns=[RECORD, OPEN_RECORD]):
            session = session_of_row(columns)
            if session is None or session.dt != dt or (ip and session.ip != ip):
                continue
            out.append(session)
        return sorted(out, key=lambda s: (s.host, s.ip, s.start_ms))

    def put_late_events(self, late: Iterable[tuple[str, str, int, int, int]]) -> int:
        """Record events the speed layer counted late: (host, ip, event time ms, partition, offset)."""
        rows = list(late)
        if not rows:
            return 0

        def write() -> None:
            with self.connection.table(self.late_name).batch(batch_size=2000) as batch:
                for host, ip, t, part, offset in rows:
                    key = SEP.join((format_time_ms(t)[:10], host, ip, f"{t:013d}", str(part), str(offset)))
                    batch.put(key.encode(), {LATE_TIME: str(t).encode()})

        self.retrying(write, "recording late events")
        return len(rows)

    def late_events_near(self, dt: str) -> list[tuple[str, str, int]]:
        """(host, ip, event time ms) of the late events of ``dt`` and the days beside it."""
        day = date.fromisoformat(dt)
        out = []
        for offset in (-1, 0, 1):
            prefix = f"{(day + timedelta(days=offset)).isoformat()}{SEP}".encode()
            for key, _ in self.connection.table(self.late_name).scan(row_prefix=prefix, batch_size=1000):
                _dt, host, ip, t, _part, _offset = key.decode().split(SEP)
                out.append((host, ip, int(t)))
        return out

    def late_event_offsets(self) -> list[tuple[int, int]]:
        """(partition, offset) of every event the speed layer recorded late (a scan of the keys)."""
        out = []
        for key, _ in self.connection.table(self.late_name).scan(filter=b"KeyOnlyFilter()", batch_size=1000):
            part, offset = key.decode().rsplit(SEP, 2)[1:]
            if part.lstrip("-").isdigit() and offset.isdigit():
                out.append((int(part), int(offset)))
        return out

    def speed_progress(self) -> tuple[dict[int, dict[str, int | str]], dict[int, dict[str, int]]]:
        """The speed job's progress rows: partition -> its counters, and sink subtask -> its counters."""
        sources: dict[int, dict[str, int | str]] = {}
        sinks: dict[int, dict[str, int]] = {}
        for key, columns in self.connection.table(self.progress_name).scan(batch_size=1000):
            what, _, index = key.decode().partition(SEP)
            values = {c.decode().split(":", 1)[1]: v.decode() for c, v in columns.items()}
            if what == "source":
                sources[int(index)] = {k: v if k == "t_end" else int(v) for k, v in values.items()}
            elif what == "sink":
                sinks[int(index)] = {k: int(v) for k, v in values.items()}
        return sources, sinks

    def open_rows(self) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
        """Every row that has a live view (family ``o``): the writer rebuilds its state from these."""
        yield from self._scan(None, columns=[OPEN_FAMILY])

    def open_session_counts(self) -> dict[str, int]:
        """Open sessions per host right now: the rows with a live view and no closed record."""
        counts: dict[str, int] = {}
        for key, columns in self._scan(None, columns=[OPEN_RECORD, b"s:dt"]):
            if b"s:dt" not in columns:
                host = key.split(SEP.encode(), 1)[0].decode()
                counts[host] = counts.get(host, 0) + 1
        return counts

    def latest_sessions(self, host: str | None = None, limit: int = 20) -> list[Session]:
        """The ``limit`` sessions (closed and open) with the latest last event, newest first.

        Reads every row of the table (or of the host's prefix): a dashboard's view at demo sizes.
        """
        prefix = f"{host}{SEP}".encode() if host else None
        sessions = (session_of_row(columns) for _, columns in self._scan(prefix, columns=[RECORD, OPEN_RECORD]))
        return heapq.nlargest(limit, (s for s in sessions if s is not None), key=lambda s: (s.end_ms, s.start_ms))

    def minute_metrics(self, host: str, since_minute: int = 0) -> list[MinuteMetrics]:
        """A host's live metrics per minute, oldest first, from ``since_minute`` (minutes since the epoch)."""
        start = metric_key(host, since_minute)
        stop = f"{host}{SEP}~".encode()
        return [
            _minute_of_row(host, key, columns)
            for key, columns in self.metrics_table.scan(row_start=start, row_stop=stop)
        ]

    def put_top_counts(self, counts: Iterable[tuple[tuple[str, int, str, str], int]]) -> int:
        """Write top list counts: ((host, minute, family ``p`` or ``r``, item), count), running totals (idempotent)."""
        rows = list(counts)
        if not rows:
            return 0

        def write() -> None:
            with self.connection.table(self.top_name).batch(batch_size=2000) as batch:
                for (host, minute, family, item), count in rows:
                    batch.put(metric_key(host, minute), {f"{family}:{item}".encode(): str(count).encode()})

        self.retrying(write, "writing top list counts")
        return len(rows)

    def top_list_minutes(self, host: str, first_minute: int, last_minute: int) -> Iterator[dict[bytes, bytes]]:
        """The host's top list cells (``p:<page>``, ``r:<referrer host>`` -> count) of each minute from
        ``first_minute`` to ``last_minute`` (minutes since the epoch, both included) that has any; none while the
        speed layer has not created the table (it never ran with the top lists)."""
        if self.top_name.encode() not in self.connection.tables():
            return
        start, stop = metric_key(host, first_minute), metric_key(host, last_minute + 1)
        for _, columns in self.connection.table(self.top_name).scan(row_start=start, row_stop=stop, batch_size=100):
            yield columns

    def latest_minute(self, host: str) -> MinuteMetrics | None:
        """The host's newest minute of live metrics (one reversed scan of one row), None if it has none."""
        start, stop = f"{host}{SEP}~".encode(), f"{host}{SEP}".encode()
        for key, columns in self.metrics_table.scan(row_start=start, row_stop=stop, reverse=True, limit=1):
            return _minute_of_row(host, key, columns)
        return None

    def _scan(self, prefix: bytes | None, columns: list[bytes]) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
        kwargs: dict[str, Any] = {"columns": columns, "batch_size": 1000}
        if prefix is not None:
            kwargs["row_prefix"] = prefix
        yield from self.sessions_table.scan(**kwargs)
