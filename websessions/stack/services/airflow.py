"""Airflow 3 on the local stack: api-server, scheduler (LocalExecutor) and dag-processor, metadata in Postgres.

The configuration is :func:`websessions.platform.airflow_config.airflow_env` (the same variables drive
``airflow db migrate`` and the three processes, and the cluster's image); ``AIRFLOW_HOME`` is
``.stack/data/airflow`` (Airflow writes a defaults-only ``airflow.cfg`` there on first use; the
environment overrides it). The Simple auth manager's passwords file is written before the start.

Loopback only: the api-server binds ``settings.bind_host``; the scheduler runs with
``--skip-serve-logs`` because Airflow's worker log server always binds every interface (its host is
not configurable). With LocalExecutor the task logs are local files the api-server reads directly.
The scheduler's health-check server (another all-interfaces listener) stays disabled.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from websessions.platform.airflow_config import airflow_env, airflow_executable, write_passwords_file
from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError, summarize_output

#: ``airflow db migrate`` output lines worth echoing: a new schema, or each migration of an old one.
_MIGRATION_PROGRESS = re.compile(r"Creating Airflow database tables|Running upgrade \S+ -> \S+")


class Airflow(Service):
    name = "airflow"
    process_names = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor")
    depends_on = ("postgres",)
    start_timeout_s = 180.0

    @property
    def passwords_file(self) -> Path:
        return self.conf_dir / "simple_auth_manager_passwords.json"

    @property
    def env(self) -> dict[str, str]:
        return airflow_env(self.settings, self.data_dir, self.passwords_file)

    def ports(self) -> list[int]:
        return [self.settings.airflow_port]

    def prepare(self) -> None:
        if not Path(airflow_executable()).exists():
            raise StackError(self.name, f"no {airflow_executable()}: apache-airflow is not installed (make venv)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        write_passwords_file(self.settings, self.passwords_file)
        self._migrate_metadata_db()

    def _migrate_metadata_db(self) -> None:
        """``airflow db migrate``: creates or upgrades the schema, a quick no-op when it is current."""
        from rich.console import Console

        console = Console(stderr=True)
        log_file = self.settings.logs_dir / "airflow-db-migrate.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        changed = False
        output: list[str] = []
        with open(log_file, "w") as log:
            proc = subprocess.Popen(
                [airflow_executable(), "db", "migrate"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, **self.env},
            )
            for line in proc.stdout:
                log.write(line)
                output.append(line)
                if match := _MIGRATION_PROGRESS.search(line):
                    changed = True
                    console.print(f"  airflow db migrate: {match.group(0)}")
            proc.wait()
        if proc.returncode != 0:
            cause = summarize_output("".join(output[-80:]))
            raise StackError(self.name, f"airflow db migrate failed: {cause}", log_file)
        if changed:
            console.print(f"  airflow: metadata database ready in {time.monotonic() - t0:.1f}s")

    def processes(self) -> list[ProcessSpec]:
        airflow, env = airflow_executable(), self.env
        return [
            ProcessSpec("airflow-api-server", [airflow, "api-server"], env=env, cwd=self.data_dir),
            ProcessSpec("airflow-scheduler", [airflow, "scheduler", "--skip-serve-logs"], env=env, cwd=self.data_dir),
            ProcessSpec("airflow-dag-processor", [airflow, "dag-processor"], env=env, cwd=self.data_dir),
        ]

    def healthy(self) -> bool:
        """:data:`websessions.pipeline_state.PROBES`' Airflow check: metadatabase, scheduler and dag-processor
        healthy (raises otherwise)."""
        from websessions.pipeline_state import PROBES

        PROBES["airflow"](self.settings)
        return True

    def after_start(self) -> None:
        """Prove the generated login works: a token, then an authenticated API call with it."""
        from websessions.clients.airflow import AirflowApi

        try:
            AirflowApi(self.settings).request("GET", "/api/v2/dags", params={"limit": 1})
        except (PermissionError, RuntimeError) as exc:
            raise StackError(self.name, f"the generated login does not work: {exc}") from exc

    def describe(self) -> str:
        s = self.settings
        return f"{s.airflow_url} login {s.airflow_user} / {s.airflow_password}"
