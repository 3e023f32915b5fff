"""Ingestion against real Kafka and HDFS: publish, land exactly once (even after kill -9), audit.

Every test works on its own topic and HDFS directory, so it never sees another test's data.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import pytest

from tests.integration.datasets import kafka_topics, private_root, private_settings
from websessions.audit import audit_day, scan_topic
from websessions.background import BackgroundJob
from websessions.clients import hdfs
from websessions.events import parse_event
from websessions.ingest import publish_lines
from websessions.lander import COMPLETE_MARKER, day_dir, lander_stats_path, late_dir
from websessions.settings import Settings

DAY = "2026-11-20"


def _event(i: int, dt: str = DAY, second: int | None = None) -> str:
    s = i % 86_400 if second is None else second
    return json.dumps(
        {
            "event_time": f"{dt}T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{i % 1000:03d}Z",
            "ip": f"10.0.{i % 250}.{i % 7 + 1}",
            "host": ("www.dataexpert.io", "zachwilson.tech")[i % 2],
            "url": f"/blog/post-{i % 40}",
            "event_id": f"e-{dt}-{i}",
        }
    )


def canonical(line: str) -> str:
    """The form an event is published (and landed) in."""
    return parse_event(line).to_json()


@pytest.fixture
def private(stack) -> Settings:
    """Settings with a fresh events topic and HDFS directories of their own."""
    fields = ("kafka_topic_events", "kafka_topic_dlq", "raw_events_dir")
    private = private_settings(stack("kafka", "hdfs"), "ingestion", *fields)
    with kafka_topics(private, private.kafka_topic_events, private.kafka_topic_dlq):
        yield private
    hdfs.webhdfs(private).delete(private_root(private), recursive=True)


def _landed_lines(settings: Settings, root: str, dt: str) -> Counter:
    fs = hdfs.webhdfs(settings)
    path = day_dir(root, dt)
    lines: Counter = Counter()
    if fs.status(path, strict=False) is None:
        return lines
    for name in fs.list(path):
        if name.startswith("part-"):
            with fs.read(f"{path}/{name}") as reader:
                lines.update(line for line in reader.read().decode().splitlines() if line)
    return lines


def _wait_for_stats(settings: Settings, predicate, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    stats: dict = {}
    while time.monotonic() < deadline:
        path = lander_stats_path(settings)
        if path.exists():
            try:
                stats = json.loads(path.read_text())
            except json.JSONDecodeError:
                stats = {}
            if predicate(stats):
                return stats
        time.sleep(0.3)
    raise AssertionError(f"lander did not reach the expected state in {timeout_s}s; last stats {stats}")


def test_ingest_splits_valid_and_invalid_and_waits_for_acknowledgement(private: Settings) -> None:
    lines = [_event(i) for i in range(300)] + ["{not json", json.dumps({"ip": "1.2.3.4"}), ""]
    result = publish_lines(private, lines)
    assert (result.accepted, result.dead_lettered) == (300, 2)
    assert result.reasons["malformed_json"] == 1
    assert sum(result.reasons.values()) == 2
    report = audit_day(private, DAY)
    assert report.produced == 300


def test_a_day_lands_exactly_once_even_when_the_lander_is_killed(private: Settings) -> None:
    produced = [_event(i) for i in range(6000)]
    publish_lines(private, produced)
    # The next day's traffic, past the allowed lateness, moves the watermark beyond the day's end.
    lateness = private.allowed_lateness_s
    publish_lines(private, [_event(10_000 + i, "2026-11-21", second=lateness + 60 + i) for i in range(10)])

    job = BackgroundJob(private, f"lander-test-{private.kafka_topic_events}", ["land", "run", "--batch-max", "400"])
    pid, _ = job.start()
    try:
        _wait_for_stats(private, lambda s: s.get("landed", 0) > 0)
        os.kill(pid, signal.SIGKILL)  # mid-day: some batches landed, the rest not yet
        for _ in range(50):
            if job.pid() is None:
                break
            time.sleep(0.1)
        landed_before = json.loads(lander_stats_path(private).read_text())["landed"]
        assert landed_before < 6010

        job.start()
        _wait_for_stats(private, lambda s: DAY in s.get("completed_days", []) or False, timeout_s=180)
        deadline = time.monotonic() + 120
        while sum(_landed_lines(private, private.raw_events_dir, DAY).values()) < 6000:
            assert time.monotonic() < deadline, "not every event landed"
            time.sleep(1)
    finally:
        job.stop()

    landed = _landed_lines(private, private.raw_events_dir, DAY)
    assert landed == Counter(canonical(line) for line in produced)  # each valid event exactly once, none missing
    fs = hdfs.webhdfs(private)
    assert fs.status(f"{day_dir(private.raw_events_dir, DAY)}/{COMPLETE_MARKER}", strict=False) is not None
    report = audit_day(private, DAY)
    assert (report.produced, report.landed, report.late, report.difference) == (6000, 6000, 0, 0)
    assert report.complete


def test_events_of_a_completed_day_go_to_the_late_area_and_are_counted(private: Settings) -> None:
    lateness = private.allowed_lateness_s
    publish_lines(private, [_event(i) for i in range(50)])
    publish_lines(private, [_event(100 + i, "2026-11-21", second=lateness + 60 + i) for i in range(5)])
    job = BackgroundJob(private, f"lander-test-{private.kafka_topic_events}", ["land", "run", "--batch-max", "1000"])
    job.start()
    try:
        _wait_for_stats(private, lambda s: DAY in s.get("completed_days", []))
        late = [_event(200 + i) for i in range(7)]
        publish_lines(private, late)
        _wait_for_stats(private, lambda s: s.get("late", 0) >= 7)
    finally:
        job.stop()
    assert _landed_lines(private, late_dir(private), DAY) == Counter(canonical(line) for line in late)
    report = audit_day(private, DAY)
    assert (report.produced, report.landed, report.late, report.difference) == (57, 50, 7, 0)


def _messages(settings: Settings, topic: str) -> int:
    return sum(scan_topic(settings, topic).values())


def test_generate_publishes_a_backfill_day_and_live_traffic_to_kafka(private: Settings) -> None:
    import re
    import subprocess
    import sys

    env = {**os.environ, **private.as_env()}
    cli = [sys.executable, "-m", "websessions.cli", "generate", "--seed", "5", "--kafka"]
    day = subprocess.run([*cli, "--date", DAY, "--events", "3000"], env=env, capture_output=True, text=True)
    assert day.returncode == 0, day.stderr
    accepted, dead = map(int, re.search(r"accepted (\d+), dead-lettered (\d+)", day.stderr).groups())
    valid, duplicates, malformed = map(
        int, re.search(r"(\d+) valid events .* (\d+) duplicates, (\d+) malformed", day.stderr).groups()
    )
    assert accepted + dead == 3000 and dead == malformed > 0 and accepted == valid + duplicates
    assert (_messages(private, private.kafka_topic_events), _messages(private, private.kafka_topic_dlq)) == (
        accepted,
        dead,
    )

    started = time.time()
    live = subprocess.run([*cli, "--rate", "400", "--events", "200"], env=env, capture_output=True, text=True)
    assert live.returncode == 0, live.stderr
    assert time.time() - started >= 0.4  # paced: 200 events at 400/s take half a second at least
    accepted_live = int(re.search(r"accepted (\d+)", live.stderr).group(1))
    assert _messages(private, private.kafka_topic_events) == accepted + accepted_live
