"""The serving schema's migrations on the real Postgres, in private databases.

Once migrated (by the owner), every read — the report, the batch layer's sessions and stats, the analytics
— works for a role that may not run DDL (no CREATE on the database or its schema, no temporary tables, owner
of nothing): no read path creates or alters anything. Migrating again applies nothing and changes nothing;
two runners at once apply each migration once; an unmigrated database gives readers and writers the
error that says which command fixes it; ``websessions db migrate`` and ``db status`` do and say so.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest

from tests.integration.datasets import private_database
from websessions import analytics
from websessions.clients import postgres
from websessions.db_migrations import SchemaNotCurrent, expected_version, migrate, migrations
from websessions.events import validate
from websessions.reconcile import HostReconciliation, store
from websessions.report import bots_excluded, daily_report, day_layers, domain_report, refresh_speed_sessions
from websessions.sessionizer import sessionize
from websessions.sessions import SessionRule
from websessions.settings import Settings
from websessions.stack.services.postgres import Postgres
from websessions.stores import postgres_analytics
from websessions.stores.postgres_sessions import SESSION_COLUMNS, daily_stats, replace_day, sessions_of_day

pytestmark = pytest.mark.integration
HOST = "www.dataexpert.io"
BATCH_DAY, SPEED_DAY = "2026-09-14", "2026-09-15"
PERSON = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
RULE = SessionRule()


def day_events() -> list:
    """Two people and a crawler on the batch day, one person on the speed day."""
    events = []

    def add(at: str, ip: str, url: str, agent: str) -> None:
        raw = {"event_time": at, "ip": ip, "host": HOST, "url": url, "user_agent": agent,
               "event_id": str(len(events)), "load_time_ms": 100 + 10 * len(events)}  # fmt: skip
        events.append(validate(raw))

    for i, urls in enumerate((("/", "/pricing"), ("/", "/pricing", "/courses"))):
        for j, url in enumerate(urls):
            add(f"{BATCH_DAY}T09:0{i}:{10 * j:02d}.000Z", f"10.0.0.{i}", url, PERSON)
    for j in range(4):
        add(f"{BATCH_DAY}T11:{j:02d}:00.000Z", "192.0.2.7", f"/p{j}", BOT)
    add(f"{SPEED_DAY}T08:00:00.000Z", "10.0.0.5", "/", PERSON)
    return events


@pytest.fixture(scope="module")
def migrated(stack) -> Iterator[tuple[Settings, list, dict]]:
    """A migrated private database with a reconciled batch day (sessions, stats, analytics) and a day the
    speed layer serves, all written by the product role."""
    base = stack("postgres")
    events = day_events()
    sessions = sessionize(events, RULE)
    batch = [s for s in sessions if s.dt == BATCH_DAY]
    by_session = analytics.events_by_session(batch, events, RULE)
    tables = {
        "agents_daily": analytics.agents_daily(batch),
        "event_types_daily": analytics.event_types_daily(by_session),
        "load_times_daily": analytics.load_times_daily(by_session),
        "hourly_trends": analytics.hourly_trends(batch, by_session),
        "page_covisits_daily": analytics.page_covisits(batch, by_session, 3),
    }
    stats = [{"dt": BATCH_DAY, "host": HOST, "sessions": len(batch), "events": sum(s.events for s in batch),
              "avg_events_per_session": 3.0, "max_events_per_session": 4, "median_events_per_session": 3.0,
              "unique_ips": 3, "avg_duration_s": 60.0, "median_duration_s": 20.0, "bounce_rate": 0.0,
              "bot_sessions": 1, "bot_share": 1 / 3}]  # fmt: skip
    with private_database(base, "migrations", migrated=False) as settings:
        assert migrate(settings) == migrations()
        rows = {name: [dataclasses.asdict(r) for r in found] for name, found in tables.items()}
        replace_day(settings, BATCH_DAY, batch, stats, rows)
        store(settings, BATCH_DAY, {HOST: HostReconciliation(HOST, matched=len(batch))}, max_ratio=1.0)
        refresh_speed_sessions(settings, SPEED_DAY, [s for s in sessions if s.dt == SPEED_DAY])
        yield settings, sessions, tables


@pytest.fixture(scope="module")
def reader(migrated) -> Iterator[Settings]:
    """``migrated``'s settings as a role that may read the serving tables and views and nothing else."""
    settings, _, _ = migrated
    role, password = f"test_reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with closing(Postgres(settings).superuser_connection()) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s", (password,))
    db = settings.postgres_db
    with closing(Postgres(settings).superuser_connection(db)) as admin, admin.cursor() as cur:
        cur.execute(f'REVOKE CREATE, TEMPORARY ON DATABASE "{db}" FROM PUBLIC')
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cur.execute(f'GRANT CONNECT ON DATABASE "{db}" TO {role}')
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        yield dataclasses.replace(settings, postgres_user=role, postgres_password=password)
    finally:
        with closing(Postgres(settings).superuser_connection(db)) as admin, admin.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
        with closing(Postgres(settings).superuser_connection()) as admin, admin.cursor() as cur:
            cur.execute(f"DROP ROLE {role}")


