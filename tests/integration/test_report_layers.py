"""The report chooses its layer per day, on the real Postgres: a day whose batch failed stays visible,
served by the speed layer and marked; a reconciled day is served by the batch layer."""

from __future__ import annotations

import pytest

from tests.integration.datasets import private_database
from websessions.reconcile import HostReconciliation, store
from websessions.report import day_layers, domain_report, refresh_speed_sessions
from websessions.sessions import session_from_aggregates
from websessions.stores.postgres_sessions import replace_day

pytestmark = pytest.mark.integration
HOST = "www.dataexpert.io"
FAILED, GOOD = "2026-11-20", "2026-11-21"


@pytest.fixture
def database(stack):
    with private_database(stack("postgres"), "report") as settings:
        yield settings


def sessions(dt: str, events: list[int]):
    return [
        session_from_aggregates(HOST, f"10.0.0.{i}", f"{dt}T10:00:00.000Z", f"{dt}T10:0{n}:00.000Z", n, 1, "/", "/")
        for i, n in enumerate(events)
    ]


def test_a_failed_batch_day_is_served_by_the_speed_layer_and_marked(database) -> None:
    settings = database
    # The speed layer saw both days; D's batch failed (nothing in `sessions`, no reconciliation), D+1's passed.
    refresh_speed_sessions(settings, FAILED, sessions(FAILED, [1, 2, 3]))
    refresh_speed_sessions(settings, GOOD, sessions(GOOD, [5, 5]))
    replace_day(settings, GOOD, sessions(GOOD, [4, 6, 2]), [])
    store(settings, GOOD, {HOST: HostReconciliation(HOST, matched=2, batch_only=1)}, max_ratio=1.0)

    failed = {r.host: r for r in domain_report(settings, FAILED, FAILED)}[HOST]
    good = {r.host: r for r in domain_report(settings, GOOD, GOOD)}[HOST]
    assert (failed.layer, failed.sessions, failed.events) == ("speed", 3, 6)
    assert (good.layer, good.sessions, good.events) == ("batch", 3, 12)
    both = [r for r in domain_report(settings, FAILED, GOOD) if r.host == HOST]
    assert sorted((r.layer, r.sessions) for r in both) == [("batch", 3), ("speed", 3)]  # D is not lost
    layers = day_layers(settings, FAILED, GOOD)
    assert [(d.dt, d.layer) for d in layers] == [(FAILED, "speed"), (GOOD, "batch")]
    assert "speed layer shown" in layers[0].note

    # A day whose reconciliation failed is not served from the batch either.
    store(settings, GOOD, {HOST: HostReconciliation(HOST, matched=0, batch_only=3)}, max_ratio=0.05)
    assert {r.host: r for r in domain_report(settings, GOOD, GOOD)}[HOST].layer == "speed"
    assert day_layers(settings, GOOD, GOOD)[0].note == "batch did not reconcile: speed layer shown"
