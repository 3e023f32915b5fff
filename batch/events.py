"""Raw event lines to canonical events, in DataFrame operations: the rules of :mod:`websessions.events`.

The raw area holds the lander's output: canonical JSON lines (``Event.to_json``), so the checks here
are a second line of defence, not the first; but a file someone copied into the raw area by hand
gets the same treatment as a payload at the collector, wherever the rule can be said in SQL:

- ``malformed_json`` (the line is not a JSON object), ``missing_field:<name>`` for the required
  ``event_time``, ``ip``, ``host``, ``url`` (in that order), ``bad_time`` (not ISO-8601 UTC, or no such
  date or time of day), ``bad_ip``, ``bad_host``, ``bad_url`` (empty, too long, control characters),
  ``bad_field:<name>`` (text too long, ``event_id`` empty or too long, ``load_time_ms`` or ``status``
  out of range), each with the limits of :mod:`websessions.events`; a field of the wrong JSON type is
  read as its text and judged by these rules (``"ip": 7`` is ``bad_ip``, not ``bad_field:ip``);
- ``wrong_partition``: a valid event in a ``dt=`` directory of another day (the lander never writes
  one; the day's accounting would not add up with it).

What SQL cannot say is left to the lander: IDNA host names (a non-ASCII host is ``bad_host`` here)
and IPv6 spellings (only lower-casing and IPv4-mapped addresses are normalised; the lander writes
the compressed form). ``future_time`` is not checked: it depends on the clock, and a batch run
must give the same result whenever it runs; nor is ``too_large`` (the collector enforces it).

Invalid rows are never dropped silently: :func:`rejected_events` is the quarantine of a day and
``reject_reason`` says why. An event without ``event_id`` gets the id
:func:`websessions.events.derive_event_id` would give it (``sha1`` of the same canonical JSON).

Arrival order. The dedupe rule keeps the copy of an event that arrived first (``docs/sessions.md``),
so every line carries :data:`ARRIVAL`, its place in the Kafka partition it came from, recovered from
the files themselves (:func:`read_raw_dir`): ``(partition, first offset)`` from the lander's file name
``part-<partition>-<first>-<last>.jsonl``, then the directory, the file name and the line's number in
the file (lines are in offset order). A key is on one partition, so for the copies of one event this is
their offset order, across the raw and late areas of every day alike. One case stays ambiguous: a
lander batch whose events went to two days (or areas) gives two files with the same name; copies of
one id in both are ordered by directory (the earlier day first, raw before late).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websessions.events import MAX_TEXT_CHARS, MAX_URL_CHARS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from websessions.sessions import SessionRule

CORRUPT = "_corrupt_record"
# Every reject_reason parse_events can give, in the order its rules are checked.
REJECT_REASONS = (
    "malformed_json", "missing_field:event_time", "missing_field:ip", "missing_field:host", "missing_field:url",
    "bad_time", "bad_ip", "bad_host", "bad_url", "bad_field:referrer", "bad_field:user_agent",
    "bad_field:event_type", "bad_field:user_id", "bad_field:load_time_ms", "bad_field:event_id", "bad_field:status",
    "bad_field:geo", "wrong_partition",
)  # fmt: skip
SOURCE_FILE = "_source_file"
ARRIVAL = "arrival"
_DAY_MS = 86_400_000

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H = "[0-9a-f]{1,4}"
IPV6_RE = (
    "("
    rf"({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}"
    rf"|({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}"
    rf"|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:)|({_H}:){{6}}{IPV4_RE}|::(ffff(:0{{1,4}})?:)?{IPV4_RE}"
    rf"|({_H}:){{1,5}}:{IPV4_RE}"
    ")"
)
# websessions.events._HOST_RE in Java syntax (rlike searches, so the pattern is anchored).
HOST_RE = r"^(?=.{1,253}\z)[a-z0-9_][a-z0-9_-]{0,62}(\.[a-z0-9_][a-z0-9_-]{0,62})*\.?\z"
TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)\z"
CONTROL_RE = r"[\x00-\x1f\x7f]"
ISO_MS = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"


def raw_event_schema():
    """The explicit schema of a raw line: every field as text (types are checked by the rules, so a
    wrong type is a reason, not a corrupt row), ``geo`` as a struct, and the corrupt-record column."""
    from pyspark.sql import types as T

    text = T.StringType()
    geo = T.StructType([T.StructField(name, text) for name in ("country", "region", "city")])
    names = ("event_id", "event_time", "ip", "host", "url", "referrer", "user_agent", "event_type", "status")
    fields = [T.StructField(name, text) for name in names]
    fields += [T.StructField("user_id", text), T.StructField("load_time_ms", text), T.StructField("geo", geo)]
    return T.StructType([*fields, T.StructField(CORRUPT, text)])


def raw_line_schema():
    """The schema of :func:`read_raw_dir`'s rows."""
    from pyspark.sql import types as T

    arrival = T.StructType(
        [T.StructField("partition", T.LongType()), T.StructField("offset", T.LongType()),
         T.StructField("directory", T.StringType()), T.StructField("file", T.StringType()),
         T.StructField("line", T.LongType())]
    )  # fmt: skip
    return T.StructType([*raw_event_schema().fields, T.StructField(SOURCE_FILE, T.StringType()),
                         T.StructField(ARRIVAL, arrival)])  # fmt: skip