def test_the_reader_role_may_not_run_ddl(reader) -> None:
    """The premise of the next test: every kind of DDL a read path could run is refused to this role."""
    import psycopg2.errors

    for ddl in ("CREATE TABLE probe (i int)", "CREATE TEMPORARY TABLE probe (i int)",
                "CREATE OR REPLACE VIEW batch_days AS SELECT current_date AS dt",
                "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS probe int", "CREATE SCHEMA probe"):  # fmt: skip
        with (
            postgres.connect(reader) as conn,
            conn.cursor() as cur,
            pytest.raises(psycopg2.errors.InsufficientPrivilege),
        ):
            cur.execute(ddl)


def test_every_read_works_for_a_role_without_ddl_privileges(migrated, reader) -> None:
    _, sessions, tables = migrated
    batch = [s for s in sessions if s.dt == BATCH_DAY]
    # The report: the reconciled day from the batch layer, the other from the speed layer.
    assert [(d.dt, d.layer) for d in day_layers(reader, BATCH_DAY, SPEED_DAY)] == [
        (BATCH_DAY, "batch"), (SPEED_DAY, "speed"),
    ]  # fmt: skip
    rows = {(r.host, r.layer): r for r in domain_report(reader, BATCH_DAY, SPEED_DAY)}
    assert (rows[HOST, "batch"].sessions, rows[HOST, "speed"].sessions) == (len(batch), 1)
    assert rows[HOST, "batch"].events == sum(s.events for s in batch)
    assert [(d.dt, d.row.sessions) for d in daily_report(reader, BATCH_DAY, SPEED_DAY, HOST)] == [
        (BATCH_DAY, len(batch)), (SPEED_DAY, 1),
    ]  # fmt: skip
    assert bots_excluded(reader, BATCH_DAY, SPEED_DAY).bot_sessions == 1
    # The batch layer's sessions and stats.
    assert sessions_of_day(reader, BATCH_DAY) == sorted(batch, key=lambda s: (s.host, s.ip, s.start_ms))
    assert [(s.dt, s.sessions, s.bot_sessions) for s in daily_stats(reader, BATCH_DAY, BATCH_DAY)] == [
        (BATCH_DAY, len(batch), 1)
    ]
    # The analytics.
    shares = postgres_analytics.agent_shares(reader, BATCH_DAY, BATCH_DAY)
    assert sorted((a.agent.is_bot, a.sessions) for a in shares) == [(False, 2), (True, 1)]
    counts = postgres_analytics.event_type_counts(reader, BATCH_DAY, BATCH_DAY)
    assert [(c.event_type, c.events) for c in counts] == [("pageview", sum(s.events for s in batch))]
    (host_row,) = postgres_analytics.load_times(reader, BATCH_DAY, pages=False)
    (want,) = [r for r in tables["load_times_daily"] if r.page is None]
    assert (host_row.samples, host_row.p95_ms) == (want.samples, want.p95_ms)
    hours = postgres_analytics.hourly_series(reader, BATCH_DAY, BATCH_DAY)
    assert sum(h.events for h in hours) == sum(s.events for s in batch)
    recs = postgres_analytics.recommendations(reader, HOST, "/", BATCH_DAY)
    assert [(r.also_viewed, r.sessions) for r in recs][:1] == [("/pricing", 2)]
    (top,) = postgres_analytics.top_sessions(reader, BATCH_DAY, 1)
    assert (top.session.ip, top.is_bot) == ("192.0.2.7", True)


