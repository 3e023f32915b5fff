"""The supervisor of one long-running product job (the raw lander, the speed layer, the collector).

``BackgroundJob.start`` runs ``python -m websessions.stack.supervisor '<spec>'`` detached, with the
job's pid file and log (``ManagedProcess``). The supervisor starts the job as its child, waits for it,
and when the child dies without having been asked to stop — a non-zero exit, a signal such as
``kill -9``, or an exit 0 nobody asked for — it restarts it after an exponential backoff
(``supervisor_backoff_initial_s``, doubling, at most ``supervisor_backoff_max_s``). After
``supervisor_crash_loop_restarts`` crashes within ``supervisor_crash_loop_window_s`` it keeps
restarting at the maximum backoff and reports a crash loop, so a job that cannot run is visible,
never silent. It is the local stand-in for what systemd's ``Restart=always`` or an orchestrator's
restart policy does on a cluster.

What it knows is written to ``<run_dir>/<name>.supervisor.json`` (:class:`SupervisorState`): the
child's pid, restarts, the last cause (exit code or signal) and the last error line the child
wrote to the log, read by ``land|speed|collect status`` and ``stack status``.

Processes. The supervisor leads its own process group (``ManagedProcess`` starts it in a new
session); the child and its children (the speed layer's JVM) stay in that group, so ``stop``
signals the whole group exactly as before supervision: the child gets SIGTERM and stops cleanly,
and the supervisor, seeing that a stop was asked for, does not restart it. When the child dies on
its own, whatever it left in the group (a JVM whose Python parent was killed) is killed before the
next start. The child dies with the supervisor (``PR_SET_PDEATHSIG``), so a ``kill -9`` of the
supervisor leaves no unsupervised job behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from websessions.stack.process import die_with_parent, group_members, is_running, start_time

#: The names ``websessions land|speed|collect start`` give their jobs: ``stack status`` always lists them.
PRODUCT_JOBS = ("lander", "speed", "collector")
#: Lines of a child's log that say what went wrong: a Python exception, a logged error, a CLI error.
ERROR_LINE = re.compile(r"^\w+(\.\w+)*(Error|Exception|Exit|Interrupt)\b|\bERROR\b|^error:|Traceback")
#: At most this much of the end of the log is searched for the last error line.
LOG_TAIL_BYTES = 256 * 1024


@dataclass(frozen=True)
class SupervisorSpec:
    """What to run and the restart policy (from settings, see :meth:`from_settings`)."""

    name: str
    argv: list[str]
    state_file: Path
    log_file: Path
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    crash_loop_restarts: int = 5
    crash_loop_window_s: float = 300.0
    stop_timeout_s: float = 60.0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "state_file": str(self.state_file), "log_file": str(self.log_file)})

    @classmethod
    def from_json(cls, raw: str) -> SupervisorSpec:
        values = json.loads(raw)
        return cls(**{**values, "state_file": Path(values["state_file"]), "log_file": Path(values["log_file"])})

    def backoff_s(self, recent_crashes: int) -> float:
        """The wait before the next start after the ``recent_crashes``-th crash within the window."""
        if recent_crashes >= self.crash_loop_restarts:
            return self.backoff_max_s
        return min(self.backoff_max_s, self.backoff_initial_s * 2 ** max(recent_crashes - 1, 0))


@dataclass
class SupervisorState:
    """The supervisor's record of its job (``<run_dir>/<name>.supervisor.json``)."""

    name: str
    supervisor_pid: int
    supervisor_start: str | None
    state: str = "starting"  # running | backing-off | crash-loop | stopping | stopped
    child_pid: int | None = None
    child_start: str | None = None
    last_start: float | None = None
    restarts: int = 0
    recent_crashes: list[float] = field(default_factory=list)
    last_cause: str | None = None
    last_error: str | None = None
    last_exit_at: float | None = None
    next_start_at: float | None = None

    @classmethod
    def read(cls, path: Path) -> SupervisorState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)

    @property
    def supervisor_alive(self) -> bool:
        return is_running(self.supervisor_pid, self.supervisor_start)

    def live_child_pid(self) -> int | None:
        """The child's pid while that very process runs (a recycled pid is not taken for it)."""
        if self.child_pid is None or not self.supervisor_alive:
            return None
        return self.child_pid if is_running(self.child_pid, self.child_start) else None

    def summary(self) -> str:
        """One line for ``status``: what runs, how often it was restarted and why it last died."""
        if not self.supervisor_alive:
            shown = "stopped" if self.state == "stopped" else "supervisor gone (killed?)"
        elif self.state == "running":
            shown = f"running (child pid {self.child_pid}, since {_clock(self.last_start)})"
        elif self.state in ("backing-off", "crash-loop"):
            wait = max(0.0, (self.next_start_at or 0) - time.time())
            shown = f"{self.state}: next start in {wait:.0f}s"
            if self.state == "crash-loop":
                shown += f" ({len(self.recent_crashes)} crashes in the window, backing off at the maximum)"
        else:
            shown = self.state
        line = f"supervised: {shown}; restarts {self.restarts}"
        if self.last_cause:
            line += f"; last cause: {self.last_cause} at {_clock(self.last_exit_at)}"
            if self.last_error:
                line += f"; last error: {self.last_error}"
        return line


