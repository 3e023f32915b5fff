"""`stack up` failures: one line naming the service, the cause and the log; no orphan processes.

Each case runs a private stack (its own directory and ports) so it never disturbs the shared one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from websessions.platform.artifacts import ArtifactError, JarSet, _resolve
from websessions.settings import Settings, load_settings
from websessions.stack import manager
from websessions.stack.service import StackError

VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _private(tmp_path: Path, **env: str) -> dict[str, str]:
    return {
        "WEBSESSIONS_STACK_DIR": str(tmp_path / "stack"),
        "WEBSESSIONS_KAFKA_PORT": str(_free_port()),
        "WEBSESSIONS_KAFKA_CONTROLLER_PORT": str(_free_port()),
        **env,
    }


def _java_processes_under(path: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(path) in line and "java" in line]


def test_a_taken_port_is_named_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = load_settings(_private(tmp_path, WEBSESSIONS_KAFKA_PORT=str(port)))
        with pytest.raises(StackError) as err:
            manager.up(settings, only=["kafka"])
    assert str(err.value).startswith(f"kafka: port {port} is already taken")
    assert "kafka.log" in str(err.value)
    assert not list((settings.run_dir).glob("*.pid"))
    assert _java_processes_under(settings.stack_dir) == []


def test_a_service_that_dies_is_reported_with_its_cause_and_log(tmp_path: Path) -> None:
    settings = load_settings(_private(tmp_path))
    # A data directory left by another node: Kafka refuses to start on it.
    meta = settings.data_dir / "kafka" / "logs" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("version=1\nnode.id=7\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\ndirectory.id=AAAAAAAAAAAAAAAAAAAAAA\n")
    with pytest.raises(StackError) as err:
        manager.up(settings, only=["kafka"])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("kafka: kafka died during start: java.lang.RuntimeException: Stored node id 7")
    assert message.endswith(f"(log: {settings.logs_dir / 'kafka.log'})")
    assert not list(settings.run_dir.glob("*.pid"))
    assert _java_processes_under(settings.stack_dir) == []


def test_missing_java_is_one_clear_line_from_the_cli(tmp_path: Path) -> None:
    env = {"PATH": str(VENV_BIN), "HOME": os.environ.get("HOME", "/root"), **_private(tmp_path)}
    proc = subprocess.run(
        [str(VENV_BIN / "websessions"), "stack", "up", "kafka"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: kafka: Java 17 is not installed (apt-get install openjdk-17-jdk-headless) "
        f"(log: {tmp_path / 'stack' / 'logs' / 'kafka.log'})"
    ]


def test_a_failed_download_names_the_jar_set(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", stack_dir=tmp_path / "stack")
    bogus = JarSet("bogus", ("org.apache.kafka:kafka-does-not-exist:0.0.1",))
    with pytest.raises(ArtifactError, match="downloading the bogus jars failed"):
        _resolve(settings, bogus, tmp_path / "cp.txt", echo=lambda _msg: None)
    assert not (tmp_path / "cp.txt").exists()