def schema_snapshot(settings: Settings) -> list[tuple]:
    """Every relation of the public schema (name, kind, columns) and every view's definition."""
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT c.relname, c.relkind, pg_get_viewdef(c.oid),
                      array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE n.nspname = 'public' GROUP BY 1, 2, 3 ORDER BY 1"""
        )
        return cur.fetchall()


def test_migrating_again_applies_nothing_and_changes_nothing(migrated) -> None:
    settings, _, _ = migrated
    before = schema_snapshot(settings)
    assert migrate(settings) == []
    assert schema_snapshot(settings) == before
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT version, name FROM schema_version ORDER BY version")
        assert cur.fetchall() == [(m.version, m.name) for m in migrations()]


def test_the_session_columns_are_the_migrated_tables(migrated) -> None:
    settings, _, _ = migrated
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = 'sessions' ORDER BY ordinal_position"
        )
        assert tuple(name for (name,) in cur.fetchall()) == SESSION_COLUMNS


def test_two_runners_at_once_apply_each_migration_once(stack) -> None:
    with private_database(stack("postgres"), "migrations_race", migrated=False) as settings:
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(migrate, [settings, settings]))
        assert sorted(len(applied) for applied in runs) == [0, len(migrations())]


def test_an_unmigrated_database_says_to_run_db_migrate(stack) -> None:
    message = f"the serving schema is at version 0, expected {expected_version()}: run `websessions db migrate`"
    with private_database(stack("postgres"), "unmigrated", migrated=False) as settings:
        reads = (
            lambda: sessions_of_day(settings, BATCH_DAY),
            lambda: domain_report(settings, BATCH_DAY, BATCH_DAY),
            lambda: postgres_analytics.agent_shares(settings, BATCH_DAY, BATCH_DAY),
            lambda: replace_day(settings, BATCH_DAY, [], []),
        )
        for read in reads:
            with pytest.raises(SchemaNotCurrent) as failure:
                read()
            assert str(failure.value) == message
        with postgres.connect(settings) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = 'public'")  # fmt: skip
            assert cur.fetchone() == (0,)  # nothing was created on the way


def test_the_db_command_migrates_and_reports_the_version_and_a_read_says_to_migrate(stack) -> None:
    with private_database(stack("postgres"), "db_command", migrated=False) as settings:
        env = {**os.environ, **settings.as_env()}

        def websessions(*args: str) -> subprocess.CompletedProcess:
            command = [sys.executable, "-m", "websessions.cli", *args]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

        status = websessions("db", "status")
        assert status.returncode == 1
        assert f"at version 0, expected {expected_version()} (run `websessions db migrate`)" in status.stdout
        report = websessions("report", "--from", BATCH_DAY, "--to", BATCH_DAY)
        assert (report.returncode, report.stderr.strip()) == (
            1, f"error: the serving schema is at version 0, expected {expected_version()}: run `websessions db migrate`"
        )  # fmt: skip
        first, second = websessions("db", "migrate"), websessions("db", "migrate")
        assert (first.returncode, second.returncode) == (0, 0), first.stderr[-2000:]
        assert [line for line in first.stdout.splitlines() if line.startswith("applied ")] == [
            f"applied {m.version:04d}_{m.name}" for m in migrations()
        ]
        assert "(0 migration(s) applied)" in second.stdout
        status = websessions("db", "status")
        assert (status.returncode, f"expected {expected_version()} (current)" in status.stdout) == (0, True)


# The sessions table of the schema before partitioning (a plain table, primary key session_id).
LEGACY_SESSIONS = """
CREATE TABLE sessions (session_id text PRIMARY KEY, dt date NOT NULL, host text NOT NULL, ip text NOT NULL,
    start_ts timestamptz NOT NULL, end_ts timestamptz NOT NULL, duration_s double precision NOT NULL,
    events integer NOT NULL, pages integer NOT NULL, first_url text NOT NULL, last_url text NOT NULL,
    referrer text, user_agent text, errors integer NOT NULL, geo jsonb, status text NOT NULL);
