"""The speed layer's PyFlink job: web events from Kafka -> sessions (live and closed) and live metrics, as one
changelog of update rows (:data:`UPDATE_COLUMNS`), written to HBase by the JVM sink of ``streaming/java-hbase``
(:func:`hbase_sink`, :func:`execute_to_hbase`; ``websessions speed start``, see :mod:`streaming.runner`) or, on
the cluster, to the Kafka topic ``settings.kafka_topic_session_updates`` for the Python writer
(:func:`build`, :mod:`streaming.hbase_sink`).

Every per-event step runs in the JVM: Flink SQL for decoding, classification and metrics, a Java keyed
operator for the sessions (``streaming/java``) and the HBase sink, compiled on first use by
:mod:`websessions.platform.javac`; Python only declares the pipeline. Submit it to a cluster with
``flink run -py streaming/sessions_job.py [--bootstrap kafka:9092 ...]``.

The session rule is :mod:`websessions.sessions`'s: key ``(ip, host)``, a gap greater than the timeout
starts a new session (a gap of exactly the timeout continues one), an event that touches two sessions
merges them, and copies of an ``event_id`` within the timeout count once (the first to arrive wins).
The conformance suite proves that the operator agrees with the reference and Spark exactly, field for
field (``tests/conformance/``; the live view in ``tests/streaming/``, the whole job in
``tests/integration/test_speed.py``).

Pipeline (pure functions from ``Table`` to ``Table``; :func:`main` only declares source and sink):

- :func:`classify` flags each decoded row ``is_valid`` (every required field present, canonical
  ``event_time``) and ``is_late`` (older than the watermark ``max event time - allowed lateness``, read
  with ``CURRENT_WATERMARK``). Late rows are excluded from the sessions *and* emitted one by one
  (:func:`late_events`, rare by definition) to be counted: "late: counted, never sessionized".
  That check sees only its own source subtask's watermark; the operator checks again against its own
  (the minimum over the partitions that are not idle, which one partition alone moves after all were
  idle) and turns away, to the same ``late`` rows, the events it finds behind it.
  Undecodable JSON is skipped by the format (``json.ignore-parse-errors``) and counted from the offsets.
- :func:`sessionize`: the Java operator, keyed by ``(ip, host)``, state per key = its sessions that may
  still grow. It emits a session's ``open`` record at most once per key and ``speed_emit_interval_ms``
  (the live view), its ``session`` record once the watermark passes last event + timeout (final), and
  ``drop`` for an open row that a merge made obsolete, so no stale live row is left behind.
- :func:`live_metrics`: per host and minute of event time: events, active users (distinct ips), errors,
  summed from the operator's per-subtask (host, minute) aggregates (each emitted once the watermark has passed
  the minute).
- :func:`top_lists` (``settings.speed_top_lists``): per host and minute of event time, the running counts of
  pages (per event) and session referrers (per session start), counted in the JVM (``SpeedTopLists``).
- :func:`source_counters`: per Kafka partition: records decoded, invalid, first and last offset, latest
  valid event time.

Emission. The operators emit at most once per key and ``speed_emit_interval_ms``; the ``upsert-kafka``
sink's buffer keeps only the last row per ``ukey`` and flushes every ``SINK_FLUSH_INTERVAL_MS``.
Mini-batch aggregation (``table.exec.mini-batch.*``) is deliberately off: its assigner replaces the
event-time watermark downstream with processing-time markers, so ``CURRENT_WATERMARK`` in
:func:`classify` saw "now" and every historical event was judged late (measured on the shared vectors:
26 of 26 events counted late with it, 2 of 26, the right ones, without).

The update rows (:data:`UPDATE_COLUMNS`, JSON values keyed by ``ukey``; ``kind`` says which are set):
``open``/``session`` (host, ip, t_start/t_end = first/last event, events, pages, errors, first_url,
last_url, referrer, user_agent, geo), ``drop`` (host, ip, t_start), ``metric`` (host, bucket = minute
since the epoch, events, users, errors), ``source`` (part, records, invalid, offset_min, offset_max,
t_end = latest valid event time) and ``late`` (one late event: part, offset_min = its offset, host, ip,
t_start = its time), ``top_page``/``top_referrer`` (host, bucket, first_url = the page or referrer host,
events = its count). Metric, top and source rows are running totals (each update replaces the previous one).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from websessions.clients.kafka import java_client_properties
from websessions.events import format_time_ms
from websessions.sessions import SessionRule

if TYPE_CHECKING:
    from py4j.java_gateway import JavaClass, JavaObject
    from pyflink.common.job_client import JobClient
    from pyflink.table import StatementSet, StreamTableEnvironment, Table, TableEnvironment

    from websessions.settings import Settings

log = logging.getLogger(__name__)

# The canonical event time (websessions.events.format_time_ms) as a Flink date pattern, quoted for SQL.
TIME_PATTERN = "yyyy-MM-dd''T''HH:mm:ss.SSS''Z''"
CANONICAL_TIME_CHARS = 24
EPOCH = "TIMESTAMP '1970-01-01 00:00:00'"
EVENT_COLUMNS = (
    "event_id STRING, event_time STRING, ip STRING, host STRING, url STRING, referrer STRING, "
    "user_agent STRING, status INT, geo STRING"
)
JSON_FORMAT = {"format": "json", "json.ignore-parse-errors": "true", "json.fail-on-missing-field": "false"}
UPDATE_COLUMNS = (
    ("ukey", "STRING NOT NULL"), ("kind", "STRING"), ("host", "STRING"), ("ip", "STRING"), ("t_start", "STRING"),
    ("t_end", "STRING"), ("bucket", "BIGINT"), ("events", "BIGINT"), ("pages", "BIGINT"), ("errors", "BIGINT"),
    ("users", "BIGINT"), ("first_url", "STRING"), ("last_url", "STRING"), ("referrer", "STRING"),
    ("user_agent", "STRING"), ("geo", "STRING"), ("part", "INT"), ("records", "BIGINT"), ("invalid", "BIGINT"),
    ("offset_min", "BIGINT"), ("offset_max", "BIGINT"),
)  # fmt: skip


def interval(ms: int) -> str:
    """A Flink SQL day-time interval of ``ms`` milliseconds."""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}' DAY TO SECOND(3)"


def _options(options: Mapping[str, str]) -> str:
    return ", ".join(f"'{k}' = '{v}'" for k, v in options.items())


def _sql(table: Table, query: str) -> Table:
    """``query`` against the environment ``table`` belongs to (``{table}`` in SQL names it)."""
    return table._t_env.sql_query(query)  # PyFlink keeps a Table's environment only privately


def source_ddl(name: str, rule: SessionRule, options: Mapping[str, str], kafka_metadata: bool) -> str:
    """The events source: the event's JSON fields, the event-time attribute and its watermark.

    ``rowtime`` is the parsed ``event_time``; rows without a readable one get the epoch (flagged
    invalid by :func:`classify`, and they never move the watermark). The watermark follows the latest
    event time minus the lateness, but never passes the wall clock minus the lateness.
    """
    columns = [EVENT_COLUMNS]
    if kafka_metadata:
        columns.append("`partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL")
    columns.append(f"rowtime AS COALESCE(TO_TIMESTAMP(event_time, '{TIME_PATTERN}'), {EPOCH})")
    # Never past the wall clock (the session time zone is UTC): one client with a fast clock cannot move the
    # watermark ahead of honest events and make them late (the lander clamps its watermark the same way).
    lateness = interval(rule.allowed_lateness_ms)
    columns.append(f"WATERMARK FOR rowtime AS LEAST(rowtime, CAST(LOCALTIMESTAMP AS TIMESTAMP(3))) - {lateness}")
    return f"CREATE TEMPORARY TABLE `{name}` ({', '.join(columns)}) WITH ({_options(options)})"


def kafka_source(t_env: TableEnvironment, settings: Settings, rule: SessionRule, group_id: str) -> Table:
    """``settings.kafka_topic_events`` from the group's committed offsets (the earliest on first use)."""
    options = {
        "connector": "kafka",
        "topic": settings.kafka_topic_events,
        **java_client_properties(settings, prefix="properties."),
        "properties.group.id": group_id,
        "properties.auto.offset.reset": "earliest",
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": "group-offsets",
        **JSON_FORMAT,
    }
    t_env.execute_sql(source_ddl("web_events_source", rule, options, kafka_metadata=True))
    return t_env.from_path("web_events_source")


