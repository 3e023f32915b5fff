"""An endless session with a new url on every event, through the real speed layer with small state caps:
its checkpoints stop growing, a kill -9 of the job restores it from its checkpoint, and the closed session
is exact where the rule says it stays exact (events, start, end) and capped where it says so (pages).

The live top lists are off here: their state is bounded by another rule (at most
``speed_top_max_items_per_minute`` items per host, minute and list, for the minutes of the last hour), so
with a new url a second it grows for an hour of event time, which says nothing about the session state."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

from streaming.runner import checkpoint_root
from tests.chaos.ledger import publish
from tests.chaos.pipeline import private_pipeline, publish_sentinels, speed_job, speed_sessions, speed_stats
from tests.integration.datasets import wait_for

CAP = 50
EVENTS = 6_000
START = "2026-11-15T00:00:00"


def endless_session(first: int, n: int) -> list[str]:
    """One user, one event a second (far inside the timeout), a new url and id each time."""
    lines = []
    for i in range(first, first + n):
        ts = f"2026-11-15T{i // 3600:02d}:{i % 3600 // 60:02d}:{i % 60:02d}.000Z"
        lines.append(json.dumps({"event_time": ts, "ip": "10.5.5.5", "host": "www.dataexpert.io",
                                 "url": f"/article/{i}", "event_id": f"endless-{i}"}))  # fmt: skip
    return lines


def newest_checkpoint_after(root: Path, since: float) -> Path:
    def found() -> Path | None:
        done = [m.parent for m in root.glob("*/chk-*/_metadata") if m.stat().st_mtime > since]
        return max(done, key=lambda p: p.stat().st_mtime, default=None)

    return wait_for("a checkpoint after the events were read", found, 60, 0.5)


def size(checkpoint: Path) -> int:
    return sum(f.stat().st_size for f in checkpoint.rglob("*") if f.is_file())


def test_an_endless_session_keeps_state_bounded_and_restores_after_kill_9(stack, reliability) -> None:
    with private_pipeline(stack("kafka", "hdfs", "hbase"), "bounded") as base:
        settings = dataclasses.replace(
            base, speed_max_ids_per_session=CAP, speed_max_urls_per_session=CAP, speed_top_lists=False
        )
        job = speed_job(settings)
        job.start()
        try:
            half = EVENTS // 2
            publish(settings, endless_session(0, half))
            wait_for("the first half to be read", lambda: speed_stats(settings).get("records", 0) >= half, 240)
            size_half = size(newest_checkpoint_after(checkpoint_root(settings), time.time()))

            child = job.child_pid()
            os.kill(child, signal.SIGKILL)
            killed_at = time.monotonic()
            wait_for("the restart", lambda: (s := job.supervision()) and s.restarts == 1 and s.live_child_pid(), 30)
            publish(settings, endless_session(half, EVENTS - half))
            wait_for("every event to be read", lambda: speed_stats(settings).get("records", 0) >= EVENTS, 240)
            recover_s = time.monotonic() - killed_at
            size_full = size(newest_checkpoint_after(checkpoint_root(settings), time.time()))

            publish_sentinels(settings, "endless-sentinel")
            sessions = wait_for("the session to close", lambda: speed_sessions(settings), 120, 1)
        finally:
            job.stop()
    assert len(sessions) == 1, sessions  # restored, not split by the crash
    session = sessions[0]
    assert session["events"] == EVENTS  # exact beyond the caps
    assert (session["start"], session["end"]) == (f"{START}.000Z", "2026-11-15T01:39:59.000Z")
    assert (session["first_url"], session["last_url"]) == ("/article/0", f"/article/{EVENTS - 1}")
    assert session["pages"] == CAP  # min(distinct urls, cap), as docs/sessions.md says
    # 3,000 more urls and ids in the open session: the snapshot does not grow with them.
    assert size_full - size_half < 20_000, (size_half, size_full)
    reliability.record(
        fault=f"an endless session ({EVENTS} unique urls, caps {CAP}) and a kill -9 of the speed layer",
        rounds=1,
        acknowledged=EVENTS,
        lost=max(EVENTS - session["events"], 0),
        duplicated=max(session["events"] - EVENTS, 0),
        recover_s=recover_s,
        notes=f"checkpoint {size_half} B after {EVENTS // 2} events, {size_full} B after {EVENTS}; pages capped",
    )
