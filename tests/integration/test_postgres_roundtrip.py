"""PostgreSQL: the stack's own cluster, the product role and databases, a table round trip."""

from __future__ import annotations

import psycopg2
import pytest

from websessions.clients import postgres


def test_the_product_role_owns_the_product_airflow_and_metastore_databases(stack) -> None:
    settings = stack("postgres")
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY(%s) ORDER BY datname",
            ([settings.postgres_db, settings.airflow_db, settings.metastore_db],),
        )
        rows = cur.fetchall()
    expected = sorted(
        (db, settings.postgres_user) for db in (settings.postgres_db, settings.airflow_db, settings.metastore_db)
    )
    assert rows == expected


def test_a_table_round_trip(stack) -> None:
    settings = stack("postgres")
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (id int PRIMARY KEY, url text)")
        rows = [(i, f"/pages/{i}/ünïcode") for i in range(1000)]
        cur.executemany("INSERT INTO t VALUES (%s, %s)", rows)
        cur.execute("SELECT id, url FROM t ORDER BY id")
        assert cur.fetchall() == rows


def test_a_wrong_password_is_refused(stack) -> None:
    settings = stack("postgres")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(settings.postgres_dsn().replace(settings.postgres_password, "wrong"), connect_timeout=5)


def test_the_server_listens_on_loopback_only(stack) -> None:
    settings = stack("postgres")
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone()[0] == "127.0.0.1"
