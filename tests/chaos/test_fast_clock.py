"""A client whose clock runs 4 min 59 s fast (just inside the ingest's tolerance) on the partition honest
traffic uses: neither
layer's watermark follows it, so no honest event arriving after it counts late, and the lander does not
complete the day early."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from streaming.runner import read_stats, speed_dir
from tests.chaos.ledger import lander_cmd, lander_env
from tests.integration.datasets import kafka_topics, private_root, private_settings
from websessions.background import BackgroundJob
from websessions.clients import hdfs, kafka
from websessions.events import Event, format_time_ms, validate
from websessions.lander import lander_stats_path
from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions

FAST_MS = (4 * 60 + 59) * 1000


@pytest.fixture
def private(stack) -> Iterator[Settings]:
    fields = ("kafka_topic_events", "kafka_topic_dlq", "kafka_topic_session_updates", "raw_events_dir",
              "hbase_table_sessions", "hbase_table_live_metrics")  # fmt: skip
    # One partition: the fast client shares it with honest traffic, so no other partition holds the watermark back.
    base = dataclasses.replace(stack("kafka", "hdfs", "hbase"), kafka_partitions=1)
    settings = private_settings(base, "fastclock", *fields)
    topics = (settings.kafka_topic_events, settings.kafka_topic_dlq, settings.kafka_topic_session_updates)
    with kafka_topics(settings, *topics):
        yield settings
    with HBaseSessions(settings) as store:
        store.drop_tables()
    shutil.rmtree(speed_dir(settings), ignore_errors=True)
    hdfs.webhdfs(settings).delete(private_root(settings), recursive=True)


def event(t_ms: int, ip: str, host: str = "www.dataexpert.io", tag: str = "") -> Event:
    raw = {"event_time": format_time_ms(t_ms), "ip": ip, "host": host, "url": "/", "event_id": f"{tag}{ip}-{t_ms}"}
    parsed = validate(json.dumps(raw))
    assert isinstance(parsed, Event), parsed
    return parsed


def lander_stats(settings: Settings) -> dict:
    path = lander_stats_path(settings)
    return json.loads(path.read_text()) if path.exists() else {}


def produce(settings: Settings, events: list[Event], partition: int) -> None:
    """Through the events topic as ingest writes it (headers included), onto one chosen partition."""
    producer = kafka.producer(settings)
    for e in events:
        headers = [("dt", e.dt.encode()), ("ts", str(e.event_time_ms).encode())]
        producer.produce(settings.kafka_topic_events, value=e.to_bytes(), partition=partition, headers=headers)
    assert producer.flush(30) == 0


def test_a_fast_client_clock_makes_no_honest_event_late_in_either_layer(private: Settings, reliability) -> None:
    settings = dataclasses.replace(private, speed_checkpoint_interval_s=5)
    speed = BackgroundJob(settings, f"speed-{settings.kafka_topic_events}", ["speed", "run"], stop_timeout_s=90)
    lander = subprocess.Popen(lander_cmd("--batch-max", "200"), env=lander_env(settings), stderr=subprocess.PIPE)
    speed.start()
    honest = 0
    try:
        now = int(time.time() * 1000)
        first = [event(now - 2000 + i, f"10.1.0.{i}") for i in range(40)]
        produce(settings, first, 0)
        honest += len(first)
        # The job must be reading live (not a backlog within one watermark interval) when the fast event comes.
        deadline = time.monotonic() + 240
        while (read_stats(settings) or {}).get("records", 0) < honest:
            assert time.monotonic() < deadline, f"the speed layer did not start reading: {read_stats(settings)}"
            time.sleep(0.5)
        now = int(time.time() * 1000)
        # One client 4 min 59 s ahead, on partition 0 (accepted: within the ingest's 5-minute tolerance).
        produce(settings, [event(now + FAST_MS, "10.9.9.9", tag="fast-")], 0)
        for round_no in range(5):
            time.sleep(2)
            t = int(time.time() * 1000)
            later = [event(t + i, f"10.2.{round_no}.{i}") for i in range(20)]
            produce(settings, later, 0)
            honest += len(later)
        total = honest + 1
        deadline = time.monotonic() + 240
        while (read_stats(settings) or {}).get("records", 0) < total:
            assert time.monotonic() < deadline, f"the speed layer did not read {total} events: {read_stats(settings)}"
            time.sleep(1)
        deadline = time.monotonic() + 60
        while lander_stats(settings).get("landed", 0) < total:
            assert time.monotonic() < deadline, "the lander did not land every event"
            time.sleep(0.5)
        stats = read_stats(settings)
        landed = lander_stats(settings)
    finally:
        speed.stop()
        lander.terminate()
        lander.wait(timeout=60)
    assert stats["late"] == 0, stats  # the watermark never passed the wall clock
    assert (landed["late"], landed["completed_days"]) == (0, []), landed  # today is not complete early
    assert landed["watermark_ms"] <= int(time.time() * 1000)
    reliability.record(
        fault="a client clock 4 min 59 s fast on one partition",
        rounds=1,
        acknowledged=total,
        lost=total - landed["landed"],
        duplicated=max(landed["landed"] - total, 0),
        notes=f"speed layer late {stats['late']}, lander late {landed['late']}; no day completed early",
    )
