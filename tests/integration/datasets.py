"""Private datasets for integration tests: names of their own for topics, tables, databases and paths."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from websessions.clients import kafka
from websessions.settings import Settings


def private_settings(base: Settings, prefix: str, *fields: str) -> Settings:
    """``base`` with each named setting unique to this run: ``*_dir`` paths under ``/test/<prefix>_<uid>/``
    (one directory to remove afterwards: :func:`private_root`), other names ``test_<prefix>_<field>_<uid>``."""
    uid = uuid.uuid4().hex[:8]
    values = {
        name: f"/test/{prefix}_{uid}/{name.removesuffix('_dir')}"
        if name.endswith("_dir")
        else f"test_{prefix}_{name}_{uid}"
        for name in fields
    }
    # A private dataset's lander does not ask Airflow to recompute its days unless a test says so.
    return dataclasses.replace(base, lander_notify_airflow=False, **values)


def private_root(settings: Settings) -> str:
    """The HDFS directory holding a private dataset's paths (its raw area and late area included)."""
    return settings.raw_events_dir.rsplit("/", 1)[0]


@contextmanager
def kafka_topics(settings: Settings, *topics: str) -> Iterator[None]:
    """The topics, created with ``settings.kafka_partitions`` partitions, and deleted afterwards."""
    from confluent_kafka.admin import NewTopic

    admin = kafka.admin(settings)
    for future in admin.create_topics([NewTopic(t, settings.kafka_partitions, 1) for t in topics]).values():
        future.result()
    try:
        yield
    finally:
        for future in admin.delete_topics(list(topics)).values():
            future.result()


def wait_for(what: str, predicate: Callable[[], object], timeout_s: float, interval_s: float = 0.5) -> object:
    """``predicate()``'s first truthy value, polled every ``interval_s``; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)
    return value


@contextmanager
def private_database(base: Settings, prefix: str, migrated: bool = True) -> Iterator[Settings]:
    """``base`` with a new Postgres database of its own (``test_<prefix>_<uid>``, owned by the product role),
    its serving schema migrated unless ``migrated`` is False; dropped afterwards."""
    from contextlib import closing

    from websessions.db_migrations import migrate
    from websessions.stack.services.postgres import Postgres

    settings = dataclasses.replace(base, postgres_db=f"test_{prefix}_{uuid.uuid4().hex[:8]}")
    with closing(Postgres(base).superuser_connection()) as admin, admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{settings.postgres_db}" OWNER "{settings.postgres_user}"')
    try:
        if migrated:
            migrate(settings)
        yield settings
    finally:
        with closing(Postgres(base).superuser_connection()) as admin, admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{settings.postgres_db}" WITH (FORCE)')


@contextmanager
def whole_pipeline_dataset(base: Settings, prefix: str) -> Iterator[Settings]:
    """A private dataset for the whole pipeline: its own topics, Postgres database, HBase tables, Hive
    database and HDFS paths (the settings a nightly run may override); all of it removed afterwards."""
    import shutil
    from contextlib import closing

    from batch.hive_sql import run_hiveserver2
    from streaming.runner import speed_dir
    from websessions.clients import hdfs
    from websessions.db_migrations import migrate
    from websessions.nightly import RUN_SETTINGS
    from websessions.stack.services.postgres import Postgres
    from websessions.stores.hbase_sessions import HBaseSessions

    fields = ("kafka_topic_events", "kafka_topic_dlq", "kafka_topic_session_updates", *RUN_SETTINGS)
    settings = private_settings(base, prefix, *fields)
    with closing(Postgres(base).superuser_connection()) as admin, admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{settings.postgres_db}" OWNER "{settings.postgres_user}"')
    migrate(settings)  # as `stack up` does for the shared database
    topics = (settings.kafka_topic_events, settings.kafka_topic_dlq, settings.kafka_topic_session_updates)
    try:
        with kafka_topics(settings, *topics):
            yield settings
    finally:
        with HBaseSessions(settings) as store:
            store.drop_tables()
        run_hiveserver2(dataclasses.replace(settings, hive_database="default"),
                        f"DROP DATABASE IF EXISTS {settings.hive_database} CASCADE")  # fmt: skip
        fs = hdfs.webhdfs(settings)
        fs.delete(private_root(settings), recursive=True)
        fs.delete(f"{settings.warehouse_dir}/{settings.hive_database}.db", recursive=True)
        shutil.rmtree(speed_dir(settings), ignore_errors=True)
        with closing(Postgres(base).superuser_connection()) as admin, admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{settings.postgres_db}" WITH (FORCE)')
