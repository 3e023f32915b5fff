"""The supervisor of long-running jobs, with real child processes: restarts with backoff, causes, crash
loops, clean stops that stay stopped, and no orphans when the supervisor itself is killed."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from websessions.settings import REPO_ROOT
from websessions.stack.process import ManagedProcess, ProcessSpec, start_time
from websessions.stack.supervisor import SupervisorSpec, SupervisorState, describe_exit, last_error_line


class Supervised:
    """A supervisor started like ``BackgroundJob`` does, for any child program."""

    def __init__(self, tmp_path: Path, script: str, **policy: float):
        self.spec = SupervisorSpec(
            name="job",
            argv=[sys.executable, "-c", script],
            state_file=tmp_path / "run" / "job.supervisor.json",
            log_file=tmp_path / "logs" / "job.log",
            **{"backoff_initial_s": 0.2, "backoff_max_s": 1.0, "crash_loop_restarts": 5, "stop_timeout_s": 5, **policy},
        )
        self.process = ManagedProcess("job", tmp_path / "run", tmp_path / "logs", stop_timeout_s=15)
        argv = [sys.executable, "-m", "websessions.stack.supervisor", self.spec.to_json()]
        self.pid = self.process.start(ProcessSpec("job", argv, env={"PYTHONUNBUFFERED": "1"}, cwd=REPO_ROOT))

    def state(self) -> SupervisorState:
        state = SupervisorState.read(self.spec.state_file)
        assert state is not None
        return state

    def wait(self, what: str, predicate: Callable[[SupervisorState], object], timeout_s: float = 20) -> SupervisorState:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = SupervisorState.read(self.spec.state_file)
            if state is not None and predicate(state):
                return state
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; state {SupervisorState.read(self.spec.state_file)}")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    started: list[Supervised] = []

    def start(script: str, **policy: float) -> Supervised:
        started.append(Supervised(tmp_path, script, **policy))
        return started[-1]

    yield start
    for job in started:
        job.process.stop()


def _alive(pid: int) -> bool:
    return start_time(pid) is not None and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


SLEEPER = "import time; print('up', flush=True); time.sleep(300)"


def test_a_failing_job_is_restarted_with_growing_backoff_and_its_exit_code_and_error_line_recorded(
    supervised,
) -> None:
    job = supervised("import sys; print('ValueError: the disk is full', file=sys.stderr); sys.exit(3)")
    state = job.wait("three restarts", lambda s: s.restarts >= 3)
    assert state.last_cause == "exit code 3"
    assert state.last_error == "ValueError: the disk is full"
    gaps = [b - a for a, b in zip(state.recent_crashes, state.recent_crashes[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # 0.2 s, then 0.4 s (plus the child's own run time)
    assert "died (exit code 3)" in job.process.log_tail(50)


def test_a_kill_9_of_the_child_is_restarted_and_what_it_left_in_the_group_is_killed(supervised, tmp_path) -> None:
    marker = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, time, pathlib; p = subprocess.Popen(['sleep', '300']);"
        f" pathlib.Path({str(marker)!r}).write_text(str(p.pid)); time.sleep(300)"
    )
    job = supervised(script)
    first = job.wait("the child", lambda s: s.live_child_pid() and marker.exists()).child_pid
    grandchild = int(marker.read_text())
    marker.unlink()
    os.kill(first, signal.SIGKILL)
    state = job.wait("a restart", lambda s: s.restarts == 1 and s.live_child_pid())
    assert state.last_cause == "killed by SIGKILL"
    assert state.child_pid != first and state.state == "running"
    assert not _alive(grandchild)  # the killed child's own child (like the speed layer's JVM) is gone


def test_a_stop_stops_the_child_and_is_not_restarted(supervised) -> None:
    job = supervised(SLEEPER)
    child = job.wait("the child", lambda s: s.live_child_pid()).child_pid
    assert job.process.stop() is True
    state = job.state()
    assert (state.state, state.restarts, state.last_cause) == ("stopped", 0, None)
    assert not _alive(child)
    assert not _alive(job.pid)


def test_a_stop_during_the_backoff_ends_the_supervisor_without_another_start(supervised) -> None:
    job = supervised("import sys; sys.exit(1)", backoff_initial_s=30.0, backoff_max_s=30.0)
    job.wait("the first crash", lambda s: s.state == "backing-off")
    started = time.monotonic()
    assert job.process.stop() is True
    assert time.monotonic() - started < 5
    assert job.state().state == "stopped" and job.state().restarts == 0


def test_a_crash_loop_backs_off_at_the_maximum_and_says_so(supervised) -> None:
    job = supervised("import sys; sys.exit(2)", crash_loop_restarts=3, backoff_max_s=1.5)
    state = job.wait("a crash loop", lambda s: s.state == "crash-loop")
    assert len(state.recent_crashes) == 3
    assert state.next_start_at - state.last_exit_at == pytest.approx(1.5)
    assert "crash-loop" in state.summary() and "backing off at the maximum" in state.summary()


def test_the_child_dies_with_a_killed_supervisor(supervised) -> None:
    job = supervised(SLEEPER)
    child = job.wait("the child", lambda s: s.live_child_pid()).child_pid
    os.kill(job.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    assert "supervisor gone" in job.state().summary()


def test_backoff_doubles_up_to_the_maximum_and_stays_there_in_a_crash_loop() -> None:
    spec = SupervisorSpec("x", [], Path("s"), Path("l"), backoff_initial_s=1, backoff_max_s=10, crash_loop_restarts=6)
    assert [spec.backoff_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 10, 10, 10]
    spec = SupervisorSpec("x", [], Path("s"), Path("l"), backoff_initial_s=1, backoff_max_s=60, crash_loop_restarts=3)
    assert [spec.backoff_s(n) for n in range(1, 5)] == [1, 2, 60, 60]


def test_exit_causes_name_the_signal_or_the_code() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(0).startswith("exit code 0")


def test_the_last_error_line_is_read_from_what_the_child_wrote(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("old run\nRuntimeError: an older failure\n")
    offset = log.stat().st_size
    with log.open("a") as handle:
        handle.write(
            "Traceback (most recent call last):\n  File 'x.py', line 1\n"
            "BrokenPipeError: [Errno 32] Broken pipe\nsupervisor: 2026 job: child 1 died (exit code 1)\n"
        )
    assert last_error_line(log, offset) == "BrokenPipeError: [Errno 32] Broken pipe"
    assert last_error_line(log, log.stat().st_size) is None
