"""The job's update rows (:data:`streaming.sessions_job.UPDATE_COLUMNS`) as the domain's records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from websessions.events import parse_time_ms
from websessions.sessions import CLOSED, OPEN, Session, session_from_aggregates
from websessions.stores.hbase_sessions import MinuteMetrics

SESSION_KINDS = {"open": OPEN, "session": CLOSED}


def session_of_update(row: Mapping[str, Any]) -> Session:
    """An ``open`` or ``session`` (closed) row as the session record."""
    geo = row.get("geo")
    return session_from_aggregates(
        row["host"], row["ip"], parse_time_ms(row["t_start"]), parse_time_ms(row["t_end"]), row["events"],
        row["pages"], row["first_url"], row["last_url"], row.get("referrer"), row.get("user_agent"),
        row.get("errors") or 0, orjson.loads(geo) if geo else None, SESSION_KINDS[row["kind"]],
    )  # fmt: skip


def start_of_update(row: Mapping[str, Any]) -> tuple[str, str, int]:
    """The (host, ip, start) a session row is about: the HBase row it changes."""
    return row["host"], row["ip"], parse_time_ms(row["t_start"])


def metrics_of(row: Mapping[str, Any]) -> MinuteMetrics:
    return MinuteMetrics(row["host"], row["bucket"], row["events"], row["users"], row["errors"])