def file_source(t_env: TableEnvironment, path: Path, rule: SessionRule, name: str = "web_events_file") -> Table:
    """The same source over a JSON-lines file (bounded: at its end the watermark closes every session)."""
    options = {"connector": "filesystem", "path": str(path), **JSON_FORMAT}
    t_env.execute_sql(source_ddl(name, rule, options, kafka_metadata=False))
    return t_env.from_path(name)


VALID = (
    f"event_id IS NOT NULL AND ip IS NOT NULL AND host IS NOT NULL AND url IS NOT NULL"
    f" AND CHAR_LENGTH(event_time) = {CANONICAL_TIME_CHARS} AND rowtime > {EPOCH}"
)


def classify(raw: Table, watermark_floors: Mapping[int, int] | None = None) -> Table:
    """``raw`` plus ``is_valid`` and ``is_late`` (valid and older than the current watermark).

    Flink does not checkpoint watermarks: after a restore the watermark starts from nothing, and events
    replayed from the checkpoint would all count as on time. ``watermark_floors`` (Kafka partition ->
    epoch ms, at most the partition's watermark when the restored checkpoint was taken; see
    :mod:`streaming.runner`) keeps the lateness decisions of replayed events what they were.
    """
    watermark = "CURRENT_WATERMARK(rowtime)"
    if watermark_floors:
        cases = " ".join(
            f"WHEN {int(part)} THEN TIMESTAMP '{format_time_ms(ms)[:23].replace('T', ' ')}'"
            for part, ms in sorted(watermark_floors.items())
        )
        floor = f"CASE `partition` {cases} END"
        watermark = f"COALESCE(GREATEST({watermark}, {floor}), {watermark}, {floor})"
    return _sql(raw, f"SELECT *, {VALID} AS is_valid, COALESCE(rowtime < {watermark}, FALSE) AS is_late FROM {raw}")


