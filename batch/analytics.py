"""The day's analytics tables in Spark: the adapters of the definitions in :mod:`websessions.analytics`.

Pure ``DataFrame -> DataFrame`` functions over the day's sessions and their events (those of
:func:`batch.history.events_of_sessions`); none has a ``dt`` column (the load writes partition D).
The agents are classified in the driver, each distinct agent of the day once
(:func:`agent_classes`: a day has a few hundred agents, not millions of events), and joined back to
the sessions as a broadcast table; no Python runs per event or per session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websessions.analytics import HOUR_MS, NO_AGENT, PERCENTILE_ACCURACY, PERCENTILES, classify_agent

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

AGENT_CLASS_COLUMNS = ("user_agent", "browser_family", "os_family", "device_class", "is_bot")


def agent_classes(spark: SparkSession, sessions: DataFrame) -> DataFrame:
    """One row per distinct user agent of ``sessions`` (``""`` for none) with its class
    (:func:`websessions.analytics.classify_agent`), parsed in the driver and returned as a small frame."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    agents = [row[0] for row in sessions.select(F.coalesce("user_agent", F.lit(NO_AGENT))).distinct().collect()]
    rows = []
    for agent in sorted(agents):
        k = classify_agent(agent)
        rows.append((agent, k.browser_family, k.os_family, k.device_class, k.is_bot))
    text = T.StringType()
    schema = T.StructType(
        [T.StructField(name, text, False) for name in AGENT_CLASS_COLUMNS[:-1]]
        + [T.StructField("is_bot", T.BooleanType(), False)]
    )
    return spark.createDataFrame(rows, schema)


def classified_sessions(sessions: DataFrame, classes: DataFrame) -> DataFrame:
    """``sessions`` with ``agent`` (the user agent, ``""`` for none) and its class columns."""
    from pyspark.sql import functions as F

    keyed = sessions.withColumn("agent", F.coalesce("user_agent", F.lit(NO_AGENT)))
    return keyed.join(F.broadcast(classes.withColumnRenamed("user_agent", "agent")), "agent")


def agents_daily(classified: DataFrame) -> DataFrame:
    """One row per host and user agent: its class, sessions and their events."""
    from pyspark.sql import functions as F

    return classified.groupBy("host", F.col("agent").alias("user_agent"), *AGENT_CLASS_COLUMNS[1:]).agg(
        F.count(F.lit(1)).alias("sessions"), F.sum("events").alias("events")
    )


def event_types_daily(events: DataFrame) -> DataFrame:
    """One row per host and event type: events, and sessions with at least one such event."""
    from pyspark.sql import functions as F

    per_session = events.groupBy("host", "ip", "session_start_ms", "event_type").agg(F.count(F.lit(1)).alias("n"))
    return per_session.groupBy("host", "event_type").agg(
        F.sum("n").alias("events"), F.count(F.lit(1)).alias("sessions")
    )


def load_times_daily(events: DataFrame) -> DataFrame:
    """One row per host and page, and one per host (``page`` null) over all its pages: the events with
    a load time (``samples``) and their p50/p95/p99 (``percentile_approx``, accuracy
    :data:`~websessions.analytics.PERCENTILE_ACCURACY`: the nearest-rank percentiles below that many
    samples)."""
    from pyspark.sql import functions as F

    timed = events.filter(F.col("load_time_ms").isNotNull())
    found = timed.rollup("host", "page").agg(
        F.count(F.lit(1)).alias("samples"),
        F.percentile_approx("load_time_ms", list(PERCENTILES), PERCENTILE_ACCURACY).alias("_p"),
        F.grouping("page").alias("_all_pages"),
        F.grouping("host").alias("_all_hosts"),
    )
    # The rollup's grand total (host null too) is no row of the table.
    return found.filter(F.col("_all_hosts") == 0).select(
        "host",
        F.when(F.col("_all_pages") == 0, F.col("page")).alias("page"),
        "samples",
        *[F.col("_p")[i].alias(name) for i, name in enumerate(("p50_ms", "p95_ms", "p99_ms"))],
    )


def hourly_trends(events: DataFrame, sessions: DataFrame) -> DataFrame:
    """One row per host and UTC hour with events of the day's sessions (``hour``, and ``hour_ms`` its epoch
    ms): events, sessions started, active users (distinct IPs with an event in the hour) and errors
    (status >= 400)."""
    from pyspark.sql import functions as F

    def hour(ms: str):
        return (F.col(ms) - F.col(ms) % HOUR_MS).alias("hour_ms")

    per_ip = events.groupBy("host", hour("event_time_ms"), "ip").agg(
        F.count(F.lit(1)).alias("n"), F.count_if(F.col("status") >= 400).alias("e")
    )
    counts = per_ip.groupBy("host", "hour_ms").agg(
        F.sum("n").alias("events"), F.count(F.lit(1)).alias("active_users"), F.sum("e").alias("errors")
    )
    started = sessions.groupBy("host", hour("start_ms")).agg(F.count(F.lit(1)).alias("sessions_started"))
    # Every session's first event is in its start hour: no hour has starts without events.
    return counts.join(started, ["host", "hour_ms"], "left").select(
        "host",
        F.timestamp_millis("hour_ms").alias("hour"),
        "hour_ms",
        "events",
        F.coalesce("sessions_started", F.lit(0)).alias("sessions_started"),
        "active_users",
        "errors",
    )


def page_covisits(classified: DataFrame, top_k: int) -> DataFrame:
    """One row per host, page and rank <= ``top_k``: the page also viewed in the most non-bot sessions
    that viewed ``page`` (ties: the smaller page first), from the sessions' ``page_set``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    c = F.col
    people = classified.filter(~c("is_bot")).select("host", "page_set")
    pairs = people.select("host", F.explode("page_set").alias("page"), "page_set").select(
        "host", "page", F.explode("page_set").alias("also_viewed")
    )
    counted = (
        pairs.filter(c("page") != c("also_viewed"))
        .groupBy("host", "page", "also_viewed")
        .agg(F.count(F.lit(1)).alias("sessions"))
    )
    ranked = Window.partitionBy("host", "page").orderBy(c("sessions").desc(), c("also_viewed"))
    return (
        counted.withColumn("rank", F.row_number().over(ranked))
        .filter(c("rank") <= top_k)
        .select("host", "page", c("rank").cast("int").alias("rank"), "also_viewed", "sessions")
    )


def analytics_tables(events: DataFrame, classified: DataFrame, top_k: int) -> dict[str, DataFrame]:
    """Hive table -> its frame of the day."""
    return {
        "agents_daily": agents_daily(classified),
        "event_types_daily": event_types_daily(events),
        "load_times_daily": load_times_daily(events),
        "hourly_trends": hourly_trends(events, classified),
        "page_covisits_daily": page_covisits(classified, top_k),
    }
