"""One-shot initialisation of the cluster's stores (the ``init`` service); idempotent, safe to rerun.

Each step is the code the local stack or the jobs run, so both deployments start from the same state:

1. Kafka topics: events, dead letters and alerts, ``kafka_partitions`` each
   (``websessions.platform.bootstrap.create_topics``, as the local stack's Kafka service does).
2. HDFS: the raw-events and warehouse directories (``bootstrap.create_hdfs_dirs``, the local HDFS
   service's step).
3. HBase: the sessions and live-metrics tables (``HBaseSessions.ensure_table``).
4. Postgres: the serving schema's migrations (``websessions.db_migrations.migrate``).
5. Hive: every statement of ``hive/ddl`` through HiveServer2 (the batch job runs them again, they are
   ``IF NOT EXISTS``), so history queries work before the first nightly run.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from websessions.settings import Settings, load_settings

log = logging.getLogger("init")


def kafka_topics(settings: Settings) -> None:
    from websessions.platform import bootstrap

    bootstrap.create_topics(settings)


def hdfs_dirs(settings: Settings) -> None:
    from websessions.platform import bootstrap

    bootstrap.create_hdfs_dirs(settings)


def hbase_tables(settings: Settings) -> None:
    from websessions.stores.hbase_sessions import HBaseSessions

    with HBaseSessions(settings) as store:
        store.ensure_table()


def postgres_schema(settings: Settings) -> None:
    from websessions.db_migrations import migrate

    migrate(settings)


def hive_tables(settings: Settings) -> None:
    from batch.hive_sql import ddl_statements
    from websessions.clients import hive

    with hive.connect(settings) as conn:
        cursor = conn.cursor()
        try:
            for statement in ddl_statements(settings):
                cursor.execute(statement)
        finally:
            cursor.close()


STEPS: tuple[tuple[str, Callable[[Settings], None]], ...] = (
    ("kafka topics", kafka_topics),
    ("hdfs directories", hdfs_dirs),
    ("hbase tables", hbase_tables),
    ("postgres serving schema", postgres_schema),
    ("hive tables", hive_tables),
)


def run_step(name: str, step: Callable[[Settings], None], settings: Settings, attempts: int = 5) -> None:
    """Run one step, retrying a few times: a service can pass its healthcheck a moment before it serves
    everything (HBase assigning its meta region, HiveServer2 opening the metastore)."""
    for attempt in range(1, attempts + 1):
        try:
            step(settings)
            log.info("%s: ready", name)
            return
        except Exception as exc:
            if attempt == attempts:
                raise RuntimeError(f"init: {name} failed after {attempts} attempts: {exc}") from exc
            log.warning("%s: attempt %d failed (%s); retrying", name, attempt, exc)
            time.sleep(5 * attempt)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(create_secrets=False)
    for name, step in STEPS:
        run_step(name, step, settings)
    log.info("cluster initialised")
    return 0


if __name__ == "__main__":
    sys.exit(main())