def accepted(classified: Table) -> Table:
    """The events that are sessionized: valid and not late."""
    return _sql(classified, f"SELECT * FROM {classified} WHERE is_valid AND NOT is_late")


def late_events(classified: Table) -> Table:
    """Valid events behind the watermark, one row each (Kafka sources: their partition and offset)."""
    return _sql(
        classified,
        f"""SELECT `partition` AS part, `offset` AS offset_min, host, ip, event_time AS t_start
        FROM {classified} WHERE is_valid AND is_late""",
    )


OPERATOR_CLASS = "websessions.speed.SpeedSessions"
# The operators coalesce per key and emit interval already; the sink's buffer only batches the sends, so
# it flushes often: an open record reaches Kafka at most this long after the operator emitted it.
SINK_FLUSH_INTERVAL_MS = 100
METRIC_STATE_S = 900
JAVA_SOURCES = Path(__file__).resolve().parent / "java"
HBASE_SINK_SOURCES = Path(__file__).resolve().parent / "java-hbase"
# The HBase sink sends its coalesced rows this often (and before each checkpoint barrier).
HBASE_FLUSH_INTERVAL_MS = 200


def stream_table_environment() -> StreamTableEnvironment:
    """A streaming table environment on a DataStream environment (the session operator needs both)."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.get_config().enable_object_reuse()  # the operators never keep a record they were handed
    return StreamTableEnvironment.create(env, environment_settings=EnvironmentSettings.in_streaming_mode())


def operator_jar(
    settings: Settings, sources: Path = JAVA_SOURCES, name: str = "websessions-speed", classpath: Sequence[Path] = ()
) -> Path:
    """The jar of the session operator (``streaming/java``; or of ``sources`` compiled also against
    ``classpath``), compiled on first use (see :mod:`websessions.platform.javac`)."""
    from websessions.platform.artifacts import classpath as jar_set
    from websessions.platform.javac import build_jar, pyflink_classpath

    # The Kafka connector: the DataStream source (SpeedStream) is compiled against it; a job that runs it has
    # its jars in pipeline.jars (the SQL path's jobs need them anyway).
    connector = jar_set(settings, "flink-connectors")
    return build_jar(settings, name, sources, [*pyflink_classpath(), *connector, *classpath])


def hbase_sink_jar(settings: Settings, hbase_client: Sequence[Path]) -> Path:
    """The jar of the HBase sink (``streaming/java-hbase``), compiled against the Flink jars and
    ``hbase_client`` (the shaded HBase client's jars; both must be in ``pipeline.jars`` to run it)."""
    return operator_jar(settings, HBASE_SINK_SOURCES, "websessions-speed-hbase", hbase_client)


def hbase_sink(settings: Settings, flush_interval_ms: int = HBASE_FLUSH_INTERVAL_MS) -> JavaObject:
    """The JVM sink ``websessions.speed.hbase.HBaseSessionSink`` writing into ``settings``' tables (its
    jar and the HBase client's must be on the job's classpath: :func:`hbase_sink_jar`)."""
    from websessions.stores.hbase_sessions import late_table_name, progress_table_name, top_table_name

    return get_java_class("websessions.speed.hbase.HBaseSessionSink")(
        settings.hbase_host, settings.hbase_zookeeper_port, settings.hbase_table_sessions,
        settings.hbase_table_live_metrics, late_table_name(settings), progress_table_name(settings),
        top_table_name(settings), flush_interval_ms,
    )  # fmt: skip


def execute_to_hbase(updates: Table, sink: JavaObject, job_name: str) -> JobClient:
    """Run the job that writes ``updates`` (:data:`UPDATE_COLUMNS` rows, a changelog) through ``sink``; the
    table environment's configuration applies. Returns the running job's client."""
    from pyflink.common.job_client import JobClient

    t_env = updates._t_env
    env = get_java_class("websessions.speed.hbase.HBaseSessionSink").attach(t_env._j_tenv, updates._j_table, sink)
    return JobClient(env.executeAsync(job_name))


STREAM_CLASS = "websessions.speed.SpeedStream"


def kafka_events(t_env: StreamTableEnvironment, settings: Settings, group_id: str) -> JavaObject:
    """``settings.kafka_topic_events`` as a DataStream of decoded events (``SpeedStream.kafka``: the Kafka
    connector's ``KafkaSource``, Jackson's streaming parser, the source's watermarks per partition), from the
    group's committed offsets (the earliest on first use; a restored job from its checkpoint's)."""
    from pyflink.java_gateway import get_gateway

    properties = get_gateway().jvm.java.util.Properties()
    for key, value in java_client_properties(settings).items():
        properties.setProperty(key, value)
    return get_java_class(STREAM_CLASS).kafka(
        _exec_env(t_env), settings.kafka_bootstrap, settings.kafka_topic_events, group_id, properties,
        settings.allowed_lateness_s * 1000, settings.speed_idle_timeout_s * 1000,
    )  # fmt: skip


def file_events(t_env: StreamTableEnvironment, path: Path, rule: SessionRule) -> JavaObject:
    """The events of a JSON-lines file as :func:`kafka_events` gives them (bounded; no partitions or offsets)."""
    return get_java_class(STREAM_CLASS).file(_exec_env(t_env), str(path), rule.allowed_lateness_ms)


def stream_updates(
    events: JavaObject,
    rule: SessionRule,
    emit_interval_ms: int,
    caps: StateCaps,
    kafka_metadata: bool = True,
    uid_prefix: str = "",
    top_max_items: int | None = None,
) -> JavaObject:
    """The whole job on the DataStream path (``SpeedStream.updates``): the update rows of
    :func:`speed_updates` (the same classification, sessions, metrics, counters and late events, the same
    operator) without SQL or Table conversions; ``ukey`` is left NULL (the HBase sink keys its rows itself).
    ``uid_prefix`` tells apart the operators of several pipelines in one job (the job's own: none). With
    ``top_max_items``, the live top lists too (:func:`with_top_lists`)."""
    pipeline = get_java_class(STREAM_CLASS).pipeline(
        events, rule.timeout_ms, emit_interval_ms, caps.max_ids_per_session, caps.max_urls_per_session,
        METRIC_STATE_S * 1000, kafka_metadata, uid_prefix,
    )  # fmt: skip
    if top_max_items is None:
        return pipeline.updates()
    return with_top_lists(pipeline, rule, emit_interval_ms, top_max_items, uid_prefix)


def with_top_lists(pipeline: JavaObject, rule: SessionRule, emit_interval_ms: int, max_items: int,
                   uid_prefix: str = "") -> JavaObject:  # fmt: skip
    """The update rows of a ``SpeedStream.Pipeline`` and the live top lists' (``SpeedTopLists.withTopLists``;
    what they count: :func:`top_lists`), computed from its accepted events and session rows."""
    return get_java_class(TOP_LISTS_CLASS).withTopLists(
        pipeline.updates(), pipeline.accepted(), pipeline.sessions(), emit_interval_ms, max_items,
        TOP_WINDOW_MS + rule.timeout_ms, uid_prefix,
    )  # fmt: skip


def execute_stream(t_env: StreamTableEnvironment, updates: JavaObject, sink: JavaObject, job_name: str) -> JobClient:
    """Run the job that writes ``updates`` (:func:`stream_updates`) through ``sink`` (a Flink ``Sink`` of rows:
    :func:`hbase_sink`, or a discarding one); the table environment's configuration applies."""
    from pyflink.common.job_client import JobClient

    return JobClient(get_java_class(STREAM_CLASS).execute(t_env._j_tenv, updates, sink, job_name))


def job_name(settings: Settings) -> str:
    return f"websessions speed layer ({settings.kafka_topic_events})"


def submit_to_hbase(t_env: StreamTableEnvironment, settings: Settings) -> JobClient:
    """The speed layer's job, as ``websessions speed start`` (:mod:`streaming.runner`) and :func:`main` submit
    it: ``settings.kafka_topic_events`` -> :func:`stream_updates` -> :func:`hbase_sink`. ``t_env`` is
    set up by :func:`configure` (a restore from a checkpoint included); every recovery state (offsets, sessions,
    metrics, counters, watermark floors) is in the job's checkpoints."""
    events = kafka_events(t_env, settings, source_group_id(settings))
    rule = SessionRule.from_settings(settings)
    top = settings.speed_top_max_items_per_minute if settings.speed_top_lists else None
    updates = stream_updates(
        events, rule, settings.speed_emit_interval_ms, StateCaps.from_settings(settings), top_max_items=top
    )
    return execute_stream(t_env, updates, hbase_sink(settings), job_name(settings))


def _exec_env(t_env: StreamTableEnvironment) -> JavaObject:
    """The DataStream environment under ``t_env``, with the table environment's configuration (:func:`configure`:
    jars, checkpoints, parallelism)."""
    from pyflink.java_gateway import get_gateway

    j_t_env = t_env._j_tenv
    env = j_t_env.execEnv()
    loader = get_gateway().jvm.java.lang.Thread.currentThread().getContextClassLoader()
    env.configure(j_t_env.getConfig().getConfiguration(), loader)
    return env


def get_java_class(name: str) -> JavaClass:
    """A JVM class on the job's classpath, by its full name."""
    from py4j.java_gateway import JavaClass
    from pyflink.java_gateway import get_gateway

    found = get_gateway().jvm
    for part in name.split("."):
        found = getattr(found, part)
    if not isinstance(found, JavaClass):
        raise RuntimeError(f"{name} is not on the job's classpath: add its jar to pipeline.jars")
    return found


def _operator_call(table: Table, method: str, *args: object) -> list[Table]:
    """``websessions.speed.SpeedSessions.<method>(t_env, table, *args)`` (Java): its table(s) as PyFlink's."""
    from py4j.java_collections import JavaArray
    from pyflink.table import StreamTableEnvironment
    from pyflink.table import Table as PyTable

    t_env = table._t_env
    if not isinstance(t_env, StreamTableEnvironment) or "Stream" not in t_env._j_tenv.getClass().getSimpleName():
        raise TypeError("the session operator needs a StreamTableEnvironment on a DataStream environment")
    operator = get_java_class(OPERATOR_CLASS)
    result = getattr(operator, method)(t_env._j_tenv, table._j_table, *args)
    return [PyTable(j, t_env) for j in (result if isinstance(result, JavaArray) else [result])]


def shared(table: Table) -> Table:
    """``table`` read once by every branch that uses the result (the planner would otherwise give the
    DataStream branch of :func:`sessionize` a source of its own: each record read and decoded twice)."""
    return _operator_call(table, "asStream")[0]


@dataclass(frozen=True)
class StateCaps:
    """The per-session bounds of the operator's state (``settings.speed_max_*_per_session``): counted event
    times kept for the dedupe rule, and distinct urls (``docs/sessions.md``: what stays exact beyond them)."""

    max_ids_per_session: int
    max_urls_per_session: int

    @classmethod
    def from_settings(cls, settings: Settings) -> StateCaps:
        return cls(settings.speed_max_ids_per_session, settings.speed_max_urls_per_session)


def sessionize(
    events: Table, rule: SessionRule, emit_interval_ms: int, caps: StateCaps | None = None
) -> tuple[Table, Table, Table]:
    """The sessions of ``events`` (valid, on time) by ``(ip, host)``: the JVM operator
    ``websessions.speed.SessionFunction`` (``streaming/java``), one row per change of a session.

    ``kind`` says what the row is: ``open`` (the live record so far, at most once per key and
    ``emit_interval_ms``; every event when 0), ``session`` (closed once the watermark is past the last
    event + timeout; final) or ``drop`` (an open row whose session merged into another or moved its
    start). ``t_start``/``t_end`` are the first and last event times (canonical UTC text); the first
    event gives ``first_url``, ``referrer``, ``user_agent`` and ``geo``, the last ``last_url``, ties in
    time broken by ``event_id`` (code point order); ``events`` counts the events that are not copies
    (``websessions.sessions.is_copy``), ``pages`` distinct urls, ``errors`` events with status >= 400.
    ``caps`` bound each session's state (default: the settings' defaults).

    The second table is the live metrics pre-aggregated per subtask, host and minute (``host, bucket, events,
    users = distinct ips, errors``), each emitted once the watermark has passed the minute (no per-key timers or
    rows): the input of :func:`live_metrics`. The third is the events that were
    behind the operator's own watermark when they reached it (``part, offset_min, host, ip, t_start`` as
    :func:`late_events`; ``part`` and ``offset_min`` are NULL without Kafka metadata): not sessionized, to
    be counted late. The job's environment must be a
    :func:`stream_table_environment` whose ``pipeline.jars`` include :func:`operator_jar` (or, on a
    cluster, Flink's ``lib/``).
    """
    from websessions.settings import Settings

    caps = caps or StateCaps.from_settings(Settings())
    sessions, key_minutes, late = _operator_call(
        events, "sessionize", rule.timeout_ms, emit_interval_ms, caps.max_ids_per_session, caps.max_urls_per_session
    )
    return sessions, key_minutes, late


def live_metrics(key_minutes: Table) -> Table:
    """Per host and minute of event time (``bucket`` = minutes since the epoch): events (an event id counts once per
    key, as in the sessions), active users (distinct ips), errors. The operator's per-subtask rows
    (:func:`sessionize`) are summed: a key (ip, host) lives in one subtask, so the subtasks' distinct ips add up to
    the host's. A minute's rows are complete once the watermark has passed it; the sum's state lives
    ``METRIC_STATE_S`` after its last update (processing time), long after every subtask's row has arrived."""
    return _sql(
        key_minutes,
        f"""SELECT /*+ STATE_TTL('m' = '{METRIC_STATE_S} s') */ host, bucket, SUM(events) AS events,
          SUM(users) AS users, SUM(errors) AS errors
        FROM {key_minutes} AS m GROUP BY host, bucket""",
    )


TOP_LISTS_CLASS = "websessions.speed.SpeedTopLists"
# The top lists' counts of a minute live in the job this long after the minute (event time): the read model's
# hour, plus the session timeout (a referrer counts when its session's first row arrives).
TOP_WINDOW_MS = 3_600_000


def top_lists(
    accepted_events: Table, sessions: Table, rule: SessionRule, emit_interval_ms: int, max_items: int
) -> Table:
    """Per host and minute of event time, the running counts of the live top lists' items (``kind`` ``top_page``
    or ``top_referrer``, ``host``, ``bucket``, ``first_url`` = the item, ``events`` = its count), computed in the
    JVM (``SpeedTopLists``): a page (the url's path, as the batch's ``page_views``) counts per accepted event,
    pre-aggregated per subtask and ``emit_interval_ms``; a referrer host (as the batch's ``referrers``:
    ``(direct)`` without one) counts per session, from ``sessions`` (:func:`sessionize`'s first table), in the
    minute of its start. ``max_items`` distinct items per host, minute and list are counted exactly, the
    rest as ``(other)``. The reference: :func:`websessions.live_top.reference_top_lists`."""
    from pyflink.table import Table as PyTable

    operator = get_java_class(TOP_LISTS_CLASS)
    t_env = accepted_events._t_env
    retain_ms = TOP_WINDOW_MS + rule.timeout_ms
    j_table = operator.topLists(
        t_env._j_tenv, accepted_events._j_table, sessions._j_table, emit_interval_ms, max_items, retain_ms
    )
    totals = PyTable(j_table, t_env)
    return _sql(totals, f"SELECT kind, host, bucket, item AS first_url, events FROM {totals}")


def source_counters(classified: Table, emit_interval_ms: int) -> Table:
    """Per Kafka partition since the job's state began: rows decoded (``records``), ``invalid``, offset
    range, and the latest valid event time (``t_end``; what the partition's watermark follows). Counted in
    the JVM (``SpeedSessions.partitionCounters``): pre-aggregated per source subtask and emitted at most
    once per partition and ``emit_interval_ms`` (a SQL running aggregate updates its row per event).

    Undecodable records never become rows: the consumer counts them as offsets not accounted for,
    ``offset_max - offset_min + 1 - records``.
    """
    return _operator_call(classified, "partitionCounters", emit_interval_ms)[0]


# The update key of each result: updates with one key replace each other. A session's open, closed and
# drop rows share the key of its start, so the sink's buffer keeps only the newest of them.
UPDATE_KEYS = {
    "session": "CONCAT_WS('|', 'session', host, ip, t_start)",
    "metric": "CONCAT_WS('|', 'metric', host, CAST(bucket AS STRING))",
    "source": "CONCAT_WS('|', 'source', CAST(part AS STRING))",
    "late": "CONCAT_WS('|', 'late', CAST(part AS STRING), CAST(offset_min AS STRING))",
    "top": "CONCAT_WS('|', kind, host, CAST(bucket AS STRING), first_url)",
}


def as_updates(**results: Table | None) -> Table:
    """The given results (``session=``, ``metric=``, ``source=``, ``late=``) as one changelog of
    :data:`UPDATE_COLUMNS` rows; ``kind`` is the result's name unless the result has a ``kind`` column."""
    selects = []
    for name, table in results.items():
        if table is None:
            continue
        present = set(table.get_schema().get_field_names())
        kind = "kind" if "kind" in present else f"'{name}'"
        cols = [f"COALESCE({UPDATE_KEYS[name]}, '') AS ukey", f"{kind} AS kind"]
        for column, sql_type in UPDATE_COLUMNS[2:]:
            value = column if column in present else "NULL"
            cols.append(f"CAST({value} AS {sql_type}) AS {column}")
        selects.append(f"SELECT {', '.join(cols)} FROM {table}")
    if not selects:
        raise ValueError("as_updates needs at least one result")
    anchor = next(t for t in results.values() if t is not None)
    return _sql(anchor, " UNION ALL ".join(selects))


def speed_updates(
    raw: Table,
    rule: SessionRule,
    emit_interval_ms: int,
    kafka_metadata: bool = True,
    watermark_floors: Mapping[int, int] | None = None,
    caps: StateCaps | None = None,
    top_max_items: int | None = None,
) -> Table:
    """The whole job from a source table: sessions (open, closed, dropped), metrics, the top lists unless
    ``top_max_items`` is None (:func:`top_lists`), and, from Kafka, counters and late events, which need the
    partition and offset: those :func:`classify` flags and those the operator finds behind its own watermark."""
    classified = shared(classify(raw, watermark_floors if kafka_metadata else None))
    events = accepted(classified)
    sessions, key_minutes, operator_late = sessionize(events, rule, emit_interval_ms, caps)
    late = None
    if kafka_metadata:
        columns = "part, offset_min, host, ip, t_start"
        upstream = late_events(classified)
        late = _sql(upstream, f"SELECT {columns} FROM {upstream} UNION ALL SELECT {columns} FROM {operator_late}")
    return as_updates(
        session=sessions,
        metric=live_metrics(key_minutes),
        source=source_counters(classified, emit_interval_ms) if kafka_metadata else None,
        late=late,
        top=None if top_max_items is None else top_lists(events, sessions, rule, emit_interval_ms, top_max_items),
    )


def updates_sink(t_env: TableEnvironment, settings: Settings, name: str = "web_session_updates_sink") -> str:
    """``settings.kafka_topic_session_updates`` as an ``upsert-kafka`` sink keyed by ``ukey``; returns its name.

    Its buffer keeps the last update per key and is flushed every ``SINK_FLUSH_INTERVAL_MS``; the Kafka key
    keeps one key's updates in order on one partition.
    Delivery is at least once (the writer's puts are idempotent).
    """
    columns = ", ".join(f"{n} {t}" for n, t in UPDATE_COLUMNS)
    options = {
        "connector": "upsert-kafka",
        "topic": settings.kafka_topic_session_updates,
        **java_client_properties(settings, prefix="properties."),
        "properties.linger.ms": "20",
        "properties.compression.type": "lz4",
        "key.format": "raw",
        "value.format": "json",
        "sink.buffer-flush.max-rows": "50000",
        "sink.buffer-flush.interval": f"{SINK_FLUSH_INTERVAL_MS} ms",
    }
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE `{name}` ({columns}, PRIMARY KEY (ukey) NOT ENFORCED) WITH ({_options(options)})"
    )
    return name


