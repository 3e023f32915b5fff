#!/usr/bin/env bash
# Entrypoint of the project image (docker/websessions/Dockerfile); also the wrapper for `docker compose
# exec SERVICE /opt/websessions/docker/websessions/entrypoint.sh COMMAND...` and the Airflow healthchecks,
# which do not pass through the entrypoint otherwise.
#
# - WEBSESSIONS_BIND_HOST, when not given, becomes this container's own address: servers bind it and the
#   Spark driver advertises it to the executors (batch/spark.py uses it as spark.driver.host), so a
#   driver in any container is reachable from the Spark workers.
# - For `airflow ...` commands, the Airflow configuration is derived from the WEBSESSIONS_* settings by
#   the mapping the local stack uses too (websessions.platform.airflow_config.airflow_env), see airflow_env.py.
set -euo pipefail

if [ -z "${WEBSESSIONS_BIND_HOST:-}" ]; then
  WEBSESSIONS_BIND_HOST="$(hostname -i | awk '{print $1}')"
  export WEBSESSIONS_BIND_HOST
fi

if [ "${1:-}" = "airflow" ]; then
  airflow_exports="$(python /opt/websessions/docker/websessions/airflow_env.py)"
  eval "$airflow_exports"
fi

exec "$@"
