"""`websessions ingest` when Kafka cannot be reached: a bounded wait, one line, a non-zero exit.

No service is needed: the command is pointed at a port nobody listens on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_kafka_fails_ingest_in_bounded_time_with_one_line(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    event = {"event_time": "2026-11-20T10:15:30.123Z", "ip": "10.0.0.1", "host": "a.io", "url": "/"}
    events.write_text("".join(json.dumps({**event, "event_id": f"e{i}"}) + "\n" for i in range(20)))
    env = {
        **os.environ,
        "WEBSESSIONS_STACK_DIR": str(tmp_path / "stack"),
        "WEBSESSIONS_KAFKA_PORT": str(_closed_port()),
        "WEBSESSIONS_INGEST_DELIVERY_TIMEOUT_S": "2",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "websessions.cli", "ingest", str(events)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert time.monotonic() - started < 15
    assert proc.returncode == 4  # exit_codes.UNREACHABLE
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: kafka at 127.0.0.1:{env['WEBSESSIONS_KAFKA_PORT']} is unreachable"), line
    assert "acknowledged before the failure: 0 events" in line