def configure(t_env: TableEnvironment, settings: Settings, jars: list[Path], checkpoint_dir: Path | None,
              restore_from: str | None = None) -> None:  # fmt: skip
    """The job's configuration: connector jars, parallelism, UTC, idleness, checkpoints (no mini-batch:
    see the module doc)."""
    config = t_env.get_config()
    values = {
        "pipeline.name": f"websessions speed layer ({settings.kafka_topic_events})",
        "parallelism.default": str(settings.flink_parallelism),
        "table.local-time-zone": "UTC",
        "table.exec.mini-batch.enabled": "false",  # it would hide the event-time watermark (module doc)
        # The sink takes the updates as they come (last one per key wins): no upsert materializer.
        "table.exec.sink.upsert-materialize": "NONE",
        "table.exec.source.idle-timeout": f"{settings.speed_idle_timeout_s} s",
        # Chained operators pass records on without a defensive copy (the SQL operators never keep them).
        "pipeline.object-reuse": "true",
        "pipeline.auto-watermark-interval": "200 ms",
    }
    if jars:
        values["pipeline.jars"] = ";".join(jar.resolve().as_uri() for jar in jars)
    if checkpoint_dir is not None:
        values.update(
            {
                "execution.checkpointing.interval": f"{settings.speed_checkpoint_interval_s} s",
                "execution.checkpointing.dir": checkpoint_dir.resolve().as_uri(),
                "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
                "execution.checkpointing.num-retained": "2",
                "execution.checkpointing.min-pause": "1 s",
                "restart-strategy.type": "exponential-delay",
            }
        )
    if restore_from:
        values["execution.state-recovery.path"] = restore_from
    for key, value in values.items():
        config.set(key, value)


