"""The speed layer's PyFlink job: web events from Kafka -> sessions, live partial sessions and live metrics,
written as one changelog to the Kafka topic ``settings.kafka_topic_session_updates``.

Every per-event step runs in the JVM (Flink SQL); Python only declares the pipeline. The HBase writer
(:mod:`streaming.hbase_sink`) consumes the far fewer updates. Submit it to a cluster with
``flink run -py streaming/sessions_job.py [--bootstrap kafka:9092 ...]``; locally ``websessions speed
start`` runs it (see :mod:`streaming.runner`).

The session rule is :mod:`websessions.sessions`'s: key ``(ip, host)``, a gap greater than the timeout
starts a new session (Flink's session windows merge windows that touch, so a gap of exactly the timeout
continues one; the shared vectors prove it), and an ``event_id`` counts once (``COUNT(DISTINCT)``).

Pipeline (pure functions from ``Table`` to ``Table``; :func:`main` only declares source and sink):

- :func:`classify` flags each decoded row ``is_valid`` (every required field present, canonical
  ``event_time``) and ``is_late`` (older than the watermark ``max event time - allowed lateness``, read
  with ``CURRENT_WATERMARK``). Flink's windows would drop late rows silently; here they are excluded
  from the sessions *and* emitted one by one (:func:`late_events`, rare by definition) to be counted,
  so the sessions follow the reference rule ("late: counted, never sessionized").
  Undecodable JSON is skipped by the format (``json.ignore-parse-errors``) and counted from the offsets.
- :func:`sessionize`: the closed sessions, Flink's ``SESSION`` window table function, emitted once the
  watermark passes ``last event + timeout``. Window ends are converted by the consumer with
  :func:`websessions.sessions.window_end_to_last_event_ms`.
- :func:`live_partials`: Flink refuses early firing for session windows (legacy and table-function
  alike), so live sessions are built from running aggregates per ``(ip, host, bucket)`` (buckets of
  ``speed_live_bucket_s`` <= the timeout, so a bucket never spans two sessions); the writer chains a
  key's buckets into open sessions with the same rule.
- :func:`live_metrics`: per host and minute of event time: events, active users (distinct ips), errors;
  a tumbling window, so each minute arrives once, final, when the watermark has passed it.
- :func:`source_counters`: per Kafka partition: records decoded, invalid, first and last offset, latest
  valid event time.

Emission. Running (non-windowed) aggregates emit an update per event; the ``upsert-kafka`` sink's buffer
keeps only the last row per ``ukey`` and flushes every ``speed_emit_interval_ms``, so the update topic
carries about one update per key and interval. Mini-batch aggregation (``table.exec.mini-batch.*``) is
deliberately off: its assigner replaces the event-time watermark downstream with processing-time markers,
so ``CURRENT_WATERMARK`` in :func:`classify` saw "now" and every historical event was judged late
(measured on the shared vectors: 26 of 26 events counted late with it, 2 of 26, the right ones, without).

First and last event of a session: ``MIN``/``MAX`` over ``event_time || event_id || NUL || payload``.
The canonical ``event_time`` has a fixed width and Flink compares strings by their UTF-8 bytes (code
point order, as Python does), so the minimum is the first event by ``(event_time, event_id)``, the
reference's tie-break, and the payload carries its url, referrer, user agent and geo.

The update rows (:data:`UPDATE_COLUMNS`, JSON values keyed by ``ukey``; ``kind`` says which are set):
``session`` (a closed session: host, ip, t_start/t_end = window start/end, events, pages, errors,
first_event, last_event), ``partial`` (host, ip, bucket, event_ids, error_ids, first_event, last_event, urls),
``metric`` (host, bucket = minute since the epoch, events, users, errors), ``source`` (part, records,
invalid, offset_min, offset_max, t_end = latest valid event time) and ``late`` (one late event: part,
offset_min = its offset, host, ip, t_start = its time). Partial, metric and source rows are running
aggregates (each update replaces the previous one); session and late rows are final.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from websessions.events import format_time_ms
from websessions.sessions import SessionRule

if TYPE_CHECKING:
    from pyflink.table import StatementSet, Table, TableEnvironment

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
    ("t_end", "STRING"),
    ("bucket", "BIGINT"), ("events", "BIGINT"), ("pages", "BIGINT"), ("errors", "BIGINT"), ("users", "BIGINT"),
    ("first_event", "STRING"), ("last_event", "STRING"), ("urls", "STRING"), ("event_ids", "STRING"),
    ("error_ids", "STRING"), ("part", "INT"),
    ("records", "BIGINT"), ("invalid", "BIGINT"), ("late", "BIGINT"), ("offset_min", "BIGINT"),
    ("offset_max", "BIGINT"),
)  # fmt: skip
# Running aggregates keep their state this long after their last update (processing time) beyond the
# time a bucket stays open (bucket + allowed lateness) when events arrive in real time. Short, because the
# heap state is snapshotted whole at every checkpoint: a replay at full speed fills it with closed buckets.
LIVE_STATE_MARGIN_MS = 180_000
URL_SEPARATOR = "\n"
ID_SEPARATOR = " "  # between base64-encoded event ids (base64 has no spaces)


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
    invalid by :func:`classify`, and they never move the watermark).
    """
    columns = [EVENT_COLUMNS]
    if kafka_metadata:
        columns.append("`partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL")
    columns.append(f"rowtime AS COALESCE(TO_TIMESTAMP(event_time, '{TIME_PATTERN}'), {EPOCH})")
    columns.append(f"WATERMARK FOR rowtime AS rowtime - {interval(rule.allowed_lateness_ms)}")
    return f"CREATE TEMPORARY TABLE `{name}` ({', '.join(columns)}) WITH ({_options(options)})"