def read_raw_dir(spark: SparkSession, path: str) -> DataFrame:
    """The lines of ``path``'s part files (``*.jsonl``) as :func:`raw_event_schema` rows, with
    ``SOURCE_FILE`` (``path``, a literal) and ``ARRIVAL`` (the module doc). Blank lines are skipped.

    Each file is read whole and split into numbered lines (the JSON reader numbers nothing), then
    parsed with the JSON reader's own parser in its permissive mode: a malformed line keeps its text
    in the corrupt-record column. A lander file holds at most one polled batch (``batch_max`` records).
    """
    from pyspark.sql import functions as F

    c = F.col
    schema = raw_event_schema()
    files = spark.read.options(pathGlobFilter="*.jsonl").text(path, wholetext=True)
    lines = files.select(
        c("_metadata.file_name").alias("_file"), F.posexplode(F.split(c("value"), "\\r?\\n")).alias("_line", "_text")
    ).filter(F.trim(c("_text")) != "")
    parsed = lines.select(
        "*", F.from_json(c("_text"), schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}).alias("_j")
    )
    name = r"^part-([0-9]+)-([0-9]+)-[0-9]+\.jsonl$"

    def number(group: int) -> Column:
        return F.regexp_extract(c("_file"), name, group).try_cast("long")

    arrival = F.struct(
        number(1).alias("partition"), number(2).alias("offset"), F.lit(path).alias("directory"),
        c("_file").alias("file"), c("_line").cast("long").alias("line"),
    )  # fmt: skip
    fields = [c(f"_j.{f.name}").alias(f.name) for f in schema.fields if f.name != CORRUPT]
    # A line that is JSON but not an object (a number, an array) parses to null: malformed too.
    corrupt = F.when(c("_j").isNull(), c("_text")).otherwise(c(f"_j.{CORRUPT}"))
    return parsed.select(*fields, corrupt.alias(CORRUPT), F.lit(path).alias(SOURCE_FILE), arrival.alias(ARRIVAL))


def _event_time_ms(text: Column) -> Column:
    """Epoch ms of ISO-8601 UTC text (``websessions.events.parse_time_ms``); null when unparseable."""
    from pyspark.sql import functions as F

    # The text matches TIME_RE first; the cast (Spark's own parser, no formatter) then refuses
    # impossible dates and times of day (2026-02-30, 25:00) with null.
    seconds = F.substring(text, 1, 19).try_cast("timestamp")
    fraction = F.regexp_extract(text, r"^.{19}\.(\d{1,3})", 1)
    millis = F.when(fraction == "", F.lit(0)).otherwise(F.rpad(fraction, 3, "0").cast("int"))
    return F.when(text.rlike(TIME_RE), F.unix_millis(seconds) + millis)


def iso_time(ms: Column) -> Column:
    """``websessions.events.format_time_ms`` in SQL (the session time zone is UTC)."""
    from pyspark.sql import functions as F

    return F.date_format(F.timestamp_millis(ms), ISO_MS)


def derived_event_id(event_time_ms: Column, ip: Column, host: Column, url: Column, referrer: Column, agent: Column):
    """``websessions.events.derive_event_id``: sha1 of the compact JSON array of the identity, 32 hex."""
    from pyspark.sql import functions as F

    identity = F.to_json(F.array(iso_time(event_time_ms), ip, host, url, referrer, agent))
    return F.substring(F.sha1(identity.cast("binary")), 1, 32)


