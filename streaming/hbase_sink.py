"""The HBase writer of the speed layer's update-topic path: the job's update topic -> ``web_sessions`` and
``web_live_metrics``. The cluster's ``speed-writer`` runs it (``docker/websessions/speed_writer.py``) and
``bench/bench_speed.py`` measures it as the previous path; the local speed layer writes HBase from the job's
JVM instead (``streaming/java-hbase``, :mod:`streaming.runner`).

It consumes ``settings.kafka_topic_session_updates`` (JSON rows of
:data:`streaming.sessions_job.UPDATE_COLUMNS` keyed by ``ukey``; every update carries the whole record
of its session or minute), turns them into puts and deletes, coalesces them per row and writes them in
batches every ``flush_interval_s``; only then are the consumed offsets committed. Delivery is at least
once and every write is idempotent (row keys are functions of host, ip and start; values are whole
records), so replays after a crash change nothing.

The sessions themselves are built by the job; the writer only remembers which rows it left with a live
view (family ``o``; read back from HBase at startup) so that it can drop ones whose session can no
longer be open (see :meth:`SpeedSink.sweep`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from streaming.updates import metrics_of, session_of_update, start_of_update
from websessions.events import parse_time_ms
from websessions.sessions import Session, SessionRule
from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions, MinuteMetrics, session_of_row, start_of

log = logging.getLogger(__name__)
# The live top lists' update kinds and their HBase families (websessions.stores.hbase_sessions, top table).
TOP_KINDS = {"top_page": "p", "top_referrer": "r"}

WATERMARK_HISTORY = 500  # entries kept per partition (two a second at the default emission interval)
LATE_REMEMBERED = 100_000  # late events remembered for exact counting across replays (then counted plainly)


@dataclass
class SinkStats:
    """Counters of the writer and the job's source counters (summed over partitions)."""

    updates: int = 0
    sessions_closed: int = 0
    open_puts: int = 0
    open_deletes: int = 0
    metric_puts: int = 0
    flushes: int = 0
    last_flush_at: float = 0.0
    max_event_ms: int = 0
    records: int = 0
    invalid: int = 0
    late: int = 0
    undecodable: int = 0
    hbase_reconnects: int = 0  # flushes retried on a fresh connection (the server had closed the idle one)
    source_offsets: dict[int, int] = field(default_factory=dict)  # partition -> last offset read by the job

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def sink_group_id(settings: Settings) -> str:
    return f"websessions-speed-sink-{settings.kafka_topic_session_updates}-{settings.hbase_table_sessions}"


