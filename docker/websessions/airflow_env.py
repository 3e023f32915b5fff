"""Print the Airflow configuration of this container as shell ``export`` lines (the entrypoint evals them).

The configuration comes from the ``WEBSESSIONS_*`` settings through the mapping the local stack uses too,
:func:`websessions.platform.airflow_config.airflow_env` (metadata DB on the Postgres service, LocalExecutor,
the Simple auth manager with the ``airflow_user`` login, the JWT secret, the execution API URL on the
api-server service). So the cluster and the local stack cannot configure Airflow differently; only the
setting values differ. The Simple auth manager's passwords file is written here (readable by us only),
as the local service does before it starts Airflow.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from websessions.platform.airflow_config import airflow_env, write_passwords_file
from websessions.settings import SECRET_FIELDS, Settings, load_settings


def airflow_home(settings: Settings) -> Path:
    return settings.data_dir / "airflow"


def passwords_file(settings: Settings) -> Path:
    return settings.conf_dir / "airflow" / "simple_auth_manager_passwords.json"


def export_lines(settings: Settings) -> list[str]:
    """``export AIRFLOW__...=...`` for every Airflow option (and AIRFLOW_HOME), shell-quoted."""
    env = airflow_env(settings, airflow_home(settings), passwords_file(settings))
    airflow = sorted((key, value) for key, value in env.items() if not key.startswith("WEBSESSIONS_"))
    return [f"export {key}={shlex.quote(value)}" for key, value in airflow]


def main() -> int:
    settings = load_settings(create_secrets=False)
    missing = [name for name in SECRET_FIELDS if not getattr(settings, name)]
    if missing:
        names = ", ".join("WEBSESSIONS_" + name.upper() for name in missing)
        print(f"airflow_env: {names} not set (put them in .env, see .env.example)", file=sys.stderr)
        return 1
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    (settings.logs_dir / "airflow").mkdir(parents=True, exist_ok=True)
    write_passwords_file(settings, passwords_file(settings))
    print("\n".join(export_lines(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