def parse_events(raw: DataFrame) -> DataFrame:
    """Raw lines (:func:`read_raw_dir`: :func:`raw_event_schema` plus ``_source_file``, the path of their
    directory, and ``arrival``) to canonical columns and a ``reject_reason`` (null for a valid event),
    ``source_dt`` (the ``dt=`` directory), ``from_late_area`` and ``arrival`` (passed through). Rows are
    neither dropped nor reordered.

    Three projections: the normalised values first, then the rules over them (one flat ``CASE``),
    then the output; each expensive expression (time parsing, regular expressions) runs once a row.
    """
    from pyspark.sql import functions as F

    c = F.col
    ip_text = F.lower(F.trim(c("ip")))
    host_text = F.lower(F.trim(c("host")))
    normalised = raw.select(
        "*",
        _event_time_ms(c("event_time")).alias("_t"),
        F.when(ip_text.startswith("::ffff:"), F.regexp_replace(ip_text, rf"^::ffff:({IPV4_RE})$", "$1"))
        .otherwise(ip_text)
        .alias("_ip"),
        host_text.alias("_host_text"),
        host_text.rlike(HOST_RE).alias("_host_is_name"),
        F.when(c("status").rlike(r"^[0-9]{1,3}$"), c("status").try_cast("int")).alias("_status"),
        c("load_time_ms").try_cast("double").alias("_load_time"),
        F.substring(F.substring_index(c(SOURCE_FILE), "/dt=", -1), 1, 10).alias("_source_dt"),
    )
    host_bare = F.regexp_replace(c("_host_text"), r"^\[(.*)\]$", "$1")
    host = F.when(c("_host_is_name"), F.regexp_replace(c("_host_text"), r"\.$", "")).otherwise(host_bare)
    is_ip = f"^({IPV4_RE}|{IPV6_RE})$"

    def too_long(name: str, limit: int) -> Column:
        return c(name).isNotNull() & (F.length(c(name)) > limit)

    geo_long = too_long("geo.country", 256) | too_long("geo.region", 256) | too_long("geo.city", 256)
    load_time, status = c("_load_time"), c("_status")
    rules: list[tuple[Column, str]] = [
        (c(CORRUPT).isNotNull(), "malformed_json"),
        *[(c(name).isNull(), f"missing_field:{name}") for name in ("event_time", "ip", "host", "url")],
        (c("_t").isNull(), "bad_time"),
        (~c("_ip").rlike(is_ip), "bad_ip"),
        (~(c("_host_is_name") | host_bare.rlike(is_ip)), "bad_host"),
        (F.trim(c("url")) == "", "bad_url"),
        (F.length(c("url")) > MAX_URL_CHARS, "bad_url"),
        (c("url").rlike(CONTROL_RE), "bad_url"),
        (too_long("referrer", MAX_URL_CHARS), "bad_field:referrer"),
        (too_long("user_agent", MAX_TEXT_CHARS), "bad_field:user_agent"),
        (too_long("event_type", 64), "bad_field:event_type"),
        (too_long("user_id", 256), "bad_field:user_id"),
        (c("load_time_ms").isNotNull() & ~F.coalesce((load_time >= 0) & (load_time < 1e9), F.lit(False)),
         "bad_field:load_time_ms"),
        ((c("event_id") == "") | too_long("event_id", 256), "bad_field:event_id"),
        (c("status").isNotNull() & ~F.coalesce(status.between(100, 599), F.lit(False)), "bad_field:status"),
        (geo_long, "bad_field:geo"),
        # A valid event_time starts with its UTC date: compare that with the file's dt= directory.
        (c(SOURCE_FILE).contains("/dt=") & (F.substring(c("event_time"), 1, 10) != c("_source_dt")), "wrong_partition"),
    ]  # fmt: skip
    # The first rule that holds names the reason; a rule on a missing (null) input does not hold.
    reason = None
    for condition, code in rules:
        holds = F.coalesce(condition, F.lit(False))
        reason = F.when(holds, F.lit(code)) if reason is None else reason.when(holds, F.lit(code))
    checked = normalised.select("*", host.alias("_host"), reason.alias("reject_reason"))

    derived = derived_event_id(c("_t"), c("_ip"), c("_host"), c("url"), c("referrer"), c("user_agent"))
    return checked.select(
        F.when(c("event_id").isNull(), derived).otherwise(c("event_id")).alias("event_id"),
        c("_t").alias("event_time_ms"),
        c("_ip").alias("ip"),
        c("_host").alias("host"),
        c("url"),
        c("referrer"),
        c("user_agent"),
        F.coalesce(c("event_type"), F.lit("pageview")).alias("event_type"),
        status.alias("status"),
        load_time.alias("load_time_ms"),
        c("geo"),
        c("reject_reason"),
        F.when(c(SOURCE_FILE).contains("/dt="), c("_source_dt")).alias("source_dt"),
        c(SOURCE_FILE).contains("_late/").alias("from_late_area"),
        c(CORRUPT).alias("raw_line"),
        c("event_time").alias("raw_event_time"),
        c(ARRIVAL),
    )


