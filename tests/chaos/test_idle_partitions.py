"""Every partition of the events topic silent past the idle timeout, then a burst of older events that
partition 0 delivers first: no user's session is split, and the events behind the watermark are counted late.

Idleness (``speed_idle_timeout_s``, 3 s here) lets a silent partition stop holding the watermark back.
With both partitions idle, partition 0's burst alone moves the session operator's watermark, past the
events partition 1 then delivers; the lateness check upstream of the operator sees only partition 1's
own watermark and lets them through. The rule (docs/sessions.md) says such an event is late: counted,
never sessionized, so that a closed session is final. Before the operator checked its own watermark,
each partition-1 user got a fragment session next to the one already closed.

The scenario, from the rule's settings: 8 users per partition with 5 events spanning less than the
allowed lateness (so no event of theirs is late in whatever order the partitions are read); a quiet
period past the idle timeout; partition 0's users continue (events ``step`` apart, ``step`` below the
session timeout) until their partition's watermark is far past the end + timeout of partition 1's
sessions, which therefore close; once the job has read that, partition 1's users continue from just
after their closed session up to a little past that watermark, one event exactly at it. Event times lie
hours in the past (a backlog), sentinels stamped now on both partitions close every session at the end.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest

from tests.chaos.pipeline import (
    SENTINEL_HOST,
    private_pipeline,
    reference_sessions,
    speed_job,
    speed_sessions,
    speed_stats,
    wait_for,
)
from websessions.clients import kafka
from websessions.events import Event, format_time_ms, validate
from websessions.sessions import SessionRule
from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions

IDLE_TIMEOUT_S = 3
USERS_PER_PARTITION = 8
HOSTS = ("www.dataexpert.io", "zachwilson.tech")


@pytest.fixture
def pipeline(stack) -> Iterator[Settings]:
    with private_pipeline(stack("kafka", "hdfs", "hbase"), "idle") as settings:
        yield dataclasses.replace(settings, speed_idle_timeout_s=IDLE_TIMEOUT_S)


def user_event(t_ms: int, partition: int, user: int) -> Event:
    raw = {
        "event_time": format_time_ms(t_ms),
        "ip": f"10.6.{partition}.{user + 1}",
        "host": HOSTS[user % 2],
        "url": f"/p{t_ms // 1000 % 7}",
        "event_id": f"idle-{partition}-{user}-{t_ms}",
    }
    event = validate(json.dumps(raw))
    assert isinstance(event, Event), event
    return event


def produce(settings: Settings, events: list[Event], partition: int) -> dict[str, tuple[int, int]]:
    """The events onto one partition (as ingest writes them, headers included), in this order; returns
    event id -> (partition, offset) as Kafka acknowledged them."""
    acknowledged: dict[str, tuple[int, int]] = {}

    def on_delivery(err, msg) -> None:
        assert err is None, err
        acknowledged[json.loads(msg.value())["event_id"]] = (msg.partition(), msg.offset())

    producer = kafka.producer(settings)
    for e in events:
        headers = [("dt", e.dt.encode()), ("ts", str(e.event_time_ms).encode())]
        producer.produce(
            settings.kafka_topic_events,
            key=f"{e.ip}|{e.host}".encode(),
            value=e.to_bytes(),
            partition=partition,
            headers=headers,
            on_delivery=on_delivery,
        )
    assert producer.flush(30) == 0
    assert len(acknowledged) == len(events)
    return acknowledged


def test_after_every_partition_was_idle_events_behind_the_operators_watermark_are_late_not_fragments(
    pipeline: Settings, reliability
) -> None:
    settings = pipeline
    rule = SessionRule.from_settings(settings)
    lateness, timeout = rule.allowed_lateness_ms, rule.timeout_ms
    step = timeout * 2 // 5  # a partition-0 user's gap: below the timeout, the session continues
    t0 = (int(time.time() * 1000) - 3 * 3_600_000) // 60_000 * 60_000
    users = range(USERS_PER_PARTITION)

    # Phase 1: 5 events per user, spanning less than the lateness: none can be late, whatever the order.
    phase1 = {p: [user_event(t0 + k * lateness // 10, p, u) for k in range(5) for u in users] for p in (0, 1)}
    a = max(e.event_time_ms for e in phase1[1])
    # Partition 0 continues until its watermark is past end + timeout of partition 1's sessions.
    n0 = (timeout + lateness) // step + 2
    burst0 = [user_event(a + j * step, 0, u) for j in range(1, n0 + 1) for u in users]
    watermark = max(e.event_time_ms for e in burst0) - lateness  # the operator's, partition 1 being idle
    assert watermark > a + timeout, "partition 1's sessions must have closed"
    # Partition 1 continues from just after its closed sessions to a little past the watermark.
    times1 = sorted(t for i in range(-n0 + 1, 2) if (t := watermark + i * step) > a)
    assert times1[0] - a <= timeout and watermark in times1
    burst1 = [user_event(t, 1, u) for t in times1 for u in users]
    late = [e for e in burst1 if e.event_time_ms < watermark]  # the rule: behind the watermark is late
    produced = phase1[0] + phase1[1] + burst0 + burst1
    assert 0 < len(late) < len(burst1)

    job = speed_job(settings)
    job.start()
    try:
        offsets = produce(settings, phase1[0], 0) | produce(settings, phase1[1], 1)
        read1 = len(phase1[0]) + len(phase1[1])
        wait_for("the speed layer to read phase 1", lambda: speed_stats(settings).get("records", 0) >= read1, 240)
        time.sleep(IDLE_TIMEOUT_S + 3)  # both partitions idle
        offsets |= produce(settings, burst0, 0)
        read0 = read1 + len(burst0)
        wait_for("the job to read partition 0's burst", lambda: speed_stats(settings).get("records", 0) >= read0, 60)
        time.sleep(1)  # its watermark reaches the operator (auto-watermark interval 200 ms)
        resumed = time.monotonic()
        offsets |= produce(settings, burst1, 1)
        now = format_time_ms(int(time.time() * 1000))
        sentinels = [
            validate(json.dumps({"event_time": now, "ip": f"192.0.2.{p}", "host": SENTINEL_HOST, "url": "/"}))
            for p in (0, 1)
        ]
        for p, sentinel in enumerate(sentinels):
            produce(settings, [sentinel], p)  # closes every session of the test's users

        def accounted() -> tuple[list[dict], dict] | None:
            stats = speed_stats(settings)
            closed = speed_sessions(settings)
            done = stats.get("records", 0) >= len(produced) + 2
            if done and sum(s["events"] for s in closed) + stats.get("late", 0) >= len(produced):
                return closed, stats
            return None

        closed, stats = wait_for("every event to be sessionized or counted late", accounted, 120, 1)
        recover_s = time.monotonic() - resumed
        with HBaseSessions(settings) as store:
            late_recorded = store.late_events_near(late[0].dt)
    finally:
        job.stop()

    late_ids = {e.event_id for e in late}
    on_time = [e for e in produced if e.event_id not in late_ids]
    expected = reference_sessions(settings, [e.to_json() for e in on_time])
    sessionized = sum(s["events"] for s in closed)
    reliability.record(
        fault="every partition idle past the idle timeout, then a burst of older events (partition 0 first)",
        rounds=1,
        acknowledged=len(produced),
        lost=max(len(produced) - sessionized - stats["late"], 0),
        duplicated=max(sessionized + stats["late"] - len(produced), 0),
        recover_s=recover_s,
        notes=f"{stats['late']} late (the rule: {len(late)}), {len(closed)} closed sessions"
        f" (the reference of the on-time events: {len(expected)})",
    )
    assert closed == expected  # no fragment next to a closed session
    assert sessionized + stats["late"] == len(produced)
    assert stats["late"] == len(late)
    assert sorted(map(tuple, stats["late_events"])) == sorted(offsets[e.event_id] for e in late)
    assert sorted(late_recorded) == sorted((e.host, e.ip, e.event_time_ms) for e in late)
