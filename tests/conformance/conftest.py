"""The engines of the conformance suite, each started once for the whole run: a local Spark session
(no Hive, no services) and, in the test module, one Flink job over every case."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def conformance_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from batch.spark import spark_session
    from websessions.settings import load_settings

    settings = dataclasses.replace(
        load_settings(create_secrets=False),
        stack_dir=tmp_path_factory.mktemp("conformance-stack"),
        batch_shuffle_partitions=2,
        spark_driver_memory="1g",
    )
    session = spark_session(settings, "websessions-conformance", hive=False)
    yield session
    session.stop()