def build(
    t_env: TableEnvironment, settings: Settings, group_id: str, watermark_floors: Mapping[int, int] | None = None
) -> StatementSet:
    """Declare source and sink (the update topic, for :mod:`streaming.hbase_sink`) and connect them with
    :func:`speed_updates`."""
    sink = updates_sink(t_env, settings)
    statements = t_env.create_statement_set()
    statements.add_insert(sink, kafka_updates(t_env, settings, group_id, watermark_floors))
    return statements


def kafka_updates(
    t_env: TableEnvironment, settings: Settings, group_id: str, watermark_floors: Mapping[int, int] | None = None
) -> Table:
    """The whole job's update rows from ``settings.kafka_topic_events`` (:func:`speed_updates`)."""
    rule = SessionRule.from_settings(settings)
    raw = kafka_source(t_env, settings, rule, group_id)
    caps = StateCaps.from_settings(settings)
    top = settings.speed_top_max_items_per_minute if settings.speed_top_lists else None
    return speed_updates(
        raw, rule, settings.speed_emit_interval_ms, watermark_floors=watermark_floors, caps=caps, top_max_items=top
    )


def source_group_id(settings: Settings) -> str:
    """The Kafka consumer group of the job's source (offsets are committed at each checkpoint)."""
    return f"websessions-speed-{settings.kafka_topic_events}"


