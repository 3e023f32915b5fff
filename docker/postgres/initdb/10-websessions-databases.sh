#!/usr/bin/env bash
# Runs once, when the postgres service initialises its data volume (the official image runs every script
# of /docker-entrypoint-initdb.d). The image has created the product role and database from POSTGRES_USER
# and POSTGRES_DB (= WEBSESSIONS_POSTGRES_USER / WEBSESSIONS_POSTGRES_DB); this adds the Airflow metadata
# and Hive metastore databases, owned by the same role, as the local stack's Postgres service does.
set -euo pipefail

: "${WEBSESSIONS_AIRFLOW_DB:?}" "${WEBSESSIONS_METASTORE_DB:?}"
for db in "${WEBSESSIONS_AIRFLOW_DB}" "${WEBSESSIONS_METASTORE_DB}"; do
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" \
    -c "CREATE DATABASE \"${db}\" OWNER \"${POSTGRES_USER}\""
done