CREATE INDEX sessions_dt_host_ip ON sessions (dt, host, ip);
CREATE VIEW legacy_days AS SELECT DISTINCT dt FROM sessions;
"""


def test_an_unpartitioned_sessions_table_is_converted_into_day_partitions_by_the_first_migration(stack) -> None:
    """A database of the earlier schema keeps its sessions, one partition per day; the views over the old
    table go with it and the report's are created again."""
    import json

    from websessions.events import format_time_ms
    from websessions.stores.postgres_sessions import partition_name

    sessions = sessionize(day_events(), RULE)
    with private_database(stack("postgres"), "legacy", migrated=False) as settings:
        with postgres.connect(settings) as conn, conn.cursor() as cur:
            cur.execute(LEGACY_SESSIONS)
            for s in sessions:
                cur.execute(
                    "INSERT INTO sessions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (s.session_id, s.dt, s.host, s.ip, format_time_ms(s.start_ms), format_time_ms(s.end_ms),
                     s.duration_s, s.events, s.pages, s.first_url, s.last_url, s.referrer, s.user_agent, s.errors,
                     json.dumps(s.geo), s.status),
                )  # fmt: skip
            conn.commit()
        assert migrate(settings) == migrations()
        for day in (BATCH_DAY, SPEED_DAY):
            assert sessions_of_day(settings, day) == sorted(
                (s for s in sessions if s.dt == day), key=lambda s: (s.host, s.ip, s.start_ms)
            )
        with postgres.connect(settings) as conn, conn.cursor() as cur:
            cur.execute("SELECT relkind FROM pg_class WHERE relname = 'sessions'")
            assert cur.fetchone() == ("p",)
            cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'sessions'::regclass")
            assert sorted(row[0] for row in cur.fetchall()) == [partition_name(BATCH_DAY), partition_name(SPEED_DAY)]
            cur.execute("SELECT to_regclass('legacy_days'), to_regclass('sessions_unpartitioned')")
            assert cur.fetchone() == (None, None)
        store(settings, BATCH_DAY, {HOST: HostReconciliation(HOST, matched=1)}, max_ratio=1.0)
        (row,) = [r for r in domain_report(settings, BATCH_DAY, BATCH_DAY) if r.host == HOST]
        assert (row.layer, row.sessions) == ("batch", sum(s.dt == BATCH_DAY for s in sessions))


def test_the_nightly_dags_first_task_migrates_the_runs_database(stack, tmp_path, monkeypatch) -> None:
    """``migrate_serving_schema``, called as Airflow calls it for a run whose conf points at another database."""
    from types import SimpleNamespace

    from websessions.settings import REPO_ROOT

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "web_sessions_nightly.py"))
    dag = bag.dags["web_sessions_nightly"]
    (first,) = [task for task in dag.tasks if not task.upstream_task_ids]
    assert first.task_id == "migrate_serving_schema"
    with private_database(stack("postgres"), "dag_migrate", migrated=False) as settings:
        run = SimpleNamespace(conf={"settings": {"postgres_db": settings.postgres_db}})
        assert first.python_callable(dag_run=run) == [f"{m.version:04d}_{m.name}" for m in migrations()]
        assert first.python_callable(dag_run=run) == []
        assert sessions_of_day(settings, BATCH_DAY) == []  # readable: the schema is there
