"""kill -9 of a supervised job's process (the child, not its supervisor): the supervisor brings it back,
counts the restart with its cause, and the invariants hold — every acknowledged event lands exactly once
in HDFS, and the speed layer's sessions are exactly the reference sessionizer's over the same events.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.chaos.ledger import check, event_lines, publish
from tests.chaos.pipeline import (
    lander_job,
    lander_stats,
    private_pipeline,
    publish_sentinels,
    record,
    reference_sessions,
    session_lines,
    speed_job,
    speed_sessions,
    speed_stats,
    wait_all_landed,
    wait_for,
)
from websessions.background import BackgroundJob
from websessions.settings import Settings

DAY = "2026-11-20"


@pytest.fixture
def lander_only(stack) -> Iterator[Settings]:
    with private_pipeline(stack("kafka", "hdfs", "hbase"), "superv") as settings:
        yield settings


@pytest.fixture
def pipeline(stack) -> Iterator[Settings]:
    with private_pipeline(stack("kafka", "hdfs", "hbase"), "supervs") as settings:
        yield settings


def kill_child(job: BackgroundJob) -> tuple[int, float]:
    """SIGKILL the job's own process (its supervisor stays); returns its pid and when."""
    child = job.child_pid()
    assert child is not None and child != job.pid()
    os.kill(child, signal.SIGKILL)
    return child, time.monotonic()


def wait_restarted(job: BackgroundJob, killed: int, restarts: int) -> None:
    """Until the supervisor has counted ``restarts`` and runs a new child."""

    def restarted() -> bool:
        state = job.supervision()
        return bool(state and state.restarts == restarts and (child := state.live_child_pid()) and child != killed)

    wait_for(f"the supervisor to restart {job.name}", restarted, 30, 0.1)


def test_the_supervisor_restarts_a_kill_9d_lander_and_every_event_lands_exactly_once(lander_only, reliability):
    settings = lander_only
    job = lander_job(settings)
    supervisor_pid, _ = job.start()
    acknowledged: set[str] = set()
    recover: list[float] = []
    rounds = 3
    try:
        for round_ in range(rounds):
            lines = event_lines(2000, DAY, start=round_ * 2000)
            acknowledged |= publish(settings, lines[:1000])
            wait_for("the lander to land something", lambda: lander_stats(settings).get("landed", 0) > 0, 60, 0.2)
            killed, at = kill_child(job)
            acknowledged |= publish(settings, lines[1000:])  # produced while the lander is down
            wait_restarted(job, killed, round_ + 1)
            wait_all_landed(settings, acknowledged, 90)
            recover.append(time.monotonic() - at)
        state = job.supervision()
        assert (state.restarts, state.last_cause, job.pid()) == (rounds, "killed by SIGKILL", supervisor_pid)
    finally:
        job.stop()
    verdict = check(settings, acknowledged)
    record(
        reliability,
        "kill -9 of the supervised lander's process",
        rounds,
        verdict,
        max(recover),
        f"restarted by its supervisor {rounds}x (cause SIGKILL); recovery = kill to all landed",
    )
    verdict.assert_clean()
    assert job.supervision().state == "stopped"


def test_the_supervisor_restarts_a_kill_9d_speed_layer_and_lander_and_both_cover_every_event(pipeline, reliability):
    settings = pipeline
    speed, lander = speed_job(settings), lander_job(settings)
    speed.start()
    lander.start()
    try:
        first = session_lines(3000, DAY, start=0)
        acknowledged = publish(settings, first)
        wait_for("the speed layer to read the events", lambda: speed_stats(settings).get("records", 0) >= 3000, 90)
        wait_for("the lander to land something", lambda: lander_stats(settings).get("landed", 0) > 0, 30)
        killed_speed, at = kill_child(speed)
        killed_lander, _ = kill_child(lander)
        second = session_lines(3000, DAY, start=3000)
        acknowledged |= publish(settings, second)
        wait_restarted(speed, killed_speed, 1)
        wait_restarted(lander, killed_lander, 1)
        restart_s = time.monotonic() - at
        acknowledged |= publish_sentinels(settings, "s")
        expected = reference_sessions(settings, first + second)
        wait_for("the speed sessions to be the reference's", lambda: speed_sessions(settings) == expected, 120, 1)
        wait_all_landed(settings, acknowledged, 60)
        recover_s = time.monotonic() - at
        for job in (speed, lander):
            assert job.supervision().last_cause == "killed by SIGKILL"
        assert max(s["events"] for s in expected) > 10  # sessions of many events, cut by the kill
        assert speed_stats(settings)["job_status"] == "RUNNING"
    finally:
        speed.stop()
        lander.stop()
    verdict = check(settings, acknowledged)
    record(
        reliability,
        "kill -9 of the supervised speed layer's and lander's processes",
        1,
        verdict,
        recover_s,
        f"both restarted by their supervisors in {restart_s:.1f}s; speed sessions = reference"
        f" ({len(expected)} sessions); recovery = kill to sessions closed and all landed",
    )
    verdict.assert_clean()
