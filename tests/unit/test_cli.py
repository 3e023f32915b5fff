"""The command line's contract: the parser built from the command groups, documented exit codes, and every
unreachable service reported as one line naming it and the fix (exit 4), never a traceback.

No service is needed: each command is pointed at a local port nobody listens on (``WEBSESSIONS_*`` overrides),
in a subprocess, as a user would run it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from websessions.cli import build_parser, main
from websessions.commands import exit_codes
from websessions.commands.failures import unreachable
from websessions.settings import load_settings

FIX = "is the stack up? (websessions stack up)"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(tmp_path: Path, overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WEBSESSIONS_STACK_DIR": str(tmp_path / "stack"), **overrides}
    return subprocess.run(
        [sys.executable, "-m", "websessions.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


UNREACHABLE = [
    ("postgres", "WEBSESSIONS_POSTGRES_PORT", ["report", "--format", "json"]),
    ("postgres", "WEBSESSIONS_POSTGRES_PORT", ["alerts", "--since", "2h"]),
    ("hbase thrift", "WEBSESSIONS_HBASE_THRIFT_PORT", ["lookup", "--ip", "10.0.0.1", "--host", "a.io"]),
    ("hbase thrift", "WEBSESSIONS_HBASE_THRIFT_PORT", ["sessions", "--date", "2026-11-20", "--layer", "speed"]),
    ("hiveserver2", "WEBSESSIONS_HIVE_PORT", ["hive", "-e", "SELECT 1"]),
    ("hdfs (WebHDFS)", "WEBSESSIONS_HDFS_HTTP_PORT", ["land", "status"]),
    ("kafka", "WEBSESSIONS_KAFKA_PORT", ["audit", "--date", "2026-11-20"]),
]


@pytest.mark.parametrize(
    ("service", "variable", "args"), UNREACHABLE, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_an_unreachable_service_is_one_line_naming_it_and_the_fix_with_exit_4(
    tmp_path: Path, service: str, variable: str, args: list[str]
) -> None:
    port = _closed_port()
    run = _run(tmp_path, {variable: str(port)}, *args)
    assert run.returncode == exit_codes.UNREACHABLE, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"error: {service} at 127.0.0.1:{port} is not reachable ("), line
    assert line.endswith(FIX), line
    assert "Traceback" not in run.stderr


def test_the_airflow_api_unreachable_is_named_from_its_url() -> None:
    from websessions.clients.airflow import AirflowApi

    port = _closed_port()
    settings = dataclasses.replace(load_settings(create_secrets=False), airflow_port=port)
    with pytest.raises(Exception) as caught:
        AirflowApi(settings, timeout_s=5).health()
    failure = unreachable(caught.value, settings)
    assert failure is not None
    assert str(failure).startswith(f"airflow api at 127.0.0.1:{port} is not reachable (")
    assert str(failure).endswith(FIX)


def test_an_unexpected_error_is_not_disguised_as_unreachable() -> None:
    assert unreachable(ValueError("a bug"), load_settings(create_secrets=False)) is None


def test_a_job_that_is_not_running_has_status_exit_3(tmp_path: Path) -> None:
    run = _run(tmp_path, {}, "collect", "status")
    assert run.returncode == exit_codes.NOT_RUNNING, run.stderr
    assert run.stdout.splitlines()[0] == "collector stopped"
    assert "supervised: never started" in run.stdout


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as bad_choice:
        main(["land", "restart"])
    assert bad_choice.value.code == exit_codes.USAGE
    assert main(["generate", "--events", "10"]) == exit_codes.USAGE


def test_help_documents_every_exit_code_and_every_job_action() -> None:
    parser = build_parser()
    text = parser.format_help()
    for code in (exit_codes.OK, exit_codes.FAILED, exit_codes.USAGE, exit_codes.NOT_RUNNING, exit_codes.UNREACHABLE):
        assert f"\n  {code} " in text
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - the registered subcommands
    for job in ("collect", "land", "speed", "alerts", "dashboard"):
        job_help = commands[job].format_help()
        assert "run: in the foreground" in job_help and "{" in job_help and "run}" in job_help, job
