"""``land status`` and ``speed status`` print the read models' state (``pipeline_state.lander_state``,
``live_view.speed_state``): the counters of the job's progress record, the last complete day from HDFS,
the Flink job's id; exit 3 while the job is not running.

Private stack directory and topic name: the progress records are this test's, HDFS is the running one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from websessions.commands import exit_codes


def _status(env: dict[str, str], command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "websessions.cli", command, "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_land_and_speed_status_show_their_read_models(stack, tmp_path: Path) -> None:
    stack("hdfs")
    uid = uuid.uuid4().hex[:8]
    topic = f"test_cli_status_{uid}"
    run_dir = tmp_path / "stack" / "run"
    run_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "WEBSESSIONS_STACK_DIR": str(tmp_path / "stack"),
        "WEBSESSIONS_KAFKA_TOPIC_EVENTS": topic,
        "WEBSESSIONS_RAW_EVENTS_DIR": f"/test/cli_status_{uid}/raw",  # never created: no complete day
    }
    lander = {"landed": 12, "late": 3, "quarantined": 1, "gaps": 0, "files": 2, "batches": 1, "lag": {"0": 4, "1": 5}}
    (run_dir / f"lander-{topic}.json").write_text(json.dumps(lander))
    speed = {"updated_at": time.time(), "job_id": f"job{uid}", "job_status": "RUNNING", "records": 40, "late": 2,
             "invalid": 1, "undecodable": 0, "sessions_closed": 7, "open_sessions": 5, "updates": 30}  # fmt: skip
    (run_dir / f"speed-{topic}.json").write_text(json.dumps(speed))

    land = _status(env, "land")
    assert land.returncode == exit_codes.NOT_RUNNING, land.stderr
    first, supervised, progress = land.stdout.splitlines()
    assert first == "lander stopped"
    assert supervised == "  supervised: never started"
    assert "landed 12, late 3, quarantined 1, gaps 0, files 2, batches 1;" in progress
    assert "9 events not landed yet; last complete day none" in progress

    speed_run = _status(env, "speed")
    assert speed_run.returncode == exit_codes.NOT_RUNNING, speed_run.stderr
    first, supervised, state, counters = speed_run.stdout.splitlines()
    assert first == f"speed layer stopped; job job{uid} RUNNING"
    assert state.startswith("  speed layer: running, last progress")
    assert counters == "  records 40, late 2, invalid 1, undecodable 0, sessions closed 7, open sessions 5, updates 30"