def job_states(run_dir: Path) -> list[SupervisorState]:
    """The product jobs' records, and those of any other supervised job that runs now (e.g. a test's)."""
    states = []
    for path in sorted(run_dir.glob("*.supervisor.json")):
        state = SupervisorState.read(path)
        if state is not None and (state.name in PRODUCT_JOBS or state.supervisor_alive):
            states.append(state)
    return states


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if returncode == 0:
        return "exit code 0 (exited without being asked to stop)"
    return f"exit code {returncode}"


def last_error_line(log_file: Path, since_offset: int) -> str | None:
    """The last line that reads like an error in what the child wrote after ``since_offset``."""
    try:
        with open(log_file, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(since_offset, size - LOG_TAIL_BYTES))
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    found = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("supervisor:") and ERROR_LINE.search(stripped):
            found = stripped
    return found[:300] if found else None


class Supervisor:
    """Runs :class:`SupervisorSpec` until :meth:`request_stop` (SIGTERM/SIGINT in :func:`main`)."""

    def __init__(self, spec: SupervisorSpec):
        self.spec = spec
        self.stop_requested = threading.Event()
        self.state = SupervisorState(spec.name, os.getpid(), start_time(os.getpid()))
        self.crashes: deque[float] = deque()

    def request_stop(self) -> None:
        self.stop_requested.set()

    def run(self) -> int:
        spec = self.spec
        while True:
            offset = _size(spec.log_file)
            started = time.time()
            child = subprocess.Popen(spec.argv, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
            self._record(state="running", child_pid=child.pid, child_start=start_time(child.pid), last_start=started)
            returncode = self._wait(child)
            if self.stop_requested.is_set():
                self._kill_leftovers(grace_s=self.spec.stop_timeout_s)  # a JVM may still be shutting down
                break
            self._kill_leftovers()
            now = time.time()
            self.crashes.append(now)
            while self.crashes and self.crashes[0] < now - spec.crash_loop_window_s:
                self.crashes.popleft()
            delay = spec.backoff_s(len(self.crashes))
            loop = len(self.crashes) >= spec.crash_loop_restarts
            cause = describe_exit(returncode)
            self._record(
                state="crash-loop" if loop else "backing-off",
                child_pid=None,
                child_start=None,
                recent_crashes=list(self.crashes),
                last_cause=cause,
                last_error=last_error_line(spec.log_file, offset),
                last_exit_at=now,
                next_start_at=now + delay,
            )
            _say(
                f"{spec.name}: child {child.pid} died ({cause}) after {now - started:.1f}s;"
                f" restarting in {delay:.1f}s" + (f" (crash loop: {len(self.crashes)} crashes)" if loop else "")
            )
            if self.stop_requested.wait(delay):
                break
            self.state.restarts += 1
        self._record(state="stopped", child_pid=None, child_start=None, next_start_at=None)
        _say(f"{spec.name}: stopped")
        return 0

    def _wait(self, child: subprocess.Popen) -> int:
        """The child's return code; on a stop request, SIGTERM it (once) and SIGKILL it after the grace."""
        deadline = None
        while True:
            try:
                return child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            if self.stop_requested.is_set():
                if deadline is None:
                    self._record(state="stopping")
                    _signal(child.pid, signal.SIGTERM)
                    deadline = time.monotonic() + self.spec.stop_timeout_s
                elif time.monotonic() > deadline:
                    self._kill_leftovers()

    def _kill_leftovers(self, grace_s: float = 0.0) -> None:
        """Wait up to ``grace_s`` for the other processes of the supervisor's group to exit, then SIGKILL
        them (e.g. the JVM of a speed layer whose Python process was killed)."""
        me = os.getpid()
        deadline = time.monotonic() + grace_s
        while (others := [pid for pid in group_members(os.getpgrp()) if pid != me]) and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(100):
            if not others:
                return
            for pid in others:
                _signal(pid, signal.SIGKILL)
            time.sleep(0.1)
            others = [pid for pid in group_members(os.getpgrp()) if pid != me]

    def _record(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.state, key, value)
        self.state.write(self.spec.state_file)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _clock(at: float | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _say(message: str) -> None:
    """A line in the job's log (the supervisor's stdout is the log file)."""
    print(f"supervisor: {time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def main(argv: list[str]) -> int:
    supervisor = Supervisor(SupervisorSpec.from_json(argv[0]))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: supervisor.request_stop())
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
