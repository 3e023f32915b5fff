"""`stack down` then `stack up` keeps what was written in every store; a second `up` is a no-op."""

from __future__ import annotations

import secrets
import time

from websessions.stack import manager
from websessions.stack.registry import SERVICE_ORDER
from websessions.stack.roundtrip import read_marker, write_marker


def test_every_store_keeps_its_data_across_down_and_up(stack) -> None:
    settings = stack(*SERVICE_ORDER)
    written = {service: secrets.token_hex(8) for service in SERVICE_ORDER}
    for service, value in written.items():
        write_marker(settings, service, value)

    manager.down(settings)
    assert manager.status_rows(settings) and not any(row["healthy"] for row in manager.status_rows(settings))
    manager.up(settings)

    assert {service: read_marker(settings, service) for service in SERVICE_ORDER} == written


def test_a_second_up_starts_nothing_and_is_fast(stack) -> None:
    settings = stack(*SERVICE_ORDER)
    pids_before = {row["service"]: row["pids"] for row in manager.status_rows(settings)}
    started_at = time.monotonic()
    started = manager.up(settings)
    assert started == []
    assert time.monotonic() - started_at < 30
    assert {row["service"]: row["pids"] for row in manager.status_rows(settings)} == pids_before
