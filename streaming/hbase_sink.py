"""The HBase writer of the speed layer: the job's update topic -> ``web_sessions`` and ``web_live_metrics``.

It consumes ``settings.kafka_topic_session_updates`` (JSON rows of
:data:`streaming.sessions_job.UPDATE_COLUMNS` keyed by ``ukey``; every update carries the full new value
of its aggregate), turns them into puts and deletes (:mod:`streaming.live`), coalesces them
per row and writes them in batches every ``flush_interval_s``; only then are the consumed offsets
committed. Delivery is at least once and every write is idempotent (row keys are functions of host,
ip and start; values are whole aggregates), so replays after a crash change nothing.

At startup the live state is rebuilt from the rows that still have a live view (family ``o``), so open
sessions keep growing across restarts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from streaming.live import LiveChange, LiveSessions, Partial, closed_session, metrics_of
from websessions.events import parse_time_ms
from websessions.sessions import Session, SessionRule
from websessions.settings import Settings
from websessions.stores.hbase_sessions import PARTIAL_PREFIX, HBaseSessions, MinuteMetrics, session_of_row, start_of

log = logging.getLogger(__name__)

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
        self.live = LiveSessions(self.rule)
        self.stats = SinkStats()
        self.sources: dict[int, dict] = {}  # the job's last counters row per partition
        # partition -> [(offset_max, latest valid event ms)]: where each partition's watermark stood
        self.watermark_history: dict[int, list[tuple[int, int]]] = {}
        # late events by (partition, offset): a replayed late event is counted once
        self.late_seen: set[tuple[int, int]] = set()
        self.late_unremembered = 0
        self._closed: dict[tuple[str, str, int], Session] = {}
        self._open: dict[tuple[str, str, int], tuple[Session, dict[int, bytes]]] = {}
        self._open_deletes: set[tuple[str, str, int]] = set()
        self._metrics: dict[tuple[str, int], MinuteMetrics] = {}
        self.kinds: Counter = Counter()

    def restore(self, store: HBaseSessions) -> int:
        """Rebuild the live state from the open rows in HBase; returns how many."""
        n = 0
        for key, columns in store.open_rows():
            session = session_of_row(columns)  # only family o was read: the open record
            if session is None:
                continue
            partials = [Partial.from_bytes(v) for k, v in columns.items() if k.startswith(PARTIAL_PREFIX)]
            self.live.restore(session.host, session.ip, start_of(key), session.end_ms, partials)
            n += 1
        return n

    # -- applying updates -------------------------------------------------------------------------------

    def apply(self, message: bytes) -> None:
        """One update (a JSON row; ``None`` is a tombstone, which these results never produce)."""
        if message is None:
            return
        row = json.loads(message)
        kind = row["kind"]
        self.kinds[kind] += 1
        self.stats.updates += 1
        if kind == "partial":
            self._apply_change(self.live.on_partial(row["host"], row["ip"], Partial.from_row(row)))
        elif kind == "session":
            session = closed_session(row, self.rule)
            key = (session.host, session.ip, session.start_ms)
            self._open.pop(key, None)
            self._open_deletes.discard(key)
            self._closed[key] = session
            self._apply_change(self.live.on_closed(session))
        elif kind == "metric":
            metrics = metrics_of(row)
            self._metrics[(metrics.host, metrics.minute)] = metrics
        elif kind == "late":
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

    def _apply_change(self, change: LiveChange) -> None:
        for host, ip, start in change.deletes:
            key = (host, ip, start)
            self._open.pop(key, None)
            self._open_deletes.add(key)
        for session, partials in change.puts:
            key = (session.host, session.ip, session.start_ms)
            if key in self._closed:
                continue
            self._open_deletes.discard(key)
            previous = self._open.get(key)
            if previous is not None:
                partials = {**previous[1], **partials}
            self._open[key] = (session, partials)

    @property
    def pending(self) -> int:
        return len(self._closed) + len(self._open) + len(self._open_deletes) + len(self._metrics)

    def flush(self, store: HBaseSessions) -> None:
        """Write everything pending (one batched round per table)."""
        if not self.pending:
            return
        writer = store.writer()
        for session in self._closed.values():
            writer.put_closed(session)
        for host, ip, start in self._open_deletes:
            writer.delete_open(host, ip, start)
        for session, partials in self._open.values():
            writer.put_open(session, partials)
        for metrics in self._metrics.values():
            writer.put_metrics(metrics)
        writer.flush()
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

    def refresh_source_stats(self) -> None:
        s = self.stats
        s.max_event_ms = self.live.max_event_ms
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
                log.info("speed sink: %d open sessions restored from HBase", restored)
                while not stop.is_set():
                    for message in consumer.consume(num_messages=5000, timeout=0.1):
                        if message.error():
                            log.warning("speed sink: kafka: %s", message.error())
                            continue
                        self.apply(message.value())
                    now = time.monotonic()
                    if now - last_sweep >= self.sweep_interval_s:
                        self._apply_change(self.live.sweep(grace_ms=self.rule.timeout_ms))
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
