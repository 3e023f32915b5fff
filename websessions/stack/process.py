"""Managed OS processes: start detached with a pid file and a log file, check, stop by pid.

A pid file holds the pid and the process's start time (from /proc), so a recycled pid is never
mistaken for one of ours and ``down`` only ever signals processes the stack started.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1


@dataclass
class ProcessSpec:
    """One OS process of a service."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None  # run as this user (e.g. postgres refuses to run as root)


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (with the pid, its identity), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


class ManagedProcess:
    """A process identified by ``<run_dir>/<name>.pid``, logging to ``<logs_dir>/<name>.log``."""

    def __init__(
        self,
        name: str,
        run_dir: Path,
        logs_dir: Path,
        stop_signal: int = signal.SIGTERM,
        stop_timeout_s: float = 30.0,
    ):
        self.name = name
        self.stop_signal = stop_signal
        self.stop_timeout_s = stop_timeout_s
        self.pid_file = run_dir / f"{name}.pid"
        self.log_file = logs_dir / f"{name}.log"

    def pid(self) -> int | None:
        """The pid if the process we started is still running, else None (stale files removed)."""
        try:
            raw_pid, started = self.pid_file.read_text().split()
            pid = int(raw_pid)
        except (OSError, ValueError):
            return None
        if start_time(pid) != started or _is_zombie(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, spec: ProcessSpec) -> int:
        """Start detached (own session, so its children form one process group); return the pid."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spec.env}
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {spec.name}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env=env,
                user=spec.user,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid} {start_time(proc.pid)}\n")
        return proc.pid

    def stop(self) -> bool:
        """Stop the process group gracefully, then forcibly; True if something was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, self.stop_signal)
        deadline = time.monotonic() + self.stop_timeout_s
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            for _ in range(50):
                if not _group_alive(pid):
                    break
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def is_running(pid: int, started: str | None) -> bool:
    """True if ``pid`` is the process that started at ``started`` (see :func:`start_time`) and not a zombie."""
    return started is not None and start_time(pid) == started and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _group_alive(pgid: int) -> bool:
    """True while any non-zombie process of the group ``pgid`` is alive."""
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """The pids of the live (non-zombie) processes of the process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields_after = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields_after[2] == str(pgid) and fields_after[0] != "Z":
            members.append(int(entry.name))
    return members


def die_with_parent() -> None:
    """In a forked child (``preexec_fn``): get SIGKILL when the parent dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