def kafka_source(t_env: TableEnvironment, settings: Settings, rule: SessionRule, group_id: str) -> Table:
    """``settings.kafka_topic_events`` from the group's committed offsets (the earliest on first use)."""
    options = {
        "connector": "kafka",
        "topic": settings.kafka_topic_events,
        "properties.bootstrap.servers": settings.kafka_bootstrap,
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


def valid_events(raw: Table) -> Table:
    """Every valid event, late or not: the input of the live view (see the module doc)."""
    return _sql(raw, f"SELECT * FROM {raw} WHERE {VALID}")


def _first_last(events: Table) -> Table:
    """The sort keys that make MIN/MAX pick the first/last event by (event_time, event_id)."""
    return _sql(
        events,
        f"""SELECT ip, host, event_id, url, status, rowtime,
          CONCAT(event_time, event_id, CHR(0), JSON_ARRAY(url, referrer, user_agent, geo NULL ON NULL)) AS first_key,
          CONCAT(event_time, event_id, CHR(0), url) AS last_key
        FROM {events}""",
    )


# Errors counted on the event-id distinct view COUNT(DISTINCT event_id) already keeps (one map, not two).
ERRORS = "COUNT(DISTINCT event_id) FILTER (WHERE status >= 400)"


def sessionize(events: Table, rule: SessionRule) -> Table:
    """The sessions of ``events`` (valid, on time), one row each, final: Flink's session window per
    ``(ip, host)`` with gap = the timeout. ``t_start`` is the first event, ``t_end`` the window end
    (last event + timeout), both as canonical UTC text."""
    keyed = _first_last(events)
    return _sql(
        keyed,
        f"""SELECT host, ip,
          DATE_FORMAT(window_start, '{TIME_PATTERN}') AS t_start,
          DATE_FORMAT(window_end, '{TIME_PATTERN}') AS t_end,
          COUNT(DISTINCT event_id) AS events, COUNT(DISTINCT url) AS pages, {ERRORS} AS errors,
          MIN(first_key) AS first_event, MAX(last_key) AS last_event
        FROM TABLE(SESSION(TABLE {keyed} PARTITION BY (ip, host), DESCRIPTOR(rowtime), {interval(rule.timeout_ms)}))
        GROUP BY window_start, window_end, ip, host""",
    )


def live_partials(events: Table, rule: SessionRule, bucket_s: int) -> Table:
    """Running aggregates per ``(ip, host, bucket)``; ``bucket`` = minutes since the epoch // (bucket_s / 60).

    A bucket is at most the timeout long, so all its events belong to one session. Every aggregate is a
    plain value (no map state): these aggregates carry a state TTL, and Flink's incremental TTL cleanup
    copies a map state's whole map at each visit, which made a distinct count per bucket the job's most
    expensive step. So the bucket's event ids (base64, joined by spaces), the ids of its error events and
    its urls (joined by newlines, which validated urls never contain) are kept as strings, and the
    consumer counts them distinct (:class:`streaming.live.Partial`): copies of an event share its time,
    hence its bucket, so per-bucket distinct counts add up to the session's.
    """
    if bucket_s % 60 or bucket_s <= 0 or bucket_s * 1000 > rule.timeout_ms:
        raise ValueError(f"the live bucket ({bucket_s} s) must be whole minutes and at most the session timeout")
    keyed = _first_last(events)
    minutes = bucket_s // 60
    ttl_s = (bucket_s * 1000 + rule.allowed_lateness_ms + LIVE_STATE_MARGIN_MS + 999) // 1000
    return _sql(
        keyed,
        f"""SELECT /*+ STATE_TTL('k' = '{ttl_s} s') */ host, ip, bucket,
          LISTAGG(TO_BASE64(event_id), '{ID_SEPARATOR}') AS event_ids,
          LISTAGG(CASE WHEN status >= 400 THEN TO_BASE64(event_id) END, '{ID_SEPARATOR}') AS error_ids,
          MIN(first_key) AS first_event, MAX(last_key) AS last_event, LISTAGG(url, '{URL_SEPARATOR}') AS urls
        FROM (SELECT *, CAST(TIMESTAMPDIFF(MINUTE, {EPOCH}, rowtime) / {minutes} AS BIGINT) AS bucket FROM {keyed}) AS k
        GROUP BY host, ip, bucket""",
    )


def live_metrics(events: Table) -> Table:
    """Per host and minute of event time (``bucket`` = minutes since the epoch): events (distinct ids),
    active users (distinct ips), errors. A tumbling window: each minute is emitted once, final, when the
    watermark passes its end (about a minute plus the allowed lateness after it)."""
    return _sql(
        events,
        f"""SELECT host, CAST(TIMESTAMPDIFF(MINUTE, {EPOCH}, window_start) AS BIGINT) AS bucket,
          COUNT(DISTINCT event_id) AS events, COUNT(DISTINCT ip) AS users, {ERRORS} AS errors
        FROM TABLE(TUMBLE(TABLE {events}, DESCRIPTOR(rowtime), INTERVAL '1' MINUTE))
        GROUP BY window_start, window_end, host""",
    )


def source_counters(raw: Table) -> Table:
    """Per Kafka partition since the job's state began: rows decoded, invalid, offset range, and the
    latest valid event time (``t_end``; what the partition's watermark follows).

    Undecodable records never become rows: the consumer counts them as offsets not accounted for,
    ``offset_max - offset_min + 1 - records``.
    """
    return _sql(
        raw,
        f"""SELECT `partition` AS part, COUNT(*) AS records,
          SUM(CASE WHEN {VALID} THEN 0 ELSE 1 END) AS invalid,
          MIN(`offset`) AS offset_min, MAX(`offset`) AS offset_max,
          MAX(CASE WHEN {VALID} THEN event_time END) AS t_end
        FROM {raw} GROUP BY `partition`""",
    )


# The update key of each kind: updates with one key replace each other.
UPDATE_KEYS = {
    "session": "CONCAT_WS('|', 'session', host, ip, t_start)",
    "partial": "CONCAT_WS('|', 'partial', host, ip, CAST(bucket AS STRING))",
    "metric": "CONCAT_WS('|', 'metric', host, CAST(bucket AS STRING))",
    "source": "CONCAT_WS('|', 'source', CAST(part AS STRING))",
    "late": "CONCAT_WS('|', 'late', CAST(part AS STRING), CAST(offset_min AS STRING))",
}


def as_updates(**results: Table | None) -> Table:
    """The given results (``session=``, ``partial=``, ``metric=``, ``source=``, ``late=``) as one changelog
    of :data:`UPDATE_COLUMNS` rows, ``kind`` naming the result."""
    selects = []
    for kind, table in results.items():
        if table is None:
            continue
        present = set(table.get_schema().get_field_names())
        cols = [f"COALESCE({UPDATE_KEYS[kind]}, '') AS ukey", f"'{kind}' AS kind"]
        for name, sql_type in UPDATE_COLUMNS[2:]:
            value = name if name in present else "NULL"
            cols.append(f"CAST({value} AS {sql_type}) AS {name}")
        selects.append(f"SELECT {', '.join(cols)} FROM {table}")
    if not selects:
        raise ValueError("as_updates needs at least one result")
    anchor = next(t for t in results.values() if t is not None)
    return _sql(anchor, " UNION ALL ".join(selects))


def speed_updates(
    raw: Table,
    rule: SessionRule,
    bucket_s: int,
    kafka_metadata: bool = True,
    watermark_floors: Mapping[int, int] | None = None,
) -> Table:
    """The whole job from a source table: sessions, live partials, metrics (and, from Kafka, counters and
    late events, which need the partition and offset)."""
    classified = classify(raw, watermark_floors if kafka_metadata else None)
    events = accepted(classified)
    valid = valid_events(raw)
    return as_updates(
        session=sessionize(events, rule),
        partial=live_partials(valid, rule, bucket_s),
        metric=live_metrics(events),
        source=source_counters(raw) if kafka_metadata else None,
        late=late_events(classified) if kafka_metadata else None,
    )


def updates_sink(t_env: TableEnvironment, settings: Settings, name: str = "web_session_updates_sink") -> str:
    """``settings.kafka_topic_session_updates`` as an ``upsert-kafka`` sink keyed by ``ukey``; returns its name.

    Its buffer keeps the last update per key and is flushed every ``speed_emit_interval_ms`` (this is the
    live view's emission rate); the Kafka key keeps one key's updates in order on one partition.
    Delivery is at least once (the writer's puts are idempotent).
    """
    columns = ", ".join(f"{n} {t}" for n, t in UPDATE_COLUMNS)
    options = {
        "connector": "upsert-kafka",
        "topic": settings.kafka_topic_session_updates,
        "properties.bootstrap.servers": settings.kafka_bootstrap,
        "properties.linger.ms": "20",
        "properties.compression.type": "lz4",
        "key.format": "raw",
        "value.format": "json",
        "sink.buffer-flush.max-rows": "50000",
        "sink.buffer-flush.interval": f"{settings.speed_emit_interval_ms} ms",
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
    """Declare source and sink and connect them with :func:`speed_updates`."""
    rule = SessionRule.from_settings(settings)
    raw = kafka_source(t_env, settings, rule, group_id)
    sink = updates_sink(t_env, settings)
    statements = t_env.create_statement_set()
    updates = speed_updates(raw, rule, settings.speed_live_bucket_s, watermark_floors=watermark_floors)
    statements.add_insert(sink, updates)
    return statements


def source_group_id(settings: Settings) -> str:
    """The Kafka consumer group of the job's source (offsets are committed at each checkpoint)."""
    return f"websessions-speed-{settings.kafka_topic_events}"


def main(argv: list[str] | None = None) -> int:
    """``flink run -py streaming/sessions_job.py [--bootstrap HOST:PORT] [--topic T] [--updates-topic T]``:
    connection details default to the settings (``WEBSESSIONS_*``) and may be overridden here."""
    import dataclasses

    from pyflink.table import EnvironmentSettings, TableEnvironment

    from websessions.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: the settings')")
    parser.add_argument("--topic", help="the events topic")
    parser.add_argument("--updates-topic", help="the session updates topic")
    parser.add_argument("--checkpoint-dir", help="checkpoint directory (a cluster sets it in its own config)")
    args = parser.parse_args(argv)
    settings = load_settings(create_secrets=False)
    if args.bootstrap:
        host, _, port = args.bootstrap.rpartition(":")
        settings = dataclasses.replace(settings, kafka_host=host, kafka_port=int(port))
    if args.topic:
        settings = dataclasses.replace(settings, kafka_topic_events=args.topic)
    if args.updates_topic:
        settings = dataclasses.replace(settings, kafka_topic_session_updates=args.updates_topic)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    configure(t_env, settings, jars=[], checkpoint_dir=Path(args.checkpoint_dir) if args.checkpoint_dir else None)
    build(t_env, settings, source_group_id(settings)).execute().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