class SpeedSink:
    """Consume updates and write them; :meth:`run` until ``stop`` is set."""

    def __init__(self, settings: Settings, flush_interval_s: float = 0.2, sweep_interval_s: float = 10.0):
        self.settings = settings
        self.rule = SessionRule.from_settings(settings)
        self.flush_interval_s = flush_interval_s
        self.sweep_interval_s = sweep_interval_s
        self.stats = SinkStats()
        self.sources: dict[int, dict] = {}  # the job's last counters row per partition
        # partition -> [(offset_max, latest valid event ms)]: where each partition's watermark stood
        self.watermark_history: dict[int, list[tuple[int, int]]] = {}
        # late events by (partition, offset): a replayed late event is counted once
        self.late_seen: set[tuple[int, int]] = set()
        self.late_unremembered = 0
        self.open_rows: dict[tuple[str, str, int], int] = {}  # rows with a live view -> their last event
        self.max_event_ms = 0
        self._closed: dict[tuple[str, str, int], Session] = {}
        self._open: dict[tuple[str, str, int], Session] = {}
        self._open_deletes: set[tuple[str, str, int]] = set()
        self._metrics: dict[tuple[str, int], MinuteMetrics] = {}
        self._late: list[tuple[str, str, int, int, int]] = []  # late events to record (host, ip, ms, part, offset)
        self._top: dict[tuple[str, int, str, str], int] = {}  # (host, minute, kind, item) -> newest count
        self.kinds: Counter = Counter()

    def restore(self, store: HBaseSessions) -> int:
        """Remember the rows that HBase holds with a live view; returns how many."""
        for key, columns in store.open_rows():
            session = session_of_row(columns)  # only family o was read: the open record
            if session is not None:
                self.open_rows[(session.host, session.ip, start_of(key))] = session.end_ms
                self.max_event_ms = max(self.max_event_ms, session.end_ms)
        return len(self.open_rows)

    # -- applying updates -------------------------------------------------------------------------------

    def apply(self, message: bytes) -> None:
        """One update (a JSON row; ``None`` is a tombstone, which these results never produce)."""
        if message is None:
            return
        row = orjson.loads(message)
        kind = row["kind"]
        self.kinds[kind] += 1
        self.stats.updates += 1
        if kind in ("open", "session", "drop"):
            key = start_of_update(row)
            if kind == "drop":
                self._open.pop(key, None)
                if key not in self._closed:
                    self._open_deletes.add(key)
                return
            session = session_of_update(row)
            self.max_event_ms = max(self.max_event_ms, session.end_ms)
            self._open_deletes.discard(key)
            if kind == "session":
                self._open.pop(key, None)
                self._closed[key] = session
            elif key not in self._closed:  # a closed record is final
                self._open[key] = session
        elif kind == "metric":
            metrics = metrics_of(row)
            self._metrics[(metrics.host, metrics.minute)] = metrics
        elif kind in TOP_KINDS:
            self._top[(row["host"], row["bucket"], kind, row["first_url"])] = row["events"]
        elif kind == "late":
            self._late.append((row["host"], row["ip"], parse_time_ms(row["t_start"]), row["part"], row["offset_min"]))
            if len(self.late_seen) < LATE_REMEMBERED:
                self.late_seen.add((row["part"], row["offset_min"]))
            else:
                self.late_unremembered += 1
        elif kind == "source":
            self.sources[row["part"]] = row
            if row.get("t_end"):
                history = self.watermark_history.setdefault(row["part"], [])
                history.append((row["offset_max"], parse_time_ms(row["t_end"])))
                del history[:-WATERMARK_HISTORY]
        else:
            log.warning("unknown update kind %r", kind)

    def sweep(self, grace_ms: int) -> int:
        """Drop live views that should have closed long ago (their last event + timeout + ``grace_ms`` is
        behind the estimated watermark): leftovers of updates that raced a restart. Returns how many."""
        horizon = self.max_event_ms - self.rule.allowed_lateness_ms - self.rule.timeout_ms - grace_ms
        stale = [key for key, end in self.open_rows.items() if end < horizon and key not in self._open]
        self._open_deletes.update(stale)
        return len(stale)

    @property
    def pending(self) -> int:
        pending = (self._closed, self._open, self._open_deletes, self._metrics, self._late, self._top)
        return sum(map(len, pending))

    def flush(self, store: HBaseSessions) -> None:
        """Write everything pending (one batched round per table), on a fresh connection if the Thrift server
        closed the idle one (the writes are whole records: a repeated one changes nothing)."""
        if not self.pending:
            return
        store.retrying(lambda: self._write(store), "the speed writer's flush")
        self.stats.hbase_reconnects = store.reconnects
        for key in (*self._closed, *self._open_deletes):
            self.open_rows.pop(key, None)
        for key, session in self._open.items():
            self.open_rows[key] = session.end_ms
        s = self.stats
        s.sessions_closed += len(self._closed)
        s.open_puts += len(self._open)
        s.open_deletes += len(self._open_deletes)
        s.metric_puts += len(self._metrics)
        s.flushes += 1
        s.last_flush_at = time.time()
        self._closed.clear()
        self._open.clear()
        self._open_deletes.clear()
        self._metrics.clear()

    def _write(self, store: HBaseSessions) -> None:
        writer = store.writer()
        for session in self._closed.values():
            writer.put_closed(session)
        for host, ip, start in self._open_deletes:
            writer.delete_open(host, ip, start)
        for session in self._open.values():
            writer.put_open(session)
        for metrics in self._metrics.values():
            writer.put_metrics(metrics)
        writer.flush()
        store.put_late_events(self._late)
        self._late.clear()
        store.put_top_counts(((h, m, TOP_KINDS[k], item), n) for (h, m, k, item), n in self._top.items())
        self._top.clear()

    def refresh_source_stats(self) -> None:
        s = self.stats
        s.max_event_ms = self.max_event_ms
        rows = self.sources.values()
        s.records = sum(r["records"] for r in rows)
        s.invalid = sum(r["invalid"] for r in rows)
        s.late = len(self.late_seen) + self.late_unremembered
        s.undecodable = sum(r["offset_max"] - r["offset_min"] + 1 - r["records"] for r in rows)
        s.source_offsets = {r["part"]: r["offset_max"] for r in rows}

    # -- the loop ---------------------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        on_tick: Callable[[SpeedSink], None] | None = None,
        tick_interval_s: float = 2.0,
    ) -> SinkStats:
        """Consume, write and commit until ``stop`` is set; ``on_tick`` is called every ``tick_interval_s``."""
        from websessions.clients import kafka

        consumer = kafka.consumer(
            self.settings, sink_group_id(self.settings), **{"isolation.level": "read_uncommitted"}
        )
        consumer.subscribe([self.settings.kafka_topic_session_updates])
        last_flush = last_sweep = last_tick = time.monotonic()
        try:
            with HBaseSessions(self.settings) as store:
                store.ensure_table()
                restored = self.restore(store)
                log.info("speed sink: %d rows with a live view in HBase", restored)
                while not stop.is_set():
                    for message in consumer.consume(num_messages=5000, timeout=0.1):
                        if message.error():
                            log.warning("speed sink: kafka: %s", message.error())
                            continue
                        self.apply(message.value())
                    now = time.monotonic()
                    if now - last_sweep >= self.sweep_interval_s:
                        self.sweep(grace_ms=self.rule.timeout_ms)
                        last_sweep = now
                    if now - last_flush >= self.flush_interval_s:
                        if self.pending:
                            self.flush(store)
                            _commit(consumer)
                        last_flush = now
                    if on_tick is not None and now - last_tick >= tick_interval_s:
                        self.refresh_source_stats()
                        on_tick(self)
                        last_tick = now
                self.flush(store)
                _commit(consumer)
        finally:
            consumer.close()
            self.refresh_source_stats()
        return self.stats


def _commit(consumer) -> None:
    """Commit the consumed positions (nothing consumed since the last commit is not an error)."""
    from confluent_kafka import KafkaError, KafkaException

    try:
        consumer.commit(asynchronous=False)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._NO_OFFSET:
            raise
