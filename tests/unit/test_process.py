"""Managed processes: pid files that survive pid reuse, group stop, log capture."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from websessions.stack.process import ManagedProcess, ProcessSpec


def _managed(tmp_path: Path, name: str = "sleeper", stop_signal: int = signal.SIGTERM) -> ManagedProcess:
    return ManagedProcess(name, tmp_path / "run", tmp_path / "logs", stop_signal, stop_timeout_s=5)


def test_start_writes_pid_and_log_and_stop_ends_the_whole_group(tmp_path: Path) -> None:
    proc = _managed(tmp_path)
    # A parent that starts a child in the same group, prints, and waits.
    script = "import subprocess,sys,time; subprocess.Popen(['sleep','60']); print('ready', flush=True); time.sleep(60)"
    pid = proc.start(ProcessSpec("sleeper", [sys.executable, "-c", script]))
    assert proc.pid() == pid
    for _ in range(50):
        if "ready" in proc.log_tail():
            break
        time.sleep(0.1)
    assert "ready" in proc.log_tail()
    children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _pgid(p) == pid]
    assert len(children) >= 2
    assert proc.stop() is True
    os.waitpid(pid, 0)
    assert proc.pid() is None
    assert not proc.pid_file.exists()
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _pgid(p) == pid and _alive(p)]


def test_a_process_ignoring_its_stop_signal_is_killed(tmp_path: Path) -> None:
    proc = ManagedProcess("stubborn", tmp_path / "run", tmp_path / "logs", signal.SIGTERM, stop_timeout_s=1)
    script = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('x', flush=True); time.sleep(60)"
    pid = proc.start(ProcessSpec("stubborn", [sys.executable, "-c", script]))
    time.sleep(0.5)
    started = time.monotonic()
    assert proc.stop() is True
    os.waitpid(pid, 0)
    assert time.monotonic() - started < 10
    assert proc.pid() is None


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    proc = _managed(tmp_path)
    proc.pid_file.parent.mkdir(parents=True)
    # Our own pid with a wrong start time: a pid that was reused by another process.
    proc.pid_file.write_text(f"{os.getpid()} 1\n")
    assert proc.pid() is None
    assert not proc.pid_file.exists()
    assert proc.stop() is False


def test_stop_of_a_process_that_never_ran_is_a_no_op(tmp_path: Path) -> None:
    assert _managed(tmp_path).stop() is False


def _stat(p: Path) -> list[str]:
    try:
        return (p / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ["X", "0", "0"]


def _pgid(p: Path) -> int:
    return int(_stat(p)[2])


def _alive(p: Path) -> bool:
    return _stat(p)[0] not in ("Z", "X")
