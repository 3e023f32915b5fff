"""Long-running product jobs (the raw lander, the speed layer, the collector) as supervised background processes.

They run detached like the stack's services — pid files under ``.stack/run``, logs under
``.stack/logs``, stopped by pid (SIGTERM, then SIGKILL after a grace period) — and under a
supervisor (:mod:`websessions.stack.supervisor`): the pid file is the supervisor's, which runs
``websessions <args>`` as its child and restarts it with backoff when it dies without being asked to
stop. ``<run_dir>/<name>.supervisor.json`` says how often and why.
"""

from __future__ import annotations

import os
import sys

from websessions.settings import Settings
from websessions.stack import supervisor
from websessions.stack.process import ManagedProcess, ProcessSpec


class BackgroundJob:
    """``websessions <args>`` run detached and supervised under ``name``."""

    def __init__(self, settings: Settings, name: str, args: list[str], stop_timeout_s: float = 60.0):
        self.settings = settings
        self.name = name
        self.args = args
        # The supervisor gives its child the grace, the stack's stop a little more to let it do so.
        self.stop_timeout_s = stop_timeout_s
        self.process = ManagedProcess(name, settings.run_dir, settings.logs_dir, stop_timeout_s=stop_timeout_s + 10)
        self.state_file = settings.run_dir / f"{name}.supervisor.json"

    def start(self) -> tuple[int, bool]:
        """Start the supervisor (which starts the job) unless it runs; returns (supervisor pid, started_now)."""
        pid = self.process.pid()
        if pid is not None:
            return pid, False
        s = self.settings
        spec = supervisor.SupervisorSpec(
            name=self.name,
            argv=[sys.executable, "-m", "websessions.cli", *self.args],
            state_file=self.state_file,
            log_file=self.process.log_file,
            backoff_initial_s=s.supervisor_backoff_initial_s,
            backoff_max_s=s.supervisor_backoff_max_s,
            crash_loop_restarts=s.supervisor_crash_loop_restarts,
            crash_loop_window_s=s.supervisor_crash_loop_window_s,
            stop_timeout_s=self.stop_timeout_s,
        )
        argv = [sys.executable, "-m", supervisor.__name__, spec.to_json()]
        env = {**s.as_env(), "PYTHONUNBUFFERED": "1"}
        self.state_file.unlink(missing_ok=True)  # restarts are counted per start
        return self.process.start(ProcessSpec(self.name, argv, env=env, cwd=os.getcwd())), True

    def stop(self) -> bool:
        """Stop the job and its supervisor (a stop is never restarted); True if it was running."""
        return self.process.stop()

    def pid(self) -> int | None:
        """The supervisor's pid while it runs."""
        return self.process.pid()

    def child_pid(self) -> int | None:
        """The pid of the job itself (the supervisor's child) while it runs."""
        state = self.supervision()
        return state.live_child_pid() if state else None

    def supervision(self) -> supervisor.SupervisorState | None:
        """The supervisor's record: state, restarts, last cause (None before the first start)."""
        return supervisor.SupervisorState.read(self.state_file)

    def status_line(self) -> str:
        state = self.supervision()
        return state.summary() if state else "supervised: never started"
