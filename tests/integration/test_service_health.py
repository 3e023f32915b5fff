"""One health check: ``websessions.pipeline_state.PROBES``, run by the dashboard, ``stack status`` and the DAG.

On the running stack every probe answers with what it saw, and each local service's ``healthy()`` (what
``stack status`` and ``stack up`` wait on) agrees; a service that does not answer is reported unhealthy
with the reason, not raised.
"""

from __future__ import annotations

import dataclasses
import socket

from websessions.pipeline_state import PROBES, service_health
from websessions.stack.registry import SERVICE_ORDER, build_service


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free once the socket closes: nothing listens there


def test_every_service_answers_its_probe_and_the_stack_agrees(stack) -> None:
    settings = stack(*SERVICE_ORDER)
    health = {h.name: h for h in service_health(settings)}
    assert list(health) == list(PROBES)
    assert {name: h.healthy for name, h in health.items()} == dict.fromkeys(PROBES, True), health
    assert "live DataNode" in health["hdfs"].detail
    assert health["airflow"].detail == "metadatabase, scheduler, dag_processor healthy"
    assert {name: build_service(settings, name).healthy() for name in SERVICE_ORDER} == dict.fromkeys(
        SERVICE_ORDER, True
    )


def test_a_service_that_does_not_answer_is_unhealthy_with_its_reason(stack) -> None:
    settings = stack("hive", "hdfs")
    port = _closed_port()
    unreachable = dataclasses.replace(settings, hive_port=port, hdfs_http_port=port)
    health = {h.name: h for h in service_health(unreachable)}
    for name in ("hive", "hdfs"):
        assert not health[name].healthy
        assert health[name].detail, f"{name}: no reason given"
    assert health["postgres"].healthy  # the others are probed independently
    assert not build_service(unreachable, "hive").healthy()  # still starting, as far as the stack can tell
