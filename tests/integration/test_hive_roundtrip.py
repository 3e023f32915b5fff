"""HiveServer2 (Spark's Thrift server): tables live in the Postgres metastore, their files on HDFS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from websessions.clients.hdfs import webhdfs
from websessions.clients.hive import connect


@pytest.fixture
def table_name(stack) -> Iterator[str]:
    """A unique table name; the table is dropped (with its files) afterwards."""
    settings = stack("hive")
    name = f"test_roundtrip_{uuid.uuid4().hex[:10]}"
    yield name
    with connect(settings) as conn:
        cursor = conn.cursor()
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.close()


def _describe(cursor, table: str) -> dict[str, str]:
    cursor.execute(f"DESCRIBE FORMATTED {table}")
    return {row[0].strip(): (row[1] or "").strip() for row in cursor.fetchall() if row[0]}


def test_a_parquet_table_round_trips_and_its_files_land_on_hdfs(stack, table_name: str) -> None:
    settings = stack("hive")
    rows = [(i, f"/pages/{i}", f"host-{i % 3}.example") for i in range(1, 51)]
    values = ", ".join(f"({i}, '{url}', '{host}')" for i, url, host in rows)
    with connect(settings) as conn:
        cursor = conn.cursor()
        cursor.execute(f"CREATE TABLE {table_name} (id INT, url STRING, host STRING) STORED AS PARQUET")
        cursor.execute(f"INSERT INTO {table_name} VALUES {values}")
        cursor.execute(f"SELECT id, url, host FROM {table_name} ORDER BY id")
        assert cursor.fetchall() == rows
        cursor.execute(f"SELECT host, COUNT(*) FROM {table_name} GROUP BY host ORDER BY host")
        assert cursor.fetchall() == [("host-0.example", 16), ("host-1.example", 17), ("host-2.example", 17)]
        details = _describe(cursor, table_name)
        cursor.close()

    location = f"{settings.hdfs_url}{settings.warehouse_dir}/{table_name}"
    assert details["Location"] == location
    assert "parquet" in details["Serde Library"].lower()
    files = webhdfs(settings).list(location.removeprefix(settings.hdfs_url), status=True)
    data_files = [(name, status) for name, status in files if name.endswith(".parquet")]
    assert data_files, f"no Parquet files under {location}: {[name for name, _ in files]}"
    assert all(status["length"] > 0 and status["replication"] == 1 for _, status in data_files)


def test_the_metastore_lives_in_postgres(stack, table_name: str) -> None:
    settings = stack("hive")
    with connect(settings) as conn:
        cursor = conn.cursor()
        cursor.execute(f"CREATE TABLE {table_name} (id INT) STORED AS PARQUET")
        cursor.close()
    with psycopg2.connect(settings.postgres_dsn(settings.metastore_db)) as pg, pg.cursor() as cur:
        cur.execute(
            'SELECT t."TBL_TYPE", d."NAME" FROM "TBLS" t JOIN "DBS" d USING ("DB_ID") WHERE t."TBL_NAME" = %s',
            (table_name,),
        )
        assert cur.fetchall() == [("MANAGED_TABLE", "default")]


def test_a_dropped_table_leaves_no_files_behind(stack) -> None:
    settings = stack("hive")
    name = f"test_drop_{uuid.uuid4().hex[:10]}"
    with connect(settings) as conn:
        cursor = conn.cursor()
        cursor.execute(f"CREATE TABLE {name} (id INT) STORED AS PARQUET")
        cursor.execute(f"INSERT INTO {name} VALUES (1)")
        cursor.execute(f"DROP TABLE {name}")
        cursor.close()
    assert name not in webhdfs(settings).list(settings.warehouse_dir)
