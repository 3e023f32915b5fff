"""Daily statistics and history aggregates of one day, as pure ``DataFrame -> DataFrame`` functions.

Grain of the day: the sessions that start on D (``web_sessions`` partition D) and their events
(deduplicated: :func:`events_of_sessions`), so every table reconciles with ``web_sessions``: the page
views of a day add up to the events of its sessions. Each function states its grain; none has a
``dt`` column (the load writes each into partition D).

Within these functions a session is ``(ip, host, session_start_ms)``, the key its ``session_id`` is
hashed from: the events arrive clustered by ``(ip, host)`` (:func:`batch.sessionize.sessionize_events`),
so aggregates per session need no shuffle and no hash per event.

Numbers that must not change on a rerun are computed from integers: averages are integer sums
divided once (a double sum in partition order could differ in its last bit between runs), medians
are exact (``median`` sorts the values).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

ColumnMap = Callable[["Column"], "Column"]

HOME = "/"


def page(url: Column) -> Column:
    """The page of a url: its path without query string or fragment (``/`` when empty)."""
    from pyspark.sql import functions as F

    # Everything before the first "?" or "#" (string functions: cheaper than a regex per event).
    path = F.substring_index(F.substring_index(url, "?", 1), "#", 1)
    return F.when(path == "", F.lit(HOME)).otherwise(path)


def section(page_: Column) -> Column:
    """The first path segment of a page (``/blog/flink`` -> ``blog``); ``/`` for the home page or a page
    that does not start with ``/`` (the regular expression ``^/([^/]+)``, in string functions)."""
    from pyspark.sql import functions as F

    first = F.when(page_.startswith("/"), F.substring_index(F.substring(page_, 2, 1 << 30), "/", 1))
    return F.when(F.coalesce(first, F.lit("")) == "", F.lit(HOME)).otherwise(first)


def referrer_host(referrer: Column) -> Column:
    """The host of a referrer url, lower-cased; ``(direct)`` when there is none."""
    from pyspark.sql import functions as F

    found = F.lower(F.regexp_extract(referrer, r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:@]+)", 1))
    return F.when(referrer.isNull() | (found == ""), F.lit("(direct)")).otherwise(found)


def events_of_sessions(day_events: DataFrame, excluded: DataFrame) -> DataFrame:
    """The day's events for the history tables, without those of the ``excluded`` sessions (the
    quarantined ones: few, so they are broadcast; the events keep their partitioning), each with its
    ``page``, ``event_type`` and ``load_time_ms``."""
    from pyspark.sql import functions as F

    c = F.col
    keys = excluded.select("ip", "host", c("start_ms").alias("session_start_ms"))
    kept = day_events.join(F.broadcast(keys), ["ip", "host", "session_start_ms"], "left_anti")
    return kept.select(
        "host",
        "ip",
        "session_start_ms",
        "event_time_ms",
        "event_id",
        "url",
        "status",
        "event_type",
        "load_time_ms",
        page(c("url")).alias("page"),
    )


def domain_daily_stats(sessions: DataFrame) -> DataFrame:
    """One row per host: sessions, events, average/max/median events per session, unique IPs,
    average and median duration (s), bounce rate (share of one-event sessions)."""
    from pyspark.sql import functions as F

    c = F.col
    stats = sessions.groupBy("host").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.sum("events").alias("events"),
        F.max("events").alias("max_events_per_session"),
        F.median("events").alias("median_events_per_session"),
        F.sum(c("end_ms") - c("start_ms")).alias("_duration_ms"),
        F.median(c("end_ms") - c("start_ms")).alias("_median_duration_ms"),
        F.count_if(c("events") == 1).alias("_bounces"),
    )
    # Unique IPs in two plain aggregates: a distinct aggregate next to the medians would make Spark
    # expand every session row into one copy per distinct group.
    ips = sessions.select("host", "ip").distinct().groupBy("host").agg(F.count(F.lit(1)).alias("unique_ips"))
    return stats.join(ips, "host").select(
        "host",
        "sessions",
        "events",
        (c("events") / c("sessions")).alias("avg_events_per_session"),
        c("max_events_per_session").cast("int").alias("max_events_per_session"),
        c("median_events_per_session").cast("double").alias("median_events_per_session"),
        "unique_ips",
        (c("_duration_ms") / c("sessions") / 1000).alias("avg_duration_s"),
        (c("_median_duration_ms") / 1000).alias("median_duration_s"),
        (c("_bounces") / c("sessions")).alias("bounce_rate"),
    )


def session_aggregates() -> dict[str, Column]:
    """What the history tables need from each session's events, computed with the session records
    (:func:`batch.sessionize.session_records`): the distinct pages and sections of the session."""
    from pyspark.sql import functions as F

    page_ = page(F.col("url"))
    return {"page_set": F.collect_set(page_), "section_set": F.collect_set(section(page_))}


def _views_and_sessions(events: DataFrame, sessions: DataFrame, key: str, of_page: ColumnMap) -> DataFrame:
    """Per host and ``key``: views (events, ``key`` = ``of_page(page)``) and sessions (``key`` in the
    session's ``<key>_set``). Both group by a few hundred keys at most: counting the sessions from the
    events instead would group by session and page, millions of keys in one hash map."""
    from pyspark.sql import functions as F

    views = events.groupBy("host", of_page(F.col("page")).alias(key)).agg(F.count(F.lit(1)).alias("views"))
    viewed = sessions.select("host", F.explode(f"{key}_set").alias(key))
    counted = viewed.groupBy("host", key).agg(F.count(F.lit(1)).alias("sessions"))
    # Every page of an event is in its session's page set and every page in a set was viewed: inner join.
    return views.join(counted, ["host", key])


def page_views(events: DataFrame, sessions: DataFrame) -> DataFrame:
    """One row per host and page: views and sessions that viewed it."""
    return _views_and_sessions(events, sessions, "page", lambda p: p)


def section_engagement(events: DataFrame, sessions: DataFrame) -> DataFrame:
    """One row per host and section (first path segment): views, sessions, views per session."""
    from pyspark.sql import functions as F

    counts = _views_and_sessions(events, sessions, "section", section)
    return counts.withColumn("views_per_session", F.col("views") / F.col("sessions"))


def navigation_paths(events: DataFrame) -> DataFrame:
    """One row per host and page pair: how often ``to_page`` followed ``from_page`` within a session."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # The events of a key are clustered by (ip, host) already and its sessions never interleave in
    # time, so the next event of the key is the next of the session when its session is the same.
    by_key = Window.partitionBy("ip", "host").orderBy("event_time_ms", "event_id")
    steps = events.select(
        "host",
        "session_start_ms",
        F.col("page").alias("from_page"),
        F.lead("page").over(by_key).alias("to_page"),
        F.lead("session_start_ms").over(by_key).alias("_next_session"),
    )
    return (
        steps.filter(F.col("_next_session") == F.col("session_start_ms"))
        .groupBy("host", "from_page", "to_page")
        .agg(F.count(F.lit(1)).alias("transitions"))
    )


def referrers(sessions: DataFrame) -> DataFrame:
    """One row per host and referring host (of the session's first event): sessions and their events."""
    from pyspark.sql import functions as F

    return (
        sessions.withColumn("referrer_host", referrer_host(F.col("referrer")))
        .groupBy("host", "referrer_host")
        .agg(F.count(F.lit(1)).alias("sessions"), F.sum("events").alias("events"))
    )


def geography(sessions: DataFrame) -> DataFrame:
    """One row per host and country (of the session's first event; ``unknown`` without one)."""
    from pyspark.sql import functions as F

    country = F.coalesce(F.col("geo.country"), F.lit("unknown"))
    return (
        sessions.withColumn("country", country)
        .groupBy("host", "country")
        .agg(
            F.count(F.lit(1)).alias("sessions"),
            F.sum("events").alias("events"),
            F.count_distinct("ip").alias("unique_ips"),
        )
    )


def error_rates(events: DataFrame) -> DataFrame:
    """One row per host: events, errors (status >= 400), of which 4xx and 5xx, and the error rate."""
    from pyspark.sql import functions as F

    status = F.col("status")
    counts = events.groupBy("host").agg(
        F.count(F.lit(1)).alias("events"),
        F.count_if(status >= 400).alias("errors"),
        F.count_if((status >= 400) & (status < 500)).alias("client_errors"),
        F.count_if(status >= 500).alias("server_errors"),
    )
    return counts.withColumn("error_rate", F.col("errors") / F.col("events"))


def events_per_minute(events: DataFrame) -> DataFrame:
    """One row per host and minute (UTC, a timestamp) with events."""
    from pyspark.sql import functions as F

    minute = F.timestamp_millis(F.floor(F.col("event_time_ms") / 60_000) * 60_000)
    return events.groupBy("host", minute.alias("minute")).agg(F.count(F.lit(1)).alias("events"))


# Hive table -> the function that computes its day and what it is computed from (its arguments).
HISTORY_TABLES = {
    "page_views_daily": (page_views, ("events", "sessions")),
    "section_engagement_daily": (section_engagement, ("events", "sessions")),
    "navigation_paths_daily": (navigation_paths, ("events",)),
    "referrers_daily": (referrers, ("sessions",)),
    "geo_daily": (geography, ("sessions",)),
    "error_rates_daily": (error_rates, ("events",)),
    "events_per_minute": (events_per_minute, ("events",)),
}
