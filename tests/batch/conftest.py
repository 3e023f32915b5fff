"""Engine tests of the batch layer: one local Spark session (no Hive, no services) for the whole run."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from websessions.settings import Settings, load_settings


@pytest.fixture(scope="session")
def batch_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    stack_dir = tmp_path_factory.mktemp("batch-stack")
    settings = load_settings(create_secrets=False)
    return dataclasses.replace(settings, stack_dir=stack_dir, batch_shuffle_partitions=2, spark_driver_memory="1g")


@pytest.fixture(scope="session")
def spark(batch_settings: Settings) -> Iterator:
    from batch.spark import spark_session

    session = spark_session(batch_settings, "websessions-batch-tests", hive=False)
    yield session
    session.stop()


@pytest.fixture
def raw_area(tmp_path: Path, batch_settings: Settings) -> tuple[Settings, Path, Path]:
    """A private raw area: (settings whose raw_events_dir is it, raw root, late root)."""
    root = tmp_path / "raw" / "web_events"
    late = tmp_path / "raw" / "web_events_late"
    settings = dataclasses.replace(batch_settings, raw_events_dir=root.as_uri())
    return settings, root, late