def rejected_events(parsed: DataFrame, dt: str) -> DataFrame:
    """The quarantine of day ``dt``: invalid rows read from ``dt``'s files, with the reason and the
    line (the original text of a malformed line, else the fields as JSON)."""
    from pyspark.sql import functions as F

    c = F.col
    fields = F.to_json(
        F.struct(
            c("raw_event_time").alias("event_time"), "ip", "host", "url", "event_id", "referrer", "user_agent", "status"
        )
    )
    return parsed.filter(c("reject_reason").isNotNull() & (c("source_dt") == dt)).select(
        c("reject_reason").alias("reason"),
        c("source_dt"),
        c("from_late_area"),
        c("raw_event_time").alias("event_time"),
        "ip",
        "host",
        "url",
        "event_id",
        F.coalesce(c("raw_line"), fields).alias("raw"),
    )


def valid_events(parsed: DataFrame, window_start_ms: int, window_end_ms: int) -> DataFrame:
    """The valid events with ``window_start_ms <= event_time_ms < window_end_ms``, canonical columns only."""
    from pyspark.sql import functions as F

    t = F.col("event_time_ms")
    return parsed.filter(F.col("reject_reason").isNull() & (t >= window_start_ms) & (t < window_end_ms)).select(
        "event_id", "event_time_ms", "ip", "host", "url", "referrer", "user_agent", "event_type", "status",
        "load_time_ms", "geo", "source_dt", "from_late_area", ARRIVAL,
    )  # fmt: skip


def dedupe_events(events: DataFrame, rule: SessionRule) -> DataFrame:
    """The counted events: :func:`websessions.sessions.is_copy` in SQL, copies decided in ``arrival`` order.

    Per ``(ip, host, event_id)`` in arrival order, a copy is dropped when a counted copy that arrived
    before it is at most ``rule.timeout_ms`` away in event time; the first copy always counts. Whether
    an earlier copy counted depends on the copies before it, so each row folds over its id's copies up
    to itself (``aggregate``, a SQL lambda, no Python): almost every id has one copy. The caller
    clusters the input by ``(ip, host)`` first (see :func:`batch.sessionize.sessionize_events`): the
    window then needs no shuffle of its own.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    timeout = F.lit(rule.timeout_ms)
    by_copy = Window.partitionBy("ip", "host", "event_id").orderBy(ARRIVAL)
    earlier = F.collect_list("event_time_ms").over(by_copy.rowsBetween(Window.unboundedPreceding, -1))

    def count_unless_copy(counted: Column, t: Column) -> Column:
        is_copy = F.exists(counted, lambda c: F.abs(c - t) <= timeout)
        return F.when(is_copy, counted).otherwise(F.array_append(counted, t))

    counted_before = F.aggregate(earlier, F.array().cast("array<bigint>"), count_unless_copy)
    t = F.col("event_time_ms")
    is_copy = F.exists(counted_before, lambda c: F.abs(c - t) <= timeout)
    # A window expression cannot be a filter's condition: it is computed as a column first.
    return events.withColumn("_copy", is_copy).filter(~F.col("_copy")).drop("_copy")


def day_bounds_ms(dt: str) -> tuple[int, int]:
    """Epoch ms of the start of UTC day ``dt`` and of the next day."""
    from datetime import UTC, date, datetime

    start = int(datetime.combine(date.fromisoformat(dt), datetime.min.time(), tzinfo=UTC).timestamp() * 1000)
    return start, start + _DAY_MS
