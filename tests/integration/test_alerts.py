"""Anomaly alerts online, on the real stack: simulated traffic -> Kafka -> the real speed layer (PyFlink) ->
per-minute metrics in HBase -> ``websessions alerts run`` (supervised) -> Kafka ``web_alerts`` and Postgres.

An hour and a quarter of simulated live traffic (the unit tests' seeded traffic at 8 events/s, moved to end
two minutes ago; published in seconds: event times are what matter) in which, from minute 62, three
incidents of 10 minutes start on three hosts: an error burst (half the events fail), an 80 % drop, a
silence. The stream is first published only up to four minutes after the incidents' start, so the speed
layer's watermark (latest event - 60 s of allowed lateness) closes the minutes up to the third one of the
incidents and no later: each alert must come from those minutes (within 2 minutes of the incident's start,
in event time), with the right host and kind, and the clean hour before them must raise none. Then the
runner is stopped, the rest published and the runner started again: it must resume, and the incidents'
later minutes and the traffic's return must raise nothing new.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from streaming.runner import speed_dir
from tests.integration.datasets import kafka_topics, private_settings, wait_for
from tests.unit.test_anomalies import START_MS, live_lines
from websessions.background import BackgroundJob
from websessions.clients import kafka
from websessions.events import format_time_ms, parse_time_ms
from websessions.ingest import publish_lines
from websessions.settings import Settings
from websessions.simulator.incidents import ALERT_KIND, Incident, inject
from websessions.stores import postgres_alerts
from websessions.stores.hbase_sessions import HBaseSessions

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000
INCIDENT_MINUTE = 62
RATE = 8.0  # events/s: about 480 a minute, 70 users a minute on the site that drops
INCIDENTS = {"bootcamp.techcreator.io": "error-burst", "www.dataexpert.io": "drop", "zachwilson.tech": "silence"}


@pytest.fixture
def private(stack) -> Iterator[Settings]:
    fields = (
        "kafka_topic_events", "kafka_topic_session_updates", "kafka_topic_alerts", "hbase_table_sessions",
        "hbase_table_live_metrics", "postgres_table_alerts",
    )  # fmt: skip
    private = private_settings(stack("kafka", "hbase", "postgres"), "alerts", *fields)
    private = dataclasses.replace(private, alerts_poll_interval_s=1.0)
    topics = (private.kafka_topic_events, private.kafka_topic_session_updates, private.kafka_topic_alerts)
    with kafka_topics(private, *topics):
        yield private
    with HBaseSessions(private) as store:
        store.drop_tables()
    postgres_alerts.drop_tables(private)
    shutil.rmtree(speed_dir(private), ignore_errors=True)


def shifted(line: str, by_ms: int) -> str:
    """A line with its event time moved by ``by_ms`` (malformed lines as they are)."""
    try:
        record = json.loads(line)
        record["event_time"] = format_time_ms(parse_time_ms(record["event_time"]) + by_ms)
    except (ValueError, KeyError, TypeError):
        return line
    return json.dumps(record, separators=(",", ":"))


def event_time(line: str) -> str:
    try:
        return str(json.loads(line).get("event_time", ""))
    except (ValueError, AttributeError):
        return ""


def judged_minute(settings: Settings) -> int:
    saved = postgres_alerts.progress(settings, settings.hbase_table_live_metrics)
    return saved[0] if saved else 0


def alerts_in_kafka(settings: Settings, expected: int) -> list[dict]:
    consumer = kafka.consumer(settings, f"test-alerts-{settings.kafka_topic_alerts}")
    consumer.subscribe([settings.kafka_topic_alerts])
    out: list[dict] = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=100, timeout=1):
                if not message.error():
                    out.append({"key": message.key().decode(), **json.loads(message.value())})
    finally:
        consumer.close()
    return out


def test_injected_incidents_are_alerted_online_within_two_minutes_and_a_clean_hour_is_not(private: Settings):
    now_minute = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
    shift = now_minute - 2 * MINUTE_MS - (START_MS + (INCIDENT_MINUTE + 14) * MINUTE_MS)  # the last ~2 min ago
    start = START_MS + shift
    incident_at = start + INCIDENT_MINUTE * MINUTE_MS
    incidents = [Incident(kind, host, incident_at) for host, kind in INCIDENTS.items()]
    traffic = [shifted(line, shift) for line in live_lines(INCIDENT_MINUTE + 14, rate=RATE)]
    lines = list(inject(traffic, incidents))
    cut = format_time_ms(incident_at + 4 * MINUTE_MS)
    first = [line for line in lines if event_time(line) < cut]  # up to 4 minutes past the incidents' start
    rest = [line for line in lines if event_time(line) >= cut]  # the incidents' end and 4 minutes after

    speed = BackgroundJob(private, f"speed-test-{private.kafka_topic_events}", ["speed", "run"], stop_timeout_s=90)
    alerts = BackgroundJob(private, f"alerts-test-{private.kafka_topic_alerts}", ["alerts", "run"])
    speed.start()
    alerts.start()
    try:
        assert publish_lines(private, first).accepted > 28_000
        since = datetime.fromtimestamp(start / 1000, UTC)

        def three_alerts() -> list | None:
            found = postgres_alerts.alerts_since(private, since)
            return found if len(found) >= 3 else None

        found = wait_for("three alerts in Postgres", three_alerts, 240, interval_s=1)
        time.sleep(3 * private.alerts_poll_interval_s)  # anything else the runner would add with them
        found = postgres_alerts.alerts_since(private, since)
        got = sorted((s.alert.host, s.alert.kind) for s in found)
        assert got == sorted((host, ALERT_KIND[kind]) for host, kind in INCIDENTS.items())
        for stored in found:
            delay = stored.alert.minute - incident_at // MINUTE_MS
            assert 0 <= delay <= 2, f"{stored.alert} came {delay} minutes after the incident's start"
            assert stored.alert.score > 0 and stored.alert.expected > 0
        # The minutes judged: the clean hour (after the detector's minimum baseline) and the incidents' first ones.
        assert incident_at // MINUTE_MS <= judged_minute(private) <= incident_at // MINUTE_MS + 2

        sent = alerts_in_kafka(private, 3)
        assert sorted(m["key"] for m in sent) == sorted(s.alert.key for s in found)
        assert {m["kind"] for m in sent} == {"error_rate", "drop", "silence"}

        # A restart resumes after the saved minute with the baseline and episodes replayed: the incidents'
        # later minutes and the traffic's return raise nothing new.
        assert alerts.stop()
        publish_lines(private, rest)
        alerts.start()
        done = incident_at // MINUTE_MS + 11
        wait_for("the minutes after the incidents to be judged", lambda: judged_minute(private) >= done, 180)
        assert sorted(s.alert.key for s in postgres_alerts.alerts_since(private, since)) == sorted(
            s.alert.key for s in found
        )
    finally:
        alerts.stop()
        speed.stop()
