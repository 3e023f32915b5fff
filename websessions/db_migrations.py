"""The Postgres serving schema as versioned migrations: ``postgres/migrations/NNNN_name.sql``, applied in order.

:func:`migrate` is the one step that changes the schema; ``websessions stack up`` (once Postgres is
up), ``websessions db migrate`` and the nightly DAG's first task call it. It takes an advisory lock (two
runners queue instead of racing), applies in one transaction every migration not yet recorded in
``schema_version`` (one row per applied version: version, name, when) and records it there; a second run
applies nothing. Readers never run DDL, and writers never change the schema (the batch's day swap
makes and attaches its own partition): they connect through :func:`serving_connection`
(:func:`check_current`), which fails with :class:`SchemaNotCurrent` — naming the version
found, the one expected and the command that fixes it — on a database not at the latest version.

The files are found under the repository root (``postgres/migrations``), as ``hive/ddl`` is; each is
run whole (statements, ``DO`` blocks), no variables filled in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from websessions.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = REPO_ROOT / "postgres" / "migrations"
VERSION_TABLE = "schema_version"
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_LOCK_NAME = "websessions.schema_migrations"
_VERSION_TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class SchemaNotCurrent(RuntimeError):
    """The database's serving schema is not at the version this code expects."""


@dataclass(frozen=True)
class Migration:
    """One migration file: ``NNNN_name.sql``."""

    version: int
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations of ``directory`` by version; versions must run 1, 2, 3… without gaps or repeats,
    and every ``.sql`` file must be named ``NNNN_name.sql``."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if not match:
            raise ValueError(f"{path}: a migration is named NNNN_lower_case_name.sql")
        found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"{directory}: migration versions must be 1..{len(found)} without gaps, found {versions}")
    return found


@cache
def expected_version() -> int:
    """The version of the newest migration: the one this code reads and writes."""
    return migrations()[-1].version


def current_version(cur) -> int:
    """The newest version applied to the cursor's database (0: never migrated). Reads only."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,))
    if not cur.fetchone()[0]:
        return 0
    cur.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}")
    return int(cur.fetchone()[0])


def check_current(cur) -> None:
    """Raise :class:`SchemaNotCurrent` unless the cursor's database is at :func:`expected_version`."""
    found, expected = current_version(cur), expected_version()
    if found != expected:
        raise SchemaNotCurrent(
            f"the serving schema is at version {found}, expected {expected}: run `websessions db migrate`"
        )


@contextmanager
def serving_connection(settings: Settings) -> Iterator:
    """A connection to the serving database (as :func:`websessions.clients.postgres.connect`), its schema
    checked to be current first (:class:`SchemaNotCurrent` otherwise)."""
    from websessions.clients import postgres

    with postgres.connect(settings) as conn:
        with conn.cursor() as cur:
            check_current(cur)
        yield conn


def migrate(settings: Settings) -> list[Migration]:
    """Apply every migration the database lacks, in order, in one transaction under an advisory lock, and
    record each in ``schema_version``; returns those applied (none when the schema is current)."""
    from websessions.clients import postgres

    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK_NAME,))
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,))
        if not cur.fetchone()[0]:
            cur.execute(_VERSION_TABLE_DDL)
        cur.execute(f"SELECT version FROM {VERSION_TABLE}")
        done = {version for (version,) in cur.fetchall()}
        applied = []
        for migration in migrations():
            if migration.version in done:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            cur.execute(migration.sql())
            cur.execute(
                f"INSERT INTO {VERSION_TABLE} (version, name) VALUES (%s, %s)", (migration.version, migration.name)
            )
            applied.append(migration)
        conn.commit()
    return applied
