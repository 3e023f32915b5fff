"""kill -9 of HBase (standalone: master, region server and ZooKeeper are one process) while the speed layer
writes into it: the job's HBase sink fails its writes once the client's retries are spent, the job fails and
restarts from its last checkpoint (the sink flushed every update before that checkpoint's barrier), and once
HBase is back nothing is lost and each session is closed once: the speed layer's sessions equal the reference
sessionizer's over the same events.

HBase is shared by the whole stack: this suite is run alone (never beside other tests).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import psutil
import pytest

from tests.chaos.ledger import publish
from tests.chaos.pipeline import (
    private_pipeline,
    publish_sentinels,
    reference_sessions,
    session_lines,
    speed_job,
    speed_sessions,
    speed_stats,
    wait_for,
)
from websessions.settings import Settings
from websessions.stack import manager
from websessions.stores.hbase_sessions import HBaseSessions

DAY = "2026-11-21"


@pytest.fixture
def pipeline(stack) -> Iterator[Settings]:
    with private_pipeline(stack("kafka", "hdfs", "hbase"), "hbkill") as settings:
        yield settings


def hbase_pid(settings: Settings) -> int:
    return int((settings.run_dir / "hbase-master.pid").read_text().split()[0])


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie (when this test session started HBase, it is its parent)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def hbase_answers(settings: Settings) -> bool:
    try:
        with HBaseSessions(settings) as store:
            store.speed_progress()
        return True
    except Exception:
        return False


def test_a_kill_9_of_hbase_mid_stream_loses_nothing_and_closes_each_session_once(pipeline, reliability):
    settings = pipeline
    speed = speed_job(settings)
    speed.start()
    try:
        first = session_lines(3000, DAY, start=0, tag="hb")
        acknowledged = publish(settings, first)
        wait_for("the speed layer to read the events", lambda: speed_stats(settings).get("records", 0) >= 3000, 120)
        killed = hbase_pid(settings)
        os.kill(killed, signal.SIGKILL)
        at = time.monotonic()
        wait_for("HBase to be gone", lambda: gone(killed), 30, 0.2)
        second = session_lines(3000, DAY, start=3000, tag="hb")
        acknowledged |= publish(settings, second)  # the job reads on while its writes fail
        time.sleep(10)
        manager.up(settings, only=["hbase"])
        wait_for("HBase to answer again", lambda: hbase_answers(settings), 180, 1)
        back_s = time.monotonic() - at
        acknowledged |= publish_sentinels(settings, "hb")
        expected = reference_sessions(settings, first + second)
        wait_for("the speed sessions to be the reference's", lambda: speed_sessions(settings) == expected, 300, 2)
        recover_s = time.monotonic() - at
        assert max(s["events"] for s in expected) > 10  # sessions of many events, cut by the outage
        got = speed_sessions(settings)
        assert got == expected  # each session once: a second closed row would be listed twice
        counted, wanted = sum(s["events"] for s in got), sum(s["events"] for s in expected)
        assert speed.pid() is not None and speed_stats(settings)["job_status"] == "RUNNING"
    finally:
        speed.stop()
    # No lander here: what the speed layer holds is the count (its sessions equal the reference's above).
    reliability.record(
        fault="kill -9 of HBase (standalone) while the speed layer writes",
        rounds=1,
        acknowledged=len(acknowledged),
        lost=max(0, wanted - counted),
        duplicated=max(0, counted - wanted),
        recover_s=recover_s,
        notes=f"speed layer only; HBase answering again {back_s:.1f}s after the kill; speed sessions = reference"
        f" ({len(expected)} sessions of {len(first) + len(second)} events, each closed once)",
    )
