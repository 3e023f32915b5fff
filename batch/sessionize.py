"""Sessions in Spark: the rule of :mod:`websessions.sessions` as window functions, no Python UDFs.

Per key ``(ip, host)`` ordered by ``(event_time_ms, event_id)``: an event starts a session when it is
the key's first or when the gap to the previous event (``lag``) is greater than ``rule.timeout_ms``
(a gap of exactly the timeout continues it). The start of an event's session is the running maximum
of the start times seen so far in that order: one window pass, no session counter to join back.

The record is :class:`websessions.sessions.Session` column for column: ``start``/``end`` are the
first and last event, ``first_url``/``referrer``/``user_agent``/``geo`` come from the first event and
``last_url`` from the last by ``(event_time_ms, event_id)`` (``min_by``/``max_by``; Spark orders strings
by UTF-8 bytes, i.e. by code point, as Python does), ``events`` counts the counted events (the input is
deduplicated by the dedupe rule), ``pages`` distinct urls, ``errors`` events with
``status >= 400``, and ``session_id`` is the SQL expression of :func:`websessions.sessions.session_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from batch.events import dedupe_events
from websessions.sessions import CLOSED, SessionRule

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# The columns of a session row, in the order of the web_sessions table (dt last, as its partition).
SESSION_COLUMNS = (
    "session_id", "host", "ip", "start_ms", "end_ms", "start_ts", "end_ts", "duration_s", "events", "pages",
    "first_url", "last_url", "referrer", "user_agent", "errors", "geo", "status", "dt",
)  # fmt: skip


def session_id_column(host: Column, ip: Column, start_ms: Column) -> Column:
    """``websessions.sessions.session_id`` in Spark SQL, as its docstring states it."""
    from pyspark.sql import functions as F

    return F.substring(F.sha1(F.concat_ws("|", host, ip, start_ms.cast("string")).cast("binary")), 1, 20)


def sessionize_events(events: DataFrame, rule: SessionRule) -> DataFrame:
    """Valid events to the counted events (:func:`batch.events.dedupe_events`: the first copy to
    arrive wins) with ``session_start_ms`` (the start of their session).

    The input is clustered by ``(ip, host)`` once; deduplication and the session window then run
    inside those partitions without another shuffle.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t = F.col("event_time_ms")
    by_key = Window.partitionBy("ip", "host").orderBy("event_time_ms", "event_id")
    running = by_key.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    gap = t - F.col("_previous")
    starts = gap.isNull() | (gap > F.lit(rule.timeout_ms))
    deduped = dedupe_events(events.repartition("ip", "host"), rule)
    return (
        deduped.withColumn("_previous", F.lag(t).over(by_key))  # one lag, referred to twice
        .withColumn("session_start_ms", F.max(F.when(starts, t)).over(running))
        .drop("_previous")
    )


def session_records(sessionized: DataFrame, extra: Mapping[str, Column] | None = None) -> DataFrame:
    """One row per session (:data:`SESSION_COLUMNS`) from :func:`sessionize_events`' output, then the
    ``extra`` aggregates of the session's events (name -> aggregate), computed in the same pass."""
    from pyspark.sql import functions as F

    c = F.col
    order = F.struct("event_time_ms", "event_id")
    first = F.min_by(F.struct("url", "referrer", "user_agent", "geo"), order)
    sessions = sessionized.groupBy("ip", "host", "session_start_ms").agg(
        F.max("event_time_ms").alias("end_ms"),
        F.count(F.lit(1)).alias("events"),
        F.size(F.collect_set("url")).alias("pages"),
        first.alias("_first"),
        F.max_by("url", order).alias("last_url"),
        F.count_if(c("status") >= 400).alias("errors"),
        *[aggregate.alias(name) for name, aggregate in (extra or {}).items()],
    )
    start = c("session_start_ms")
    return sessions.select(
        session_id_column(c("host"), c("ip"), start).alias("session_id"),
        "host",
        "ip",
        start.alias("start_ms"),
        "end_ms",
        F.timestamp_millis(start).alias("start_ts"),
        F.timestamp_millis(c("end_ms")).alias("end_ts"),
        ((c("end_ms") - start) / 1000).alias("duration_s"),
        c("events").cast("int").alias("events"),
        c("pages").cast("int").alias("pages"),
        c("_first.url").alias("first_url"),
        "last_url",
        c("_first.referrer").alias("referrer"),
        c("_first.user_agent").alias("user_agent"),
        c("errors").cast("int").alias("errors"),
        c("_first.geo").alias("geo"),
        F.lit(CLOSED).alias("status"),
        F.to_date(F.timestamp_millis(start)).cast("string").alias("dt"),
        *(extra or {}),
    )


def overlong(rule: SessionRule) -> Column:
    """``SessionRule.is_overlong`` as a condition: longer than ``max_session_days``."""
    from pyspark.sql import functions as F

    return (F.col("end_ms") - F.col("start_ms")) > F.lit(rule.max_session_days * 86_400_000)
