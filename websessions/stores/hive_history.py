"""Top lists over a date range from the batch layer's history tables in Hive (``hive/ddl/04_history.sql``).

Read through HiveServer2, like every Hive client: ``websessions history`` and the dashboard's History page
both call :func:`top`. A list sums the daily partitions of the range (``dt BETWEEN``, so Hive prunes to
them) per host and key, and ranks by its first measure (ties by host and key). Only additive measures
are summed: a country's distinct ips per day do not add up over days, so they are left out here.
"""

from __future__ import annotations

from dataclasses import dataclass

from websessions.settings import Settings


@dataclass(frozen=True)
class TopList:
    """One kind of top list: the history table, the key columns, the summed measures (ranked by the first)."""

    table: str
    keys: tuple[str, ...]
    measures: tuple[str, ...]
    description: str


TOP_LISTS: dict[str, TopList] = {
    "pages": TopList("page_views_daily", ("page",), ("views", "sessions"), "most viewed pages"),
    "referrers": TopList(
        "referrers_daily", ("referrer_host",), ("sessions", "events"), "referring hosts of sessions' first events"
    ),
    "countries": TopList("geo_daily", ("country",), ("sessions", "events"), "countries of sessions' first events"),
    "sections": TopList(
        "section_engagement_daily", ("section",), ("views", "sessions"), "sections (first path segment)"
    ),
    "paths": TopList(
        "navigation_paths_daily", ("from_page", "to_page"), ("transitions",), "page-to-next-page steps in sessions"
    ),
}


@dataclass(frozen=True)
class TopRows:
    """A top list's result: column names and rows, best first."""

    columns: list[str]
    rows: list[tuple]


def top_list_sql(settings: Settings, kind: str, host: str | None, limit: int) -> str:
    """The HiveQL of a top list (``%(from)s``, ``%(to)s`` and ``%(host)s`` bound by the client)."""
    from batch.hive_sql import database

    spec = TOP_LISTS[kind]
    keys = ", ".join(spec.keys)
    sums = ", ".join(f"sum({m}) AS {m}" for m in spec.measures)
    where = "dt BETWEEN %(from)s AND %(to)s" + (" AND host = %(host)s" if host else "")
    return (
        f"SELECT host, {keys}, {sums} FROM {database(settings)}.{spec.table} WHERE {where}"
        f" GROUP BY host, {keys} ORDER BY {spec.measures[0]} DESC, host, {keys} LIMIT {int(limit)}"
    )


def top(settings: Settings, kind: str, dt_from: str, dt_to: str, host: str | None = None, limit: int = 10) -> TopRows:
    """The ``limit`` best rows of top list ``kind`` (a key of :data:`TOP_LISTS`) over ``dt_from`` .. ``dt_to``."""
    return top_all(settings, dt_from, dt_to, host, limit, kinds=(kind,))[kind]


def top_all(
    settings: Settings,
    dt_from: str,
    dt_to: str,
    host: str | None = None,
    limit: int = 10,
    kinds: tuple[str, ...] = tuple(TOP_LISTS),
) -> dict[str, TopRows]:
    """Top lists ``kinds`` (every one by default) over the range, one after the other in one HiveServer2 session."""
    from websessions.clients import hive

    unknown = [k for k in kinds if k not in TOP_LISTS]
    if unknown:
        raise ValueError(f"unknown top list {unknown[0]!r} (known: {', '.join(TOP_LISTS)})")
    out = {}
    with hive.connect(settings) as conn:
        cursor = conn.cursor()
        try:
            for kind in kinds:
                spec = TOP_LISTS[kind]
                cursor.execute(top_list_sql(settings, kind, host, limit), {"from": dt_from, "to": dt_to, "host": host})
                out[kind] = TopRows(["host", *spec.keys, *spec.measures], [tuple(r) for r in cursor.fetchall()])
        finally:
            cursor.close()
    return out
