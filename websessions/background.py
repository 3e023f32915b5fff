"""Long-running product jobs (the raw lander, the speed layer) as pid-managed background processes.

They run detached like the stack's services: pid files under ``.stack/run``, logs under
``.stack/logs``, stopped by pid (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import sys

from websessions.settings import Settings
from websessions.stack.process import ManagedProcess, ProcessSpec


class BackgroundJob:
    """``websessions <args>`` run detached under ``name``."""

    def __init__(self, settings: Settings, name: str, args: list[str], stop_timeout_s: float = 60.0):
        self.settings = settings
        self.name = name
        self.args = args
        self.process = ManagedProcess(name, settings.run_dir, settings.logs_dir, stop_timeout_s=stop_timeout_s)

    def start(self) -> tuple[int, bool]:
        """Start unless running; returns (pid, started_now)."""
        pid = self.process.pid()
        if pid is not None:
            return pid, False
        argv = [sys.executable, "-m", "websessions.cli", *self.args]
        env = {**self.settings.as_env(), "PYTHONUNBUFFERED": "1"}
        spec = ProcessSpec(self.name, argv, env=env, cwd=os.getcwd())
        return self.process.start(spec), True

    def stop(self) -> bool:
        return self.process.stop()

    def pid(self) -> int | None:
        return self.process.pid()
