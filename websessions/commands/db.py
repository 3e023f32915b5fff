"""``websessions db``: the Postgres serving schema's migrations (:mod:`websessions.db_migrations`).

``db migrate`` applies the pending ones (the step ``stack up`` and the nightly DAG also run);
``db status`` says which version the database is at and which this code expects (exit 1 when they differ).
"""

from __future__ import annotations

import argparse

from websessions.settings import get_settings


def _db(args: argparse.Namespace) -> int:
    from websessions import db_migrations

    settings = get_settings()
    where = f"{settings.postgres_host}:{settings.postgres_port}/{settings.postgres_db}"
    if args.action == "migrate":
        applied = db_migrations.migrate(settings)
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
        print(f"{where}: serving schema at version {db_migrations.expected_version()}"
              f" ({len(applied)} migration(s) applied)")  # fmt: skip
        return 0
    from websessions.clients import postgres

    with postgres.connect(settings) as conn, conn.cursor() as cur:
        found = db_migrations.current_version(cur)
    expected = db_migrations.expected_version()
    state = "current" if found == expected else "run `websessions db migrate`"
    print(f"{where}: serving schema at version {found}, expected {expected} ({state})")
    return 0 if found == expected else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the Postgres serving schema: migrate (apply pending migrations), status")
    db.add_argument("action", choices=["migrate", "status"])
    db.set_defaults(func=_db)
