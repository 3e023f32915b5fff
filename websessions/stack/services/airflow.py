"""Airflow 3: api-server, scheduler (LocalExecutor) and dag-processor, metadata in the stack's Postgres.

Every Airflow option is an ``AIRFLOW__<SECTION>__<KEY>`` variable built in :func:`airflow_env`, the
one place that maps settings to Airflow configuration; the same variables drive ``airflow db migrate``
and the three processes. ``AIRFLOW_HOME`` is ``.stack/data/airflow`` (Airflow writes a defaults-only
``airflow.cfg`` there on first use; the environment overrides it).

Login is Airflow 3's Simple auth manager: one admin user, ``settings.airflow_user``, whose password
(``settings.airflow_password``, generated into the secrets file) is rendered into the passwords file
the auth manager reads, so it never invents one of its own.

Loopback only: the api-server binds ``settings.bind_host``; the scheduler runs with
``--skip-serve-logs`` because Airflow's worker log server always binds every interface (its host is
not configurable). With LocalExecutor the task logs are local files the api-server reads directly.
The scheduler's health-check server (another all-interfaces listener) stays disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from websessions.settings import Settings
from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError, summarize_output

#: Components whose status ``/api/v2/monitor/health`` must report as healthy (no triggerer runs here).
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "dag_processor")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: ``airflow db migrate`` output lines worth echoing: a new schema, or each migration of an old one.
_MIGRATION_PROGRESS = re.compile(r"Creating Airflow database tables|Running upgrade \S+ -> \S+")


def airflow_executable() -> str:
    """The ``airflow`` script of the virtualenv running us (never one found on PATH)."""
    return str(Path(sys.executable).parent / "airflow")


def _api_secret_key(settings: Settings) -> str:
    """``[api] secret_key`` (signs log-fetch requests), derived from the generated JWT secret.

    Derived rather than reused so the two signing purposes never share a key, and identical in every
    process so they can verify each other.
    """
    return hmac.new(settings.airflow_jwt_secret.encode(), b"airflow api secret_key", hashlib.sha256).hexdigest()


def airflow_env(settings: Settings, home: Path, passwords_file: Path) -> dict[str, str]:
    """The whole Airflow configuration as environment variables, plus the ``WEBSESSIONS_*`` settings.

    The settings are passed on so DAG tasks (children of the scheduler) see the same stack.
    """
    s = settings
    task_logs = s.logs_dir / "airflow"
    config = {
        "core": {
            "dags_folder": s.dags_dir,
            "load_examples": False,
            "executor": "LocalExecutor",
            "parallelism": 2,
            "max_active_tasks_per_dag": 2,
            "fernet_key": s.airflow_fernet_key,
            "execution_api_server_url": f"{s.airflow_url}/execution/",
            "auth_manager": SIMPLE_AUTH_MANAGER,
            "simple_auth_manager_users": f"{s.airflow_user}:admin",
            "simple_auth_manager_passwords_file": passwords_file,
        },
        "database": {"sql_alchemy_conn": s.postgres_url(s.airflow_db)},
        "api": {
            "host": s.bind_host,
            "port": s.airflow_port,
            "workers": 1,
            "secret_key": _api_secret_key(s),
        },
        # HS256: the generated secret has 32 bytes, the key size HS256 wants (the default, HS512,
        # warns on every request that its key is below 64 bytes).
        "api_auth": {"jwt_secret": s.airflow_jwt_secret, "jwt_algorithm": "HS256"},
        "logging": {
            "base_log_folder": task_logs,
            "dag_processor_child_process_log_directory": task_logs / "dag_processor",
            "colored_console_log": False,
        },
        "scheduler": {"enable_health_check": False},
        "dag_processor": {"parsing_processes": 1, "refresh_interval": 30},
    }
    env = {"AIRFLOW_HOME": str(home)}
    for section, options in config.items():
        for key, value in options.items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    return {**settings.as_env(), **env}


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
        self._write_passwords_file()
        self._migrate_metadata_db()

    def _write_passwords_file(self) -> None:
        """The Simple auth manager's ``{user: password}`` file, readable by us only."""
        s = self.settings
        fd = os.open(self.passwords_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({s.airflow_user: s.airflow_password}, file)
        self.passwords_file.chmod(0o600)

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
        from websessions.clients.airflow import AirflowApi

        health = AirflowApi(self.settings, timeout_s=5).health()
        return all((health.get(part) or {}).get("status") == "healthy" for part in HEALTH_COMPONENTS)

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
