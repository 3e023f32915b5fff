"""HBase through its Thrift 1 server, as the product talks to it (websessions.clients.hbase, happybase)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import happybase
import pytest

from websessions.clients import hbase

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def connection(stack) -> Iterator[happybase.Connection]:
    with hbase.connect(stack("hbase"), timeout_ms=30_000) as conn:
        yield conn


def test_batched_puts_are_scanned_back_by_row_prefix(stack) -> None:
    settings = stack("hbase")
    table_name = f"test_roundtrip_{uuid.uuid4().hex[:8]}"
    with hbase.connect(settings) as conn:
        conn.create_table(table_name, {"s": {"max_versions": 1}})
        try:
            table = conn.table(table_name)
            with table.batch(batch_size=100) as batch:
                for i in range(250):
                    host = ("a.io", "b.io")[i % 2]
                    batch.put(f"{host}|10.0.0.{i % 5}|{i:05d}".encode(), {b"s:events": str(i).encode()})
            rows = dict(table.scan(row_prefix=b"a.io|10.0.0.3|"))
            expected = {
                f"a.io|10.0.0.3|{i:05d}".encode(): {b"s:events": str(i).encode()}
                for i in range(250)
                if i % 2 == 0 and i % 5 == 3
            }
            assert rows == expected
            table.delete(next(iter(expected)))
            assert len(dict(table.scan(row_prefix=b"a.io|10.0.0.3|"))) == len(expected) - 1
        finally:
            conn.delete_table(table_name, disable=True)
        assert table_name.encode() not in conn.tables()


@pytest.fixture
def table(connection: happybase.Connection) -> Iterator[happybase.Table]:
    name = f"test_roundtrip_{uuid.uuid4().hex[:12]}"
    connection.create_table(name, {"s": {"max_versions": 1}, "m": {"max_versions": 3}})
    yield connection.table(name)
    connection.delete_table(name, disable=True)


def test_created_table_is_listed_and_enabled(connection: happybase.Connection, table: happybase.Table) -> None:
    assert table.name in connection.tables()
    assert connection.is_table_enabled(table.name)
    assert set(table.families()) == {b"s", b"m"}


def test_batched_puts_come_back_exactly_through_a_prefix_scan(table: happybase.Table) -> None:
    # Rows of two keys interleaved, so the prefix scan must really filter.
    expected = {}
    with table.batch(batch_size=50) as batch:
        for i in range(120):
            key = f"{'a' if i % 2 else 'b'}|10.0.0.{i % 7}|{i:05d}".encode()
            data = {b"s:events": str(i).encode(), b"s:url": f"/page/{i}".encode()}
            batch.put(key, data)
            expected[key] = data

    scanned = dict(table.scan(row_prefix=b"a|"))

    assert scanned == {k: v for k, v in expected.items() if k.startswith(b"a|")}
    assert len(scanned) == 60
    assert list(scanned) == sorted(scanned)  # HBase returns rows in key order
    assert table.row(b"b|10.0.0.0|00000") == {b"s:events": b"0", b"s:url": b"/page/0"}


def test_overwrite_delete_and_counter(table: happybase.Table) -> None:
    table.put(b"k", {b"s:status": b"open"})
    table.put(b"k", {b"s:status": b"closed"})
    assert table.row(b"k", columns=[b"s:status"]) == {b"s:status": b"closed"}
    assert [v for v, _ in table.cells(b"k", b"s:status", versions=3, include_timestamp=True)] == [b"closed"]

    table.delete(b"k", columns=[b"s:status"])
    assert table.row(b"k") == {}

    assert table.counter_inc(b"metrics", b"m:sessions", 3) == 3
    assert table.counter_inc(b"metrics", b"m:sessions", 4) == 7
    assert table.counter_get(b"metrics", b"m:sessions") == 7


def test_scan_limits_and_key_ranges(table: happybase.Table) -> None:
    with table.batch() as batch:
        for i in range(10):
            batch.put(f"r{i}".encode(), {b"s:i": str(i).encode()})

    assert [k for k, _ in table.scan(row_start=b"r3", row_stop=b"r6")] == [b"r3", b"r4", b"r5"]
    assert [k for k, _ in table.scan(limit=2)] == [b"r0", b"r1"]
    assert [k for k, _ in table.scan(row_start=b"r8", reverse=True, limit=3)] == [b"r8", b"r7", b"r6"]
