"""The contract every local service implements, and the error that names a failed one."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from websessions.settings import Settings
from websessions.stack.process import ProcessSpec


class StackError(RuntimeError):
    """A service failed: the message is one line naming the service, the cause and its log file."""

    def __init__(self, service: str, cause: str, log_file: Path | None = None):
        self.service = service
        self.cause = cause
        self.log_file = log_file
        where = f" (log: {log_file})" if log_file else ""
        super().__init__(f"{service}: {cause}{where}")


class Service(ABC):
    """A local service: its processes, one-time preparation, health, and post-start setup.

    ``up`` calls, in order: :meth:`prepare` (download artifacts, render config, one-time init;
    idempotent), starts each of :meth:`processes` that is not already running, waits for
    :meth:`healthy`, then :meth:`after_start` (create topics, databases, migrations; idempotent: it also
    runs when the service was already up).
    """

    name: str
    #: Names of the processes :meth:`processes` returns, in start order (pid and log files use them).
    process_names: tuple[str, ...]
    #: Signal that stops a process gracefully (SIGKILL follows after ``stop_timeout_s``).
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 30.0
    #: Seconds ``up`` waits for :meth:`healthy` after starting the processes.
    start_timeout_s: float = 120.0
    #: Names of services that must be up first.
    depends_on: tuple[str, ...] = ()

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir / self.name

    @property
    def conf_dir(self) -> Path:
        return self.settings.conf_dir / self.name

    @abstractmethod
    def ports(self) -> list[int]:
        """The TCP ports this service listens on (checked free before its first process starts)."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Idempotent preparation before start: artifacts, configuration, formatting."""

    @abstractmethod
    def processes(self) -> list[ProcessSpec]:
        """The processes to run, named as :attr:`process_names` and in that order (stopped in reverse).

        Called only when starting (it may resolve jars); status and stop use :attr:`process_names`.
        """

    @abstractmethod
    def healthy(self) -> bool:
        """True when the service really answers (a protocol-level check, not just an open port)."""

    def after_start(self) -> None:  # noqa: B027 - optional hook
        """Idempotent setup once healthy: topics, databases, tables."""

    def describe(self) -> str:
        """Extra text for ``stack status`` (e.g. a URL and login)."""
        return ""


def summarize_output(text: str, limit: int = 300) -> str:
    """The telling line of a failed program's output.

    The root Java exception with its message if there is one (the last ``Caused by:``), else the
    first error line (FATAL/ERROR/Exception), else the last line.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("at ")]
    exceptions = [line for line in lines if _JAVA_EXCEPTION.match(line)]
    if exceptions:
        return exceptions[-1].removeprefix("Caused by: ")[:limit]
    for line in lines:
        if any(marker in line for marker in ("FATAL", "ERROR", "Error", "Exception", "error:")):
            return line[:limit]
    return lines[-1][:limit] if lines else "(no output)"


_JAVA_EXCEPTION = re.compile(r"^(Caused by: )?([\w$]+\.)+[\w$]*(Exception|Error): ")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def get_json(url: str, timeout: float = 3.0) -> dict:
    """The JSON answer of an HTTP GET (a service's REST status)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll ``check`` until it returns True or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - a health probe failing only means "not yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
