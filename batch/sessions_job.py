"""The nightly batch of day D: raw events → sessions, daily stats and history in Hive and Postgres.

Submit (the day is the job's argument; every other value comes from settings, i.e. the
``WEBSESSIONS_*`` environment of the submitting process)::

    websessions batch --date 2026-11-20 [--force]
    .venv/bin/python -m batch.sessions_job --date 2026-11-20 [--force]
    "$(.venv/bin/python -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')"/bin/spark-submit \\
        batch/sessions_job.py --date 2026-11-20

Spark runs in-process on ``settings.spark_master`` (``local[2]``) with ``spark_driver_memory``,
attached to the stack's Hive metastore (see :mod:`batch.spark`).

Steps:

- **extract**: the raw JSON lines of D, and of D-1 and D+1 (a session crossing midnight needs both
  sides), each with its late area (``<raw>_late/dt=...``), explicit schema, no inference.
- **transform** (:func:`transform`, pure): validate (:mod:`batch.events`; invalid rows of D's files
  are quarantined), keep the valid events from ``D - timeout`` (enough to see whether D's first
  events continue a session of D-1) to the end of D+1, deduplicate, sessionize
  (:mod:`batch.sessionize`), keep the sessions that start on D (quarantining those longer than
  ``max_session_days``), then the daily stats and history (:mod:`batch.history`); once the day is cached,
  its distinct user agents are classified in the driver and the analytics tables computed
  (:mod:`batch.analytics`: agents, event types, load times, hourly trends, page co-visits).
- **load**: Hive tables (``hive/ddl``; every table's partition ``dt=D`` overwritten, a few tables at a
  time) while the sessions are staged in Postgres; once every Hive partition is written, Postgres
  ``sessions``, ``domain_daily_stats`` (with the bot share) and the analytics tables for D replaced in one
  transaction
  (:mod:`websessions.stores.postgres_sessions`). Up to ``batch_postgres_collect_max`` sessions are
  collected to the driver and COPYed into the staging table; a larger day is written by Spark as COPY
  text files on HDFS (no Python per row) that are streamed into it with ``COPY``; the same swap follows.

A rerun of a day replaces exactly what the previous run wrote. The day is refused unless the lander
has marked it complete (``_COMPLETE``) or ``force`` is given. D+1 may still be landing when D runs:
a session crossing midnight then ends with the events landed so far, and the next run of D (the
lander puts D's stragglers in the late area) completes it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from batch import history
from batch.analytics import agent_classes, analytics_tables, classified_sessions
from batch.events import (
    REJECT_REASONS,
    day_bounds_ms,
    parse_events,
    raw_line_schema,
    read_raw_dir,
    rejected_events,
    valid_events,
)
from batch.hive_sql import ddl_statements, late_root, raw_root
from batch.sessionize import overlong, session_records, sessionize_events
from websessions.analytics import AgentRow, bot_sessions
from websessions.sessions import SessionRule, session_from_aggregates
from websessions.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation, SparkSession

    from websessions.sessions import Session
    from websessions.stores.postgres_sessions import StagedDay

log = logging.getLogger(__name__)
COMPLETE_MARKER = "_COMPLETE"  # websessions.lander.COMPLETE_MARKER
Progress = Callable[[str], None]


class DayNotComplete(RuntimeError):
    """Day D has no ``_COMPLETE`` marker: its raw events may still be landing."""


@dataclass
class DayFrames:
    """The DataFrames of one day (lazy until an action runs).

    ``day_events`` (the events of the sessions that start on D, quarantined ones included) is what
    the job caches: the sessions, the stats and every history table are computed from it. The two
    observations count while it is computed, so the accounting needs no pass of its own:
    ``line_counts`` the raw lines (of D's files, from the late area, per reason) and
    ``event_counts`` the events of D's files after deduplication (in sessions of D or of D-1).
    """

    parsed: DataFrame
    rejected: DataFrame
    day_events: DataFrame
    day_sessions: DataFrame
    sessions: DataFrame
    quarantined_sessions: DataFrame
    events: DataFrame
    stats: DataFrame
    line_counts: Observation
    event_counts: Observation
    history: dict[str, DataFrame] = field(default_factory=dict)
    analytics: dict[str, DataFrame] = field(default_factory=dict)


@dataclass
class BatchResult:
    """The counts of one run. Lines of D's files add up:
    ``read = rejected + duplicates + in_sessions_of_day + in_sessions_of_day_before + in_quarantined_sessions``."""

    dt: str
    read: int = 0
    read_late_area: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    in_sessions_of_day: int = 0
    in_sessions_of_day_before: int = 0
    in_quarantined_sessions: int = 0
    context_events: int = 0
    sessions: int = 0
    session_events: int = 0
    quarantined_sessions: int = 0
    hosts: int = 0
    hive_tables: int = 0
    postgres_sessions: int = 0
    postgres_path: str = ""
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def balanced(self) -> bool:
        accounted = self.rejected_total + self.duplicates + self.in_sessions_of_day
        return self.read == accounted + self.in_sessions_of_day_before + self.in_quarantined_sessions

    def summary(self) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.rejected.items())) or "none"
        return (
            f"{self.dt}: read {self.read} lines of the day ({self.read_late_area} from the late area) + "
            f"{self.context_events} of the neighbouring days; rejected {self.rejected_total} ({reasons}); "
            f"duplicates {self.duplicates}; {self.sessions} sessions on {self.hosts} hosts with "
            f"{self.session_events} events ({self.in_sessions_of_day} from the day's files); "
            f"{self.in_sessions_of_day_before} events continued sessions of the day before; "
            f"{self.quarantined_sessions} sessions quarantined ({self.in_quarantined_sessions} events); "
            f"Hive: {self.hive_tables} tables; Postgres: {self.postgres_sessions} sessions ({self.postgres_path}); "
            f"{self.seconds:.1f}s"
        )


def neighbour_days(dt: str) -> list[str]:
    """D-1, D, D+1."""
    day = date.fromisoformat(dt)
    return [(day + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]


# -- extract ---------------------------------------------------------------------------------------


def _exists(spark: SparkSession, path: str) -> bool:
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hadoop_path)


def input_dirs(spark: SparkSession, settings: Settings, dt: str) -> list[str]:
    """The existing raw and late-area directories of D-1, D and D+1."""
    roots = (raw_root(settings), late_root(settings))
    candidates = [f"{root}/dt={day}" for root in roots for day in neighbour_days(dt)]
    return [path for path in candidates if _exists(spark, path)]


def extract(spark: SparkSession, dirs: list[str]) -> DataFrame:
    """The raw lines of ``dirs`` (``part-*.jsonl``; marker files are skipped), each with its directory and
    its arrival (:func:`batch.events.read_raw_dir`).

    One read per directory, its path a literal: what the rules need of the path (the ``dt=`` day, the
    late area) is then folded into constants instead of being cut out of every row's file name.
    """
    from functools import reduce

    from pyspark.sql import DataFrame

    if not dirs:
        return spark.createDataFrame([], raw_line_schema())
    return reduce(DataFrame.unionByName, [read_raw_dir(spark, path) for path in dirs])


# -- transform -------------------------------------------------------------------------------------


def _line_metrics(dt: str) -> list[Column]:
    """Of the raw lines: all, of D's files, of them from the late area, and per reject reason."""
    from pyspark.sql import functions as F

    c = F.col
    of_day = F.coalesce(c("source_dt") == dt, F.lit(False))
    metrics = [
        F.count(F.lit(1)).alias("lines"),
        F.count_if(of_day).alias("of_day"),
        F.count_if(of_day & c("from_late_area")).alias("late_area"),
    ]
    return metrics + [F.count_if(of_day & (c("reject_reason") == code)).alias(code) for code in REJECT_REASONS]


def _event_metrics(dt: str) -> list[Column]:
    """Of the deduplicated events of D's files: all, in sessions that start before D, and on D."""
    from pyspark.sql import functions as F

    day_start, day_end = day_bounds_ms(dt)
    of_day, start = F.coalesce(F.col("source_dt") == dt, F.lit(False)), F.col("session_start_ms")
    return [
        F.count_if(of_day).alias("kept"),
        F.count_if(of_day & (start < day_start)).alias("before"),
        F.count_if(of_day & (start >= day_start) & (start < day_end)).alias("of_day"),
    ]


def transform(raw: DataFrame, dt: str, rule: SessionRule) -> DayFrames:
    """Raw lines of D-1..D+1 to day D's frames (pure: builds the plan, runs nothing)."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    day_start, day_end = day_bounds_ms(dt)
    parsed = parse_events(raw)
    line_counts, event_counts = Observation(), Observation()
    window = valid_events(
        parsed.observe(line_counts, *_line_metrics(dt)), day_start - rule.timeout_ms, day_end + 86_400_000
    )
    sessionized = sessionize_events(window, rule).observe(event_counts, *_event_metrics(dt))
    start = F.col("session_start_ms")
    day_events = sessionized.filter((start >= day_start) & (start < day_end))
    day_sessions = session_records(day_events, history.session_aggregates())  # kept and quarantined
    is_overlong = overlong(rule)
    sessions = day_sessions.filter(~is_overlong)
    quarantined = day_sessions.filter(is_overlong)
    events = history.events_of_sessions(day_events, quarantined)
    frames = DayFrames(
        parsed=parsed,
        rejected=rejected_events(parsed, dt),
        day_events=day_events,
        day_sessions=day_sessions,
        sessions=sessions,
        quarantined_sessions=quarantined,
        events=events,
        stats=history.domain_daily_stats(sessions),
        line_counts=line_counts,
        event_counts=event_counts,
    )
    inputs = {"events": events, "sessions": sessions}
    for table, (compute, sources) in history.HISTORY_TABLES.items():
        frames.history[table] = compute(*(inputs[name] for name in sources))
    return frames


def count_day(frames: DayFrames, dt: str, result: BatchResult) -> None:
    """Fill ``result`` with the accounting of D's lines: computing the day's events (or reading them
    from the cache) fills the observations; the sessions are counted from their own frame."""
    from pyspark.sql import functions as F

    c = F.col
    frames.day_events.count()
    lines, events = frames.line_counts.get, frames.event_counts.get
    result.read, result.read_late_area = lines["of_day"], lines["late_area"]
    result.context_events = lines["lines"] - lines["of_day"]
    result.rejected = {code: lines[code] for code in REJECT_REASONS if lines[code]}
    result.duplicates = result.read - result.rejected_total - events["kept"]
    result.in_sessions_of_day_before = events["before"]
    totals = frames.sessions.agg(F.count(F.lit(1)).alias("n"), F.sum("events").alias("events")).first()
    result.sessions, result.session_events = totals["n"], totals["events"] or 0
    result.quarantined_sessions = frames.quarantined_sessions.count()
    result.in_quarantined_sessions = 0
    if result.quarantined_sessions:
        keys = frames.quarantined_sessions.select("ip", "host", c("start_ms").alias("session_start_ms"))
        of_day = frames.day_events.filter(c("source_dt") == dt)
        result.in_quarantined_sessions = of_day.join(F.broadcast(keys), ["ip", "host", "session_start_ms"]).count()
    result.in_sessions_of_day = events["of_day"] - result.in_quarantined_sessions


# -- load ------------------------------------------------------------------------------------------


def ensure_hive_tables(spark: SparkSession, settings: Settings) -> None:
    """Run ``hive/ddl`` (idempotent: ``CREATE ... IF NOT EXISTS``)."""
    for statement in ddl_statements(settings):
        spark.sql(statement)


def write_partition(spark: SparkSession, table: str, frame: DataFrame, dt: str) -> None:
    """Overwrite partition ``dt`` of ``table`` with ``frame`` (columns matched by name, in table order)."""
    columns = [f.name for f in spark.table(table).schema.fields if f.name != "dt"]
    view = f"_batch_{table}"
    frame.select(*columns).createOrReplaceTempView(view)
    spark.sql(f"INSERT OVERWRITE TABLE {table} PARTITION (dt='{dt}') SELECT * FROM {view}")
    spark.catalog.dropTempView(view)


def register_raw_partitions(spark: SparkSession, settings: Settings, dt: str) -> None:
    """Register the raw directory of D in ``web_events_raw`` (idempotent)."""
    path = f"{raw_root(settings)}/dt={dt}"
    if _exists(spark, path):
        spark.sql(f"ALTER TABLE web_events_raw ADD IF NOT EXISTS PARTITION (dt='{dt}') LOCATION '{path}'")


def hive_outputs(frames: DayFrames, rejected: int) -> dict[str, DataFrame]:
    """Table -> the frame of its partition D. The quarantine of raw lines reads the raw lines again
    only when there are ``rejected`` lines; otherwise its partition is overwritten with nothing."""
    return {
        "web_events_quarantine": frames.rejected if rejected else frames.rejected.limit(0),
        "web_sessions": frames.sessions,
        "web_sessions_quarantine": frames.quarantined_sessions,
        "domain_daily_stats": frames.stats,
        **frames.history,
        **frames.analytics,
    }


def load_hive(
    spark: SparkSession, settings: Settings, dt: str, outputs: dict[str, DataFrame], progress: Progress
) -> int:
    """Overwrite partition D of every table in ``outputs``, ``settings.batch_hive_writers`` at a time
    (the small tables' metastore and HDFS round trips overlap the large ones' work); returns the number
    of tables written. The first failure is raised once the writes under way have ended."""
    from concurrent.futures import ThreadPoolExecutor

    ensure_hive_tables(spark, settings)
    register_raw_partitions(spark, settings, dt)
    started = time.monotonic()

    def write(table: str) -> None:
        progress(f"writing Hive {table} (dt={dt})")
        write_partition(spark, table, outputs[table], dt)
        progress(f"wrote Hive {table} ({time.monotonic() - started:.1f}s into the writes)")

    with ThreadPoolExecutor(max_workers=max(1, settings.batch_hive_writers)) as pool:
        for future in [pool.submit(write, table) for table in outputs]:
            future.result()
    return len(outputs)


def session_of_row(row: Any) -> Session:
    """A Spark session row as the :class:`~websessions.sessions.Session` record."""
    geo = row["geo"].asDict() if row["geo"] is not None else None
    return session_from_aggregates(
        row["host"], row["ip"], row["start_ms"], row["end_ms"], row["events"], row["pages"], row["first_url"],
        row["last_url"], row["referrer"], row["user_agent"], row["errors"], geo, row["status"],
    )  # fmt: skip


def copy_text_lines(frame: DataFrame, columns: tuple[str, ...]) -> DataFrame:
    """``frame``'s ``columns`` as lines of Postgres COPY's text format (one ``value`` column): the escaping
    of :func:`websessions.stores.postgres_sessions._copy_text` (``\\N`` for null; backslash, tab,
    newline and carriage return escaped), fields joined by tabs."""
    from pyspark.sql import functions as F

    def field(name: str) -> Column:
        text = F.col(name).cast("string")
        for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            text = F.replace(text, F.lit(raw), F.lit(escaped))
        return F.coalesce(text, F.lit("\\N"))

    return frame.select(F.concat_ws("\t", *[field(name) for name in columns]).alias("value"))


def stage_with_spark(settings: Settings, frames: DayFrames, staged: StagedDay) -> int:
    """Fill ``staged`` with the day's sessions:
    Spark writes them as COPY text files to HDFS (from the executors, no Python per row), which are
    streamed into the staging table with ``COPY`` and deleted. Returns the rows copied."""
    from functools import partial

    from pyspark.sql import functions as F

    from batch.events import iso_time
    from websessions.clients import hdfs
    from websessions.stores.postgres_sessions import SESSION_COLUMNS

    path = f"{settings.warehouse_dir.rstrip('/')}/_postgres_staging/{staged.table}"
    rows = frames.sessions.withColumns(
        {
            "start_ts": iso_time(F.col("start_ms")),
            "end_ts": iso_time(F.col("end_ms")),
            # Null geo fields stay in the JSON, as the Python path writes them (Session.geo has all three).
            "geo": F.to_json("geo", {"ignoreNullFields": "false"}),
        }
    )
    copy_text_lines(rows, SESSION_COLUMNS).write.mode("overwrite").text(path)
    client = hdfs.webhdfs(settings, timeout_s=300.0)
    try:
        parts = sorted(name for name in client.list(path) if name.startswith("part-"))

        def opener(name: str) -> Any:  # one client per stream: the COPYs run in threads
            return hdfs.webhdfs(settings, timeout_s=300.0).read(f"{path}/{name}")

        return staged.copy_text([partial(opener, name) for name in parts])
    finally:
        client.delete(path, recursive=True)


def stage_postgres(settings: Settings, frames: DayFrames, sessions: int, staged: StagedDay, progress: Progress) -> str:
    """Load the day's sessions into ``staged``; returns which path loaded them."""
    if sessions <= settings.batch_postgres_collect_max:
        progress(f"copying {sessions} sessions into Postgres staging")
        staged.copy_sessions(session_of_row(row) for row in frames.sessions.toLocalIterator())
        return "collected and COPYed"
    progress(f"copying {sessions} sessions into Postgres staging (COPY text written by Spark)")
    copied = stage_with_spark(settings, frames, staged)
    if copied != sessions:
        raise RuntimeError(f"staged {copied} sessions, expected {sessions}: the day was not replaced")
    return "COPY text written by Spark"


def load(settings: Settings, spark: SparkSession, dt: str, frames: DayFrames, stats: list[dict[str, Any]],
         analytics: dict[str, list[dict[str, Any]]], result: BatchResult, progress: Progress) -> None:  # fmt: skip
    """Hive, then Postgres: the day's sessions are staged in Postgres while the Hive partitions are written;
    the Postgres day is swapped only once every Hive partition is written (a failure leaves it as it was).
    ``stats`` are the rows of ``frames.stats`` and ``analytics`` those of ``frames.analytics``, collected
    once for both stores."""
    from concurrent.futures import ThreadPoolExecutor

    from websessions.stores.postgres_sessions import StagedDay

    with StagedDay(settings, dt) as staged, ThreadPoolExecutor(max_workers=1) as background:
        staging = background.submit(stage_postgres, settings, frames, result.sessions, staged, progress)
        result.hive_tables = load_hive(spark, settings, dt, hive_outputs(frames, result.rejected_total), progress)
        result.postgres_path = staging.result()
        progress("swapping the day in Postgres (one transaction)")
        result.postgres_sessions = staged.swap(stats, analytics).sessions


def collect_analytics(spark: SparkSession, settings: Settings, frames: DayFrames) -> dict[str, list[dict[str, Any]]]:
    """Classify the day's distinct user agents (in the driver), compute the analytics tables
    (:mod:`batch.analytics`), collect their rows (small: per host and agent, page, hour) for Postgres and
    put them in ``frames.analytics`` as local frames for Hive. Returns table -> rows."""
    from concurrent.futures import ThreadPoolExecutor

    classified = classified_sessions(frames.sessions, agent_classes(spark, frames.sessions))
    tables = analytics_tables(frames.events, classified, settings.recommend_top_k)
    # Small jobs over the cached day: run side by side, their scheduling and shuffles overlap.
    with ThreadPoolExecutor(max_workers=max(1, settings.batch_hive_writers)) as pool:
        collected = dict(zip(tables, pool.map(lambda frame: frame.collect(), tables.values()), strict=True))
    rows = {}
    for table, frame in tables.items():
        frames.analytics[table] = spark.createDataFrame(collected[table], frame.schema)
        rows[table] = [row.asDict() for row in collected[table]]
    return rows


# -- the run ---------------------------------------------------------------------------------------


def day_is_complete(settings: Settings, dt: str) -> bool:
    """True when the lander has written D's ``_COMPLETE`` marker (HDFS, or a ``file://`` raw area)."""
    root = raw_root(settings)
    marker = f"/dt={dt}/{COMPLETE_MARKER}"
    if root.startswith("file://"):
        from pathlib import Path

        return Path(root[len("file://") :] + marker).exists()
    from websessions.clients import hdfs

    return hdfs.webhdfs(settings).status(settings.raw_events_dir.rstrip("/") + marker, strict=False) is not None


def run_day(
    settings: Settings,
    dt: str,
    *,
    force: bool = False,
    progress: Progress = lambda message: log.info("%s", message),
    spark: SparkSession | None = None,
) -> BatchResult:
    """Recompute day ``dt`` end to end; raises :class:`DayNotComplete` unless complete or ``force``."""
    from pyspark import StorageLevel

    from batch.spark import spark_session

    dt = date.fromisoformat(dt).isoformat()
    started = time.monotonic()
    if not force and not day_is_complete(settings, dt):
        raise DayNotComplete(
            f"day {dt} is not complete: no {COMPLETE_MARKER} marker in {raw_root(settings)}/dt={dt} (the lander "
            f"writes it once the event-time watermark passes the end of the day + {settings.allowed_lateness_s}s); "
            "use --force to recompute it anyway"
        )
    result = BatchResult(dt)
    rule = SessionRule.from_settings(settings)
    progress("starting Spark")
    spark = spark or spark_session(settings, f"websessions-batch-{dt}")
    dirs = input_dirs(spark, settings, dt)
    progress(f"reading {len(dirs)} directories: {', '.join(dirs)}")
    frames = transform(extract(spark, dirs), dt, rule)
    # Cached: the day's events (one read of the raw lines, one shuffle) and the day's sessions;
    # every table is computed from them.
    cached = (frames.day_events, frames.day_sessions)
    for frame in cached:
        frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        progress("validating, deduplicating and sessionizing")
        count_day(frames, dt, result)
        # The stats (a few rows, but medians over every session) are computed once: Hive and Postgres
        # both get these rows.
        stats = frames.stats.collect()
        frames.stats = spark.createDataFrame(stats, frames.stats.schema)
        result.hosts = len(stats)
        progress("classifying the day's user agents; computing the analytics tables")
        analytics = collect_analytics(spark, settings, frames)
        bots = bot_sessions(AgentRow(**row) for row in analytics["agents_daily"])
        stats_rows = [
            {
                **row.asDict(),
                "bot_sessions": bots.get(row["host"], 0),
                "bot_share": bots.get(row["host"], 0) / row["sessions"],
            }
            for row in stats
        ]
        load(settings, spark, dt, frames, stats_rows, analytics, result, progress)
    finally:
        for frame in cached:
            frame.unpersist()
    result.seconds = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    from websessions.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, help="the UTC day D (YYYY-MM-DD)")
    parser.add_argument("--force", action="store_true", help="run even if D is not marked complete")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = run_day(get_settings(), args.date, force=args.force)
    except DayNotComplete as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
