"""Anomaly alerts in Postgres: the table the CLI and the dashboard read, and the detector's progress.

Tables (``settings.postgres_table_alerts``, ``web_alerts`` by default):

- ``web_alerts`` — grain: one row per host, minute and kind; primary key ``(host, minute, kind)``, so
  writing an alert again (a runner restarted before it saved its progress judges the same minutes again)
  changes nothing. ``minute`` is a ``timestamptz`` (UTC minute of event time); ``observed``,
  ``expected``, ``score``, ``window_minutes`` as :class:`websessions.anomalies.Alert`; ``detected_at``
  the wall-clock time of the first write.
- ``web_alerts_progress`` — one row per metrics source (the HBase table read): the last minute judged.
  Written in the same transaction as that minute's alerts.

The schema is created by the writer (:func:`ensure_schema`, the runner's first step); readers never run
DDL and read an absent table as no alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from websessions.anomalies import Alert
from websessions.settings import Settings


def _tables(settings: Settings) -> tuple[str, str]:
    name = settings.postgres_table_alerts
    if not name.replace("_", "").isalnum():
        raise ValueError(f"postgres_table_alerts {name!r} is not a plain table name")
    return name, f"{name}_progress"


def ensure_schema(settings: Settings) -> None:
    """Create the alerts table and its progress table (idempotent)."""
    from websessions.clients import postgres

    alerts, progress = _tables(settings)
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            f"""CREATE TABLE IF NOT EXISTS {alerts} (
                host text NOT NULL,
                minute timestamptz NOT NULL,
                kind text NOT NULL,
                observed double precision NOT NULL,
                expected double precision NOT NULL,
                score double precision NOT NULL,
                window_minutes integer NOT NULL,
                detected_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (host, minute, kind)
            );
            CREATE INDEX IF NOT EXISTS {alerts}_minute ON {alerts} (minute);
            CREATE TABLE IF NOT EXISTS {progress} (
                source text PRIMARY KEY,
                minute bigint NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );"""
        )
        conn.commit()


@dataclass(frozen=True)
class StoredAlert:
    """An alert as stored: the detector's :class:`Alert` and when it was first written."""

    alert: Alert
    detected_at: datetime

    def to_dict(self) -> dict:
        return {**self.alert.to_dict(), "detected_at": self.detected_at.isoformat()}


def save(settings: Settings, alerts: Iterable[Alert], source: str, minute: int) -> int:
    """Write ``alerts`` (an alert already there is kept as it was) and record ``minute`` as judged, in one
    transaction; returns how many alerts were new."""
    from websessions.clients import postgres

    table, progress = _tables(settings)
    rows = [(a.host, a.minute * 60, a.kind, a.observed, a.expected, a.score, a.window_minutes) for a in alerts]
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        new = 0
        for row in rows:
            cur.execute(
                f"INSERT INTO {table} (host, minute, kind, observed, expected, score, window_minutes)"
                " VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                row,
            )
            new += cur.rowcount
        cur.execute(
            f"INSERT INTO {progress} (source, minute) VALUES (%s, %s)"
            " ON CONFLICT (source) DO UPDATE SET minute = EXCLUDED.minute, updated_at = now()",
            (source, minute),
        )
        conn.commit()
    return new


def progress(settings: Settings, source: str) -> tuple[int, datetime] | None:
    """(last minute judged, when) for ``source``; None before the first, or without the table."""
    from websessions.clients import postgres

    _, table = _tables(settings)
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT minute, updated_at FROM {table} WHERE source = %s", (source,))
        row = cur.fetchone()
    return (int(row[0]), row[1]) if row else None


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``2h``, ``1d`` (before ``now``) or an ISO-8601 UTC time, as a UTC datetime."""
    now = now or datetime.now(UTC)
    text = text.strip()
    units = {"m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError as exc:
        raise ValueError(f"--since {text!r} is neither 30m / 2h / 1d nor a time like 2026-12-07T14:30") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def alerts_since(
    settings: Settings, since: datetime, host: str | None = None, kind: str | None = None, limit: int = 1000
) -> list[StoredAlert]:
    """Alerts whose minute is at or after ``since`` (a UTC datetime; naive means UTC), newest first, at
    most ``limit``; optionally of one host or kind. No table yet: no alerts."""
    from websessions.clients import postgres

    table, _ = _tables(settings)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    where, params = ["minute >= %s"], [since]
    if host:
        where.append("host = %s")
        params.append(host)
    if kind:
        where.append("kind = %s")
        params.append(kind)
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            return []
        cur.execute(
            f"SELECT host, extract(epoch FROM minute)::bigint / 60, kind, observed, expected, score,"
            f" window_minutes, detected_at FROM {table} WHERE {' AND '.join(where)}"
            f" ORDER BY minute DESC, host, kind LIMIT %s",
            (*params, limit),
        )
        rows = cur.fetchall()
    return [StoredAlert(Alert(*row[:7]), row[7]) for row in rows]


def drop_tables(settings: Settings) -> None:
    """Remove both tables (tests)."""
    from websessions.clients import postgres

    alerts, progress_table = _tables(settings)
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {alerts}, {progress_table}")
        conn.commit()
