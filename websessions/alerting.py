"""The online anomaly runner: closed minutes of the speed layer's live metrics -> the detector -> alerts in
Kafka (``settings.kafka_topic_alerts``) and Postgres (:mod:`websessions.stores.postgres_alerts`).

``websessions alerts start`` runs :func:`run_alerts` under the supervisor, like the lander.

When is a minute closed? The speed layer emits a host's row of minute M in ``web_live_metrics`` only once
its watermark (latest event time - allowed lateness) has passed the end of M, and the watermark is one for
all keys; so once any monitored host has a row of minute M, every host's minute M is final, and a host
without a row had no event in it. The job sums the ips of a minute in parallel subtasks that see the
watermark a few milliseconds apart, so the runner reads a minute only ``alerts_settle_s`` after it first
saw the frontier at or past it. This is the job's watermark read from the data it writes: nothing else
(no side file, no update topic) needs to stay as it is while the speed layer changes.

Each pass (every ``alerts_poll_interval_s``): read every monitored host's rows from the next minute to judge
(:meth:`HBaseSessions.minute_metrics`), feed each closed minute to :class:`websessions.anomalies.Detector`
(missing rows as zeros), send the alerts to Kafka (key ``host|minute|kind``, value the alert's JSON) and
wait for the acknowledgements, then write them and the last judged minute to Postgres in one transaction.
After a crash the minutes after the saved one are judged again: Kafka may get an alert twice (same key),
the table keeps one row per ``(host, minute, kind)``. On start the detector's baseline is rebuilt by
replaying the ``alerts_baseline_minutes`` before the saved minute, alerts discarded, and the
``alerts_season_days`` before those are recorded for the seasonal expectation, unjudged; the first start
records the days before it and judges from the oldest row of the last ``alerts_baseline_minutes``.

Limit: when every monitored host is silent, nothing moves the watermark and no minute closes: a silence
of all sites is seen when traffic returns (``alerts status`` shows how old the last judged minute is).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from websessions.anomalies import MINUTES_PER_DAY, Alert, Detector, Thresholds, monitored_hosts
from websessions.settings import Settings
from websessions.stores import postgres_alerts
from websessions.stores.hbase_sessions import HBaseSessions, MinuteMetrics

log = logging.getLogger(__name__)


class AlertRunner:
    """The detector over the live metrics; :meth:`poll` once per pass (``with HBaseSessions`` open)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self.hosts = monitored_hosts(settings)
        self.thresholds = Thresholds.from_settings(settings)
        self.detector = Detector(self.hosts, self.thresholds)
        self.source = settings.hbase_table_live_metrics
        self.next_minute: int | None = None  # the next minute to judge
        self.frontiers: deque[tuple[float, int]] = deque(maxlen=1000)  # (wall time, newest minute seen)
        self.alerts_sent = 0
        self._table_seen = False
        self._producer = None

    def prepare(self) -> None:
        """The schema, the topic, a producer."""
        from websessions.clients import kafka

        postgres_alerts.ensure_schema(self.settings)
        kafka.ensure_topics(self.settings, self.settings.kafka_topic_alerts)
        self._producer = kafka.producer(self.settings)

    def _rows(self, store: HBaseSessions, since: int) -> dict[int, dict[str, MinuteMetrics]]:
        out: dict[int, dict[str, MinuteMetrics]] = {}
        for host in self.hosts:
            for m in store.retrying(lambda h=host: store.minute_metrics(h, since_minute=since), "reading metrics"):
                out.setdefault(m.minute, {})[host] = m
        return out

    def _closed_through(self, newest: int | None) -> int | None:
        """The newest minute whose frontier was first seen at least ``alerts_settle_s`` ago."""
        now = self.clock()
        if newest is not None and (not self.frontiers or newest > self.frontiers[-1][1]):
            self.frontiers.append((now, newest))
        ready = None
        while self.frontiers and self.frontiers[0][0] <= now - self.settings.alerts_settle_s:
            ready = self.frontiers[0][1]
            if len(self.frontiers) == 1 or self.frontiers[1][0] > now - self.settings.alerts_settle_s:
                break
            self.frontiers.popleft()
        return ready

    def _feed(self, rows: dict[int, dict[str, MinuteMetrics]], first: int, last: int) -> list[Alert]:
        alerts = []
        for minute in range(first, last + 1):
            cells = rows.get(minute, {})
            counts = {host: (m.events, m.errors, m.active_users) for host, m in cells.items()}
            alerts.extend(self.detector.close_minute(minute, counts))
        return alerts

    def _start_at(self, store: HBaseSessions, ready: int) -> int:
        """Where judging resumes: after the saved minute (the baseline replayed before it), or on a first start
        at the oldest row of the last ``alerts_baseline_minutes``."""
        window = self.settings.alerts_baseline_minutes
        season = self.thresholds.season_days * MINUTES_PER_DAY
        saved = postgres_alerts.progress(self.settings, self.source)
        if saved is None:
            rows = self._rows(store, ready - window + 1 - season)
            start = min((m for m in rows if ready - window < m <= ready), default=ready)
            self._remember(rows, start)
            return start
        resume = saved[0] + 1
        rows = self._rows(store, resume - window - season)
        if rows:
            warm_from = max(min(rows), resume - window)
            self._remember(rows, warm_from)
            self._feed(rows, warm_from, resume - 1)  # the baseline as it was; those alerts were sent already
        return resume

    def _remember(self, rows: dict[int, dict[str, MinuteMetrics]], before: int) -> None:
        """Record the minutes of ``rows`` before ``before`` (from the oldest row) for the seasonal expectation."""
        for minute in range(min((m for m in rows if m < before), default=before), before):
            cells = rows.get(minute, {})
            self.detector.remember(minute, {host: (m.events, m.errors, m.active_users) for host, m in cells.items()})

    def poll(self, store: HBaseSessions) -> list[Alert]:
        """Judge every minute closed since the last pass; returns the alerts raised (already sent and saved)."""
        if not self._metrics_table_exists(store):
            return []  # the speed layer has not started yet
        since = self.next_minute if self.next_minute is not None else 0
        if self.next_minute is None:
            newest = max((m for h in self.hosts for m in self._newest(store, h)), default=None)
        else:
            rows = self._rows(store, since)
            newest = max(rows, default=None)
        ready = self._closed_through(newest)
        if ready is None:
            return []
        if self.next_minute is None:
            self.next_minute = self._start_at(store, ready)
            log.info("alerts: judging from minute %d (%d hosts)", self.next_minute, len(self.hosts))
        if ready < self.next_minute:
            return []
        rows = self._rows(store, self.next_minute)
        alerts = self._feed(rows, self.next_minute, ready)
        self._publish(alerts)
        postgres_alerts.save(self.settings, alerts, self.source, ready)
        self.next_minute = ready + 1
        self.alerts_sent += len(alerts)
        for alert in alerts:
            log.warning(
                "alert: %s %s %s observed %s expected %s score %s",
                alert.host, alert.at, alert.kind, alert.observed, alert.expected, alert.score,
            )  # fmt: skip
        return alerts

    def _metrics_table_exists(self, store: HBaseSessions) -> bool:
        if not self._table_seen:
            tables = store.retrying(lambda: store.connection.tables(), "listing tables")
            self._table_seen = self.source.encode() in tables
        return self._table_seen

    def _newest(self, store: HBaseSessions, host: str) -> list[int]:
        """The newest minute of a host's rows in the last day (one short scan: only the first start needs it)."""
        since = int(self.clock() // 60) - 1440
        rows = store.retrying(lambda: store.minute_metrics(host, since_minute=since), "reading metrics")
        return [rows[-1].minute] if rows else []

    def _publish(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        topic = self.settings.kafka_topic_alerts
        for alert in alerts:
            self._producer.produce(topic, key=alert.key.encode(), value=json.dumps(alert.to_dict()).encode())
        remaining = self._producer.flush(30)
        if remaining:
            raise ConnectionError(f"kafka: {remaining} alerts not acknowledged on {topic} within 30 s")


def run_alerts(settings: Settings, stop: threading.Event) -> int:
    """Poll until ``stop`` is set; returns how many alerts were raised."""
    runner = AlertRunner(settings)
    runner.prepare()
    with HBaseSessions(settings) as store:
        while not stop.is_set():
            runner.poll(store)
            stop.wait(settings.alerts_poll_interval_s)
    return runner.alerts_sent
