"""The domain report: per host (and the Tech Creator hosts together), from the layer that is the truth.

Serving rule, in Postgres, chosen **per day**: ``report_sessions`` holds one row per session — for a day
whose batch succeeded and was reconciled (every host of the day passed), the batch layer's ``sessions``;
for any other day (batch not run yet, or failed), the speed layer's ``speed_sessions`` (refreshed from
HBase) — each row saying which layer it came from. A day whose batch failed therefore stays in the
report, served by the speed layer and marked so (:func:`day_layers`). ``domain_report`` aggregates it
per day and host. ``websessions report`` aggregates a date range exactly (unique IPs across days and
hosts are counted from sessions, never summed), lists every configured host even with zero sessions,
adds one row for the hosts of ``report_group_suffix`` together, and names each day's layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from websessions.sessions import Session
from websessions.settings import Settings

SPEED_SESSIONS_DDL = """
CREATE TABLE IF NOT EXISTS speed_sessions (
    session_id text PRIMARY KEY,
    dt date NOT NULL,
    host text NOT NULL,
    ip text NOT NULL,
    start_ts timestamptz NOT NULL,
    end_ts timestamptz NOT NULL,
    duration_s double precision NOT NULL,
    events integer NOT NULL,
    status text NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS speed_sessions_dt ON speed_sessions (dt);
"""

VIEWS_DDL = """
CREATE OR REPLACE VIEW batch_days AS
SELECT dt FROM reconciliation GROUP BY dt HAVING bool_and(passed);

CREATE OR REPLACE VIEW report_sessions AS
SELECT s.dt, s.host, s.ip, s.events, s.duration_s, 'batch'::text AS layer
FROM sessions s
WHERE s.dt IN (SELECT dt FROM batch_days)
UNION ALL
SELECT p.dt, p.host, p.ip, p.events, p.duration_s, 'speed'::text AS layer
FROM speed_sessions p
WHERE p.dt NOT IN (SELECT dt FROM batch_days);

CREATE OR REPLACE VIEW domain_report AS
SELECT dt, host, layer,
       count(*) AS sessions,
       sum(events) AS events,
       avg(events)::double precision AS avg_events_per_session,
       max(events) AS max_events_per_session,
       avg(duration_s)::double precision AS avg_duration_s,
       count(DISTINCT ip) AS unique_ips,
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision AS bounce_rate
FROM report_sessions
GROUP BY dt, host, layer;
"""

RANGE_QUERY = """
SELECT host, layer, count(*), coalesce(sum(events), 0), avg(events)::double precision, max(events),
       avg(duration_s)::double precision, count(DISTINCT ip),
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s IS NULL OR host = %(host)s)
GROUP BY GROUPING SETS ((host, layer), (layer))
"""
GROUP_QUERY = """
SELECT layer, count(*), coalesce(sum(events), 0), avg(events)::double precision, max(events),
       avg(duration_s)::double precision, count(DISTINCT ip),
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND host LIKE %(pattern)s
GROUP BY layer
"""


DAY_LAYERS_QUERY = """
WITH days AS (
    SELECT dt FROM speed_sessions WHERE dt BETWEEN %(from)s AND %(to)s
    UNION SELECT dt FROM sessions WHERE dt BETWEEN %(from)s AND %(to)s
    UNION SELECT dt FROM reconciliation WHERE dt BETWEEN %(from)s AND %(to)s
)
SELECT d.dt,
       CASE WHEN b.dt IS NOT NULL THEN 'batch' ELSE 'speed' END,
       CASE WHEN b.dt IS NOT NULL THEN 'batch reconciled'
            WHEN EXISTS (SELECT 1 FROM reconciliation r WHERE r.dt = d.dt)
                THEN 'batch did not reconcile: speed layer shown'
            ELSE 'no batch yet (or it failed): speed layer shown' END