def main(argv: list[str] | None = None) -> int:
    """``flink run -py streaming/sessions_job.py [--bootstrap HOST:PORT] [--topic T] [--updates-topic T]``:
    connection details default to the settings (``WEBSESSIONS_*``) and may be overridden here.

    ``--sink hbase`` runs the job of ``websessions speed start`` (:func:`submit_to_hbase`: the DataStream path
    into HBase, every recovery state in its checkpoints), ``--sink updates`` (the default while the cluster's
    image lacks the HBase client jars) the SQL path into the update topic for ``speed-writer``. Outside a
    cluster: ``--jars`` (what is not in Flink's ``lib/``), ``--restore-from`` (a checkpoint, as ``flink run
    --fromSavepoint`` on a cluster) and ``--wait`` (block until the job ends: a local mini-cluster lives in
    this process)."""
    import dataclasses

    from websessions.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: the settings')")
    parser.add_argument("--topic", help="the events topic")
    parser.add_argument("--updates-topic", help="the session updates topic")
    parser.add_argument("--checkpoint-dir", help="checkpoint directory (a cluster sets it in its own config)")
    parser.add_argument("--operator-jar", help="the session operator's jar, if it is not in Flink's lib/")
    parser.add_argument("--sink", choices=("updates", "hbase"), default="updates", help="where the updates go")
    parser.add_argument("--jars", nargs="*", default=[], help="further jars for the job (outside a cluster)")
    parser.add_argument("--restore-from", help="a checkpoint to restore (outside a cluster)")
    parser.add_argument("--wait", action="store_true", help="with --sink hbase: block until the job ends")
    args = parser.parse_args(argv)
    settings = load_settings(create_secrets=False)
    if args.bootstrap:
        host, _, port = args.bootstrap.rpartition(":")
        settings = dataclasses.replace(settings, kafka_host=host, kafka_port=int(port))
    if args.topic:
        settings = dataclasses.replace(settings, kafka_topic_events=args.topic)
    if args.updates_topic:
        settings = dataclasses.replace(settings, kafka_topic_session_updates=args.updates_topic)
    # The operator's jar is in Flink's lib/ on a cluster (docker/flink/Dockerfile); pass --operator-jar elsewhere.
    t_env = stream_table_environment()
    jars = [Path(j) for j in ([args.operator_jar] if args.operator_jar else []) + args.jars]
    checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else None
    restore = Path(args.restore_from).resolve().as_uri() if args.restore_from else None
    configure(t_env, settings, jars=jars, checkpoint_dir=checkpoint_dir, restore_from=restore)
    if args.sink == "hbase":
        job = submit_to_hbase(t_env, settings)
        if args.wait:
            job.get_job_execution_result().result()
        return 0
    build(t_env, settings, source_group_id(settings)).execute().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
