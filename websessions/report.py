"""The domain report: per host (and the Tech Creator hosts together), from the layer that is the truth.

Serving rule, in Postgres, chosen **per day**: ``report_sessions`` holds one row per session — for a day
whose batch succeeded and was reconciled (every host of the day passed), the batch layer's ``sessions``;
for any other day (batch not run yet, or failed), the speed layer's ``speed_sessions`` (refreshed from
HBase) — each row saying which layer it came from. A day whose batch failed therefore stays in the
report, served by the speed layer and marked so (:func:`day_layers`). ``domain_report`` aggregates it
per day and host. ``websessions report`` aggregates a date range exactly (unique IPs across days and
hosts are counted from sessions, never summed), lists every configured host even with zero sessions,
adds one row for the hosts of ``report_group_suffix`` together, and names each day's layer.
The tables and views are ``postgres/migrations`` (:mod:`websessions.db_migrations`); nothing here runs DDL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from websessions.sessions import Session
from websessions.settings import Settings

RANGE_QUERY = """
SELECT host, layer, count(*), coalesce(sum(events), 0), avg(events)::double precision, max(events),
       avg(duration_s)::double precision, count(DISTINCT ip),
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s IS NULL OR host = %(host)s) AND NOT (%(no_bots)s AND is_bot)
GROUP BY GROUPING SETS ((host, layer), (layer))
"""
GROUP_QUERY = """
SELECT layer, count(*), coalesce(sum(events), 0), avg(events)::double precision, max(events),
       avg(duration_s)::double precision, count(DISTINCT ip),
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND host LIKE %(pattern)s AND NOT (%(no_bots)s AND is_bot)
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
    from websessions.db_migrations import serving_connection

    with serving_connection(settings) as conn, conn.cursor() as cur:
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


def refresh_speed_sessions(settings: Settings, dt: str, sessions: Iterable[Session]) -> int:
    """Replace day ``dt`` of ``speed_sessions`` with the speed layer's current sessions (one transaction)."""
    from websessions.db_migrations import serving_connection

    rows = [
        (s.session_id, s.dt, s.host, s.ip, s.start, s.end, s.duration_s, s.events, s.status)
        for s in sessions
        if s.dt == dt
    ]
    with serving_connection(settings) as conn, conn.cursor() as cur:
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


def domain_report(
    settings: Settings, dt_from: str, dt_to: str, host: str | None = None, exclude_bots: bool = False
) -> list[ReportRow]:
    """Per host and layer for the range; every configured host listed (zero sessions if no traffic).
    ``exclude_bots`` leaves out the sessions whose agent is a bot (known for batch-served days only:
    the speed layer does not classify agents, see :func:`bots_excluded`)."""
    from websessions.db_migrations import serving_connection

    params = {"from": dt_from, "to": dt_to, "host": host, "no_bots": exclude_bots}
    with serving_connection(settings) as conn, conn.cursor() as cur:
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


_DAY_MEASURES = """count(*), coalesce(sum(events), 0), avg(events)::double precision, max(events),
       avg(duration_s)::double precision, count(DISTINCT ip),
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision"""
# domain_report's measures per day, from report_sessions so that bots can be left out.
DAILY_QUERY = f"""
SELECT dt, host, layer, {_DAY_MEASURES}
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s IS NULL OR host = %(host)s) AND NOT (%(no_bots)s AND is_bot)
GROUP BY dt, host, layer
UNION ALL
SELECT dt, %(group)s, min(layer), {_DAY_MEASURES}
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND %(host)s IS NULL AND host LIKE %(pattern)s AND NOT (%(no_bots)s AND is_bot)
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


def daily_report(
    settings: Settings, dt_from: str, dt_to: str, host: str | None = None, exclude_bots: bool = False
) -> list[DailyReportRow]:
    """The domain report per day: each host's row, and (without ``host``) the group's, each day from its layer
    (``exclude_bots`` as :func:`domain_report` takes it)."""
    from websessions.db_migrations import serving_connection

    params = {
        "from": dt_from,
        "to": dt_to,
        "host": host,
        "no_bots": exclude_bots,
        "group": group_name(settings),
        "pattern": f"%{settings.report_group_suffix}",
    }
    with serving_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(DAILY_QUERY, params)
        return [DailyReportRow(str(dt), _row(h, layer, tuple(values))) for dt, h, layer, *values in cur.fetchall()]


BOTS_QUERY = """
SELECT count(*) FILTER (WHERE is_bot), count(DISTINCT dt) FILTER (WHERE layer = 'speed')
FROM report_sessions
WHERE dt BETWEEN %(from)s AND %(to)s AND (%(host)s::text IS NULL OR host = %(host)s)
"""


@dataclass(frozen=True)
class BotsExcluded:
    """What ``--exclude-bots`` left out of a range: bot sessions (of batch-served days), and the speed-served
    days whose bots could not be told apart (their sessions all stay in)."""

    bot_sessions: int
    speed_days: int

    def note(self) -> str:
        text = f"bots excluded: {self.bot_sessions} bot sessions left out of the averages"
        if self.speed_days:
            text += f" ({self.speed_days} day(s) served by the speed layer still include their bots)"
        return text


def bots_excluded(settings: Settings, dt_from: str, dt_to: str, host: str | None = None) -> BotsExcluded:
    """How many sessions ``domain_report(..., exclude_bots=True)`` leaves out of the range."""
    from websessions.db_migrations import serving_connection

    with serving_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(BOTS_QUERY, {"from": dt_from, "to": dt_to, "host": host})
        bots, speed_days = cur.fetchone()
    return BotsExcluded(int(bots), int(speed_days))


@dataclass(frozen=True)
class DayPoint:
    """One host (or the group) on one day of the report, with the change in sessions and events against its
    previous day in the series (None for its first day, or from zero)."""

    dt: str
    row: ReportRow
    sessions_change: float | None
    events_change: float | None


def daily_series(
    settings: Settings, dt_from: str, dt_to: str, host: str | None = None, exclude_bots: bool = False
) -> list[DayPoint]:
    """:func:`daily_report` by host, then day, with each day's change against the host's day before."""
    from websessions.analytics import change

    days = sorted(daily_report(settings, dt_from, dt_to, host, exclude_bots), key=lambda d: (d.row.host, d.dt))
    points: list[DayPoint] = []
    for day in days:
        before = points[-1].row if points and points[-1].row.host == day.row.host else None
        points.append(
            DayPoint(
                day.dt,
                day.row,
                change(day.row.sessions, before.sessions if before else None),
                change(day.row.events, before.events if before else None),
            )  # fmt: skip
        )
    return points
