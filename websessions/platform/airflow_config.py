"""Airflow's whole configuration, rendered from settings: the local stack and the cluster's image both use it.

Every Airflow option is an ``AIRFLOW__<SECTION>__<KEY>`` variable built in :func:`airflow_env`, the
one place that maps settings to Airflow configuration (metadata DB on the Postgres service,
LocalExecutor, the execution API URL, the JWT secret). Login is Airflow 3's Simple auth manager: one
admin user, ``settings.airflow_user``, whose password (``settings.airflow_password``) is written by
:func:`write_passwords_file` into the file the auth manager reads, so it never invents one of its own.
The Spark connection the nightly DAG submits through, :data:`SPARK_CONN_ID`, is part of the environment
too (``AIRFLOW_CONN_WEBSESSIONS_SPARK``, :func:`spark_connection`): its master is ``settings.spark_master``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

from websessions.settings import Settings

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: The Airflow connection the nightly DAG's ``SparkSubmitOperator`` submits the batch through (batch.submit).
SPARK_CONN_ID = "websessions_spark"


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

    The settings are passed on so DAG tasks (children of the scheduler) see the same services.
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
    return {**settings.as_env(), **env, **spark_connection_env(settings)}


def spark_connection(settings: Settings) -> dict:
    """The Spark connection in Airflow's JSON form: ``settings.spark_master`` (``local[2]``, ``spark://host:7077``)
    in client deploy mode (the driver's output is the task's log), submitted with the ``spark-submit`` on the
    ``PATH`` (``batch.submit.submit_env`` puts the virtualenv's first)."""
    return {
        "conn_type": "spark",
        "host": settings.spark_master,
        "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
    }


def spark_connection_env(settings: Settings) -> dict[str, str]:
    """``AIRFLOW_CONN_WEBSESSIONS_SPARK``: the Spark connection as an environment variable."""
    return {f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}": json.dumps(spark_connection(settings))}


def write_passwords_file(settings: Settings, path: Path) -> None:
    """The Simple auth manager's ``{user: password}`` file, readable by us only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({settings.airflow_user: settings.airflow_password}, file)
    path.chmod(0o600)
