"""Fixtures of the tests that need services (integration, chaos): the real local stack, brought up on demand.

A test module asks for the services it needs through ``stack("hdfs", ...)``; anything this test
session had to start is stopped again at the end (what was already running is left running).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from websessions.settings import Settings, load_settings
from websessions.stack import manager
from websessions.stack.process import ManagedProcess


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--reliability-doc", default=None, help="chaos suite: regenerate the reliability table here")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/chaos/" in str(item.path):
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Callable[..., Settings]]:
    """``stack("kafka", "hdfs")`` brings those services (and their dependencies) up; returns settings."""
    started: list[ManagedProcess] = []

    def ensure(*services: str) -> Settings:
        started.extend(manager.up(settings, only=list(services)))
        return settings

    yield ensure
    for proc in reversed(started):
        proc.stop()
