"""Cluster mode's engines for the tests: the Flink session cluster and the Spark standalone cluster.

Started next to the shared stack if they are not running (``manager.up`` in cluster mode, as
``websessions stack up --cluster`` does), and stopped afterwards only if these tests started them (a
process a test replaces, such as a killed worker, is left running when the clusters were already up).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from websessions.settings import Settings
from websessions.stack import manager
from websessions.stack.process import ManagedProcess
from websessions.stack.registry import CLUSTER_ORDER


@dataclass
class Cluster:
    """The settings in cluster mode, and the processes to stop at the end (when the tests started the clusters)."""

    settings: Settings
    owned: bool = False
    started: list[ManagedProcess] = field(default_factory=list)

    def up(self, *services: str) -> None:
        """Start what is not running of ``services`` (all the clusters by default) and wait until healthy."""
        started = manager.up(self.settings, only=list(services or CLUSTER_ORDER))
        if self.owned:
            self.started.extend(started)


@pytest.fixture(scope="session")
def cluster(stack) -> Iterator[Cluster]:
    settings = stack("postgres", "hdfs", "hive").in_cluster_mode()
    rows = [row for row in manager.status_rows(settings) if row["service"] in CLUSTER_ORDER]
    already = any(pid for row in rows for pid in row["pids"])
    running = Cluster(settings, owned=not already, started=manager.up(settings, only=list(CLUSTER_ORDER)))
    yield running
    for proc in reversed(running.started):
        proc.stop()
