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