FROM days d LEFT JOIN batch_days b ON b.dt = d.dt
ORDER BY d.dt
"""


@dataclass(frozen=True)
class DayLayer:
    """Which layer serves a day of the report, and why."""

    dt: str
    layer: str
    note: str


def day_layers(settings: Settings, dt_from: str, dt_to: str) -> list[DayLayer]:
    """Each day of the range that has sessions in either layer: the layer the report serves it from."""
    from websessions.clients import postgres

    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(DAY_LAYERS_QUERY, {"from": dt_from, "to": dt_to})
        return [DayLayer(str(dt), layer, note) for dt, layer, note in cur.fetchall()]


@dataclass(frozen=True)
class ReportRow:
    host: str
    layer: str
    sessions: int = 0
    events: int = 0
    avg_events_per_session: float = 0.0
    max_events_per_session: int = 0
    avg_duration_s: float = 0.0
    unique_ips: int = 0
    bounce_rate: float = 0.0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def ensure_serving_schema(settings: Settings) -> None:
    """Create ``speed_sessions``, ``reconciliation`` and the two views (idempotent)."""
    from websessions.clients import postgres
    from websessions.reconcile import SCHEMA as RECONCILIATION_DDL
    from websessions.stores.postgres_sessions import ensure_schema

    with postgres.connect(settings) as conn:
        ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute(SPEED_SESSIONS_DDL)
            cur.execute(RECONCILIATION_DDL)
            cur.execute(VIEWS_DDL)
        conn.commit()


def refresh_speed_sessions(settings: Settings, dt: str, sessions: Iterable[Session]) -> int:
    """Replace day ``dt`` of ``speed_sessions`` with the speed layer's current sessions (one transaction)."""
    from websessions.clients import postgres

    rows = [
        (s.session_id, s.dt, s.host, s.ip, s.start, s.end, s.duration_s, s.events, s.status)
        for s in sessions
        if s.dt == dt
    ]
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM speed_sessions WHERE dt = %s", (dt,))
        cur.executemany(
            "INSERT INTO speed_sessions (session_id, dt, host, ip, start_ts, end_ts, duration_s, events, status)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        conn.commit()
    return len(rows)


def _row(host: str, layer: str, values: tuple) -> ReportRow:
    sessions, events, avg_events, max_events, avg_duration, unique_ips, bounce = values
    return ReportRow(
        host, layer, int(sessions), int(events), float(avg_events or 0), int(max_events or 0),
        float(avg_duration or 0), int(unique_ips), float(bounce or 0),
    )  # fmt: skip


def domain_report(settings: Settings, dt_from: str, dt_to: str, host: str | None = None) -> list[ReportRow]:
    """Per host and layer for the range; every configured host listed (zero sessions if no traffic)."""
    from websessions.clients import postgres

    params = {"from": dt_from, "to": dt_to, "host": host}
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(RANGE_QUERY, params)
        fetched = cur.fetchall()
        suffix = settings.report_group_suffix
        cur.execute(GROUP_QUERY, {**params, "pattern": f"%{suffix}"})
        group = cur.fetchall()
    rows = [_row(h, layer, values) for h, layer, *values in fetched if h is not None]
    hosts = [host] if host else [h for h in settings.report_hosts.split(",") if h]
    present = {r.host for r in rows}
    rows += [ReportRow(h, "none") for h in hosts if h not in present]
    rows.sort(key=lambda r: (r.host, r.layer))
    if not host:
        rows += [_row(group_name(settings), layer, tuple(values)) for layer, *values in group]
        rows += [_row("all hosts", layer, tuple(values)) for h, layer, *values in fetched if h is None]
    return rows


DAILY_QUERY = """
SELECT dt, host, layer, sessions, events, avg_events_per_session, max_events_per_session, avg_duration_s,
       unique_ips, bounce_rate
FROM domain_report
WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s IS NULL OR host = %(host)s)
UNION ALL
SELECT dt, %(group)s, min(layer), count(*), coalesce(sum(events), 0), avg(events)::double precision, max(events),
       avg(duration_s)::double precision, count(DISTINCT ip),
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND %(host)s IS NULL AND host LIKE %(pattern)s
GROUP BY dt
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class DailyReportRow:
    """One host (or the ``report_group_suffix`` hosts together) on one day, from the day's serving layer."""

    dt: str
    row: ReportRow


def group_name(settings: Settings) -> str:
    """The report's name for the hosts of ``report_group_suffix`` taken together."""
    return f"*{settings.report_group_suffix} (together)"


def daily_report(settings: Settings, dt_from: str, dt_to: str, host: str | None = None) -> list[DailyReportRow]:
    """The domain report per day: each host's row, and (without ``host``) the group's, each day from its layer."""
    from websessions.clients import postgres

    params = {
        "from": dt_from,
        "to": dt_to,
        "host": host,
        "group": group_name(settings),
        "pattern": f"%{settings.report_group_suffix}",
    }
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(DAILY_QUERY, params)
        return [DailyReportRow(str(dt), _row(h, layer, tuple(values))) for dt, h, layer, *values in cur.fetchall()]
