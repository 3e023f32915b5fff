"""Faults at the lander: kill -9 at named points, deleted group offsets, Kafka retention past the lander,
poison records, two landers, a paused NameNode. Each checks: acknowledged = landed + late + quarantined,
nothing lost, nothing twice, ``audit`` balanced — and records a row of the reliability table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import Producer, TopicPartition

from tests.chaos.ledger import check, event_lines, lander_cmd, lander_env, publish, read_landed, run_lander
from tests.integration.datasets import kafka_topics, private_root, private_settings
from websessions.audit import audit_day
from websessions.clients import hdfs, kafka
from websessions.events import parse_time_ms
from websessions.lander import FAILPOINTS, group_id, lander_stats_path
from websessions.raw_layout import data_roots, gaps_dir, is_date, parse_part_name
from websessions.settings import Settings
from websessions.stack.process import ManagedProcess

DAY, NEXT_DAY = "2026-11-20", "2026-11-21"


@pytest.fixture
def private(stack) -> Settings:
    fields = ("kafka_topic_events", "kafka_topic_dlq", "raw_events_dir")
    settings = private_settings(stack("kafka", "hdfs"), "chaos", *fields)
    with kafka_topics(settings, settings.kafka_topic_events, settings.kafka_topic_dlq):
        yield settings
    hdfs.webhdfs(settings).delete(private_root(settings), recursive=True)


def _stats(settings: Settings) -> dict:
    path = lander_stats_path(settings)
    return json.loads(path.read_text()) if path.exists() else {}


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_kill_9_at_every_failpoint_loses_and_duplicates_nothing(private: Settings, reliability) -> None:
    acknowledged: set[str] = set()
    repairs = []  # what each run's recovery repaired: the state the previous run's kill left
    for round_no, point in enumerate(FAILPOINTS):
        # Two days per batch, so a batch is several files (the mid-rename point needs more than one).
        acknowledged |= publish(private, event_lines(400, DAY, start=round_no * 1000))
        acknowledged |= publish(private, event_lines(100, NEXT_DAY, start=round_no * 1000))
        died = run_lander(private, lander_failpoint=point)
        assert died.returncode == -signal.SIGKILL, (point, died.returncode, died.stderr[-2000:])
        assert f"failpoint {point}" in died.stderr
        repairs.append(_stats(private)["recovery"])
    started = time.monotonic()
    healed = run_lander(private, idle_exit_s=2.0)
    recover_s = time.monotonic() - started - 2.0
    assert healed.returncode == 0, healed.stderr[-2000:]
    repairs.append(_stats(private)["recovery"])
    assert repairs[1].get("temporary_files_removed", 0) > 0, repairs  # killed during the write
    assert repairs[2].get("renames_finished", 0) > 0, repairs  # killed between two renames
    assert repairs[3] == repairs[4] == {}, repairs  # killed after the renames: nothing half-done
    verdict = check(private, acknowledged)
    verdict.assert_clean()
    for dt in (DAY, NEXT_DAY):
        assert audit_day(private, dt).balanced, audit_day(private, dt).summary()
    reliability.record(
        fault="kill -9 of the lander at " + ", ".join(FAILPOINTS),
        rounds=len(FAILPOINTS),
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        quarantined=verdict.quarantined,
        recover_s=recover_s,
        notes="recovery finishes or undoes the journalled batch, removes temporary files",
    )


def test_deleted_group_offsets_change_nothing_landed(private: Settings, reliability) -> None:
    acknowledged = publish(private, event_lines(1500, DAY))
    assert run_lander(private).returncode == 0
    before = read_landed(private).files
    assert before
    admin = kafka.admin(private)
    for future in admin.delete_consumer_groups([group_id(private)], request_timeout=15).values():
        future.result()
    acknowledged |= publish(private, event_lines(500, DAY, start=5000))
    started = time.monotonic()
    restarted = run_lander(private, idle_exit_s=2.0)
    recover_s = time.monotonic() - started - 2.0
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert before <= read_landed(private).files  # every landed file is still in place
    verdict = check(private, acknowledged)
    verdict.assert_clean()
    assert _stats(private)["recovery"] == {}  # nothing needed repair: progress came from the files
    report = audit_day(private, DAY)
    assert report.balanced and report.produced == 2000, report.summary()
    reliability.record(
        fault="lander's consumer-group offsets deleted, then a restart",
        rounds=1,
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        recover_s=recover_s,
        notes=f"{len(before)} landed files kept; resumed from the file names",
    )


def test_retention_past_the_lander_is_reported_as_a_gap_and_deletes_nothing(private: Settings, reliability) -> None:
    landed_ids = publish(private, event_lines(400, DAY))
    assert run_lander(private).returncode == 0
    before = read_landed(private).files
    unread = publish(private, event_lines(600, DAY, start=1000))
    admin = kafka.admin(private)
    consumer = kafka.consumer(private, "chaos-retention-probe")
    topic = private.kafka_topic_events
    landed_until = _next_offsets(private)
    truncate = []
    for p in range(private.kafka_partitions):
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        truncate.append(TopicPartition(topic, p, high - 50))  # Kafka keeps only the last 50 of each partition
    consumer.close()
    for future in admin.delete_records(truncate, request_timeout=15).values():
        future.result()
    dropped = sum(tp.offset - landed_until[tp.partition] for tp in truncate)
    started = time.monotonic()
    resumed = run_lander(private, idle_exit_s=2.0)
    recover_s = time.monotonic() - started - 2.0
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "GAP: partition" in resumed.stderr
    assert before <= read_landed(private).files  # nothing deleted
    assert _stats(private)["gaps"] == dropped > 0
    verdict = check(private, landed_ids | unread)
    assert verdict.duplicated == 0
    assert verdict.lost == dropped  # exactly the dropped offsets, each reported in a gap record
    report = audit_day(private, DAY)
    assert sum(report.gaps.values()) == dropped and not report.balanced, report.summary()
    fs = hdfs.webhdfs(private)
    assert len(fs.list(gaps_dir(private))) == private.kafka_partitions
    reliability.record(
        fault="Kafka retention dropped offsets the lander never read",
        rounds=1,
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        recover_s=recover_s,
        notes=f"all {dropped} lost events reported as gaps (lander log, land status, audit); no file deleted",
    )


def _next_offsets(settings: Settings) -> list[int]:
    """Per partition, the offset after the last one landed (from the file names)."""
    fs = hdfs.webhdfs(settings)
    nxt = [0] * settings.kafka_partitions
    for root in data_roots(settings):
        if fs.status(root, strict=False) is None:
            continue
        for day in fs.list(root):
            for name in fs.list(f"{root}/{day}") if day.startswith("dt=") else []:
                parsed = parse_part_name(name)
                if parsed:
                    nxt[parsed[0]] = max(nxt[parsed[0]], parsed[2] + 1)
    return nxt


def test_poison_records_are_quarantined_and_landing_goes_on(private: Settings, reliability) -> None:
    acknowledged = publish(private, event_lines(300, DAY))
    good = json.loads(event_lines(1, DAY, start=9999)[0])
    ts = str(parse_time_ms(f"{DAY}T00:00:01.000Z")).encode()
    producer = Producer({"bootstrap.servers": private.kafka_bootstrap})
    topic = private.kafka_topic_events
    poison = [
        (None, [("dt", DAY.encode()), ("ts", ts)]),  # tombstone
        (b"{not json", [("dt", DAY.encode()), ("ts", ts)]),
        (b"[1, 2, 3]", [("dt", DAY.encode()), ("ts", ts)]),
        (json.dumps(good).encode(), None),  # no headers
        (json.dumps(good).encode(), [("dt", b"../x"), ("ts", ts)]),  # a path in the header
        (json.dumps(good).encode(), [("dt", DAY.encode()), ("ts", b"soon")]),
        (json.dumps({**good, "event_time": "2026-11-25T00:00:00.000Z"}).encode(), [("dt", DAY.encode()), ("ts", ts)]),
    ]
    for value, headers in poison:
        producer.produce(topic, value=value, key=b"poison", headers=headers)
    assert producer.flush(15) == 0
    acknowledged |= publish(private, event_lines(300, DAY, start=1000))
    result = run_lander(private)
    assert result.returncode == 0, result.stderr[-2000:]
    verdict = check(private, acknowledged, poison=len(poison))
    verdict.assert_clean()
    reasons = read_landed(private).reasons
    assert reasons == {"tombstone": 1, "not_json": 1, "not_an_object": 1, "missing_headers": 1,
                       "bad_headers": 2, "bad_event_time": 1}  # fmt: skip
    fs = hdfs.webhdfs(private)
    for root in data_roots(private):
        for name in fs.list(root) if fs.status(root, strict=False) else []:
            assert name.startswith("dt=") and is_date(name[3:]), name  # nothing of a record became a path
    today = time.strftime("%Y-%m-%d", time.gmtime())
    day_report, poison_report = audit_day(private, DAY), audit_day(private, today)
    assert day_report.balanced and day_report.produced == 600, day_report.summary()
    assert poison_report.balanced and poison_report.quarantined == len(poison), poison_report.summary()
    reliability.record(
        fault="poison records (tombstone, not JSON, not an object, no headers, bad dt/ts, wrong day)",
        rounds=len(poison),
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        quarantined=verdict.quarantined,
        notes="quarantined with reason and raw bytes; audit balances",
    )


def test_a_second_lander_refuses_and_a_fenced_one_writes_nothing(private: Settings, reliability) -> None:
    acknowledged = publish(private, event_lines(500, DAY))
    env = lander_env(private, lander_lease_ttl_s="4")
    first = subprocess.Popen(lander_cmd("--batch-max", "200"), env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _stats(private).get("landed", 0) == 500, 60, "the first lander to land")
        second = run_lander(private, lander_lease_ttl_s="4")
        assert second.returncode == 1 and "another lander" in second.stderr, second.stderr[-2000:]

        os.kill(first.pid, signal.SIGSTOP)  # paused past its lease: a new lander may take over
        time.sleep(5)
        acknowledged |= publish(private, event_lines(300, DAY, start=1000))
        started = time.monotonic()
        takeover = run_lander(private, idle_exit_s=2.0, lander_lease_ttl_s="4")
        recover_s = time.monotonic() - started - 2.0
        assert takeover.returncode == 0, takeover.stderr[-2000:]
        acknowledged |= publish(private, event_lines(200, DAY, start=2000))
        os.kill(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 1 and "taken over" in err, err[-2000:]
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGCONT)
            first.kill()
            first.wait()
    assert run_lander(private).returncode == 0
    verdict = check(private, acknowledged)
    verdict.assert_clean()
    assert audit_day(private, DAY).balanced
    reliability.record(
        fault="two landers for one topic (a second start; a paused holder taken over, then resumed)",
        rounds=2,
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        recover_s=recover_s,
        notes="the second refuses while the lease is live; the fenced one exits without writing",
    )


def test_a_paused_namenode_delays_landing_and_loses_nothing(private: Settings, reliability) -> None:
    namenode = ManagedProcess("hdfs-namenode", private.run_dir, private.logs_dir).pid()
    assert namenode is not None
    lander = subprocess.Popen(lander_cmd("--batch-max", "300"), env=lander_env(private), stderr=subprocess.PIPE)
    acknowledged: set[str] = set()

    def traffic() -> None:
        for i in range(6):
            acknowledged.update(publish(private, event_lines(500, DAY, start=i * 1000)))
            time.sleep(1)

    producer = threading.Thread(target=traffic)
    try:
        _wait(lambda: _stats(private).get("batches", 0) > 0 or _stats(private).get("resumed_at"), 60, "the lander")
        producer.start()
        time.sleep(1.5)
        os.kill(namenode, signal.SIGSTOP)
        time.sleep(8)
        os.kill(namenode, signal.SIGCONT)
        resumed = time.monotonic()
        producer.join(timeout=60)
        _wait(lambda: _stats(private).get("landed", 0) >= 3000, 90, "every event to land")
        recover_s = time.monotonic() - resumed
        assert lander.poll() is None, "the lander died while the NameNode was paused"
    finally:
        os.kill(namenode, signal.SIGCONT)
        lander.terminate()
        lander.wait(timeout=60)
    verdict = check(private, acknowledged)
    verdict.assert_clean()
    assert audit_day(private, DAY).balanced
    reliability.record(
        fault="HDFS NameNode paused 8 s (SIGSTOP) while the lander writes",
        rounds=1,
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        recover_s=recover_s,
        notes="WebHDFS calls wait for the NameNode; landing resumes",
    )


def test_events_later_than_days_late_allowed_are_quarantined_across_a_restart(private: Settings, reliability) -> None:
    acknowledged = publish(private, event_lines(100, DAY))
    acknowledged |= publish(private, event_lines(10, "2026-11-23"))  # the watermark passes D's end + 1 day
    assert run_lander(private).returncode == 0
    late_ok = publish(private, event_lines(5, "2026-11-22", start=500))  # its day is open: it lands
    too_late = publish(private, event_lines(5, DAY, start=500))
    result = run_lander(private)  # a new process: its watermark comes back from D's completion marker
    assert result.returncode == 0, result.stderr[-2000:]
    verdict = check(private, acknowledged | late_ok, poison=len(too_late))
    verdict.assert_clean()
    assert read_landed(private).reasons == {"too_late": 5}
    report = audit_day(private, DAY)
    assert report.balanced and (report.produced, report.landed, report.quarantined) == (105, 100, 5), report
    reliability.record(
        fault=f"events of a day more than days_late_allowed ({private.days_late_allowed}) days late, after a restart",
        rounds=1,
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        quarantined=verdict.quarantined,
        notes="quarantined as too_late, counted in audit; never silently dropped",
    )
