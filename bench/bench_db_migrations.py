"""What the serving schema's migrations cost: applying them, a run with nothing to apply, and the version
check every read and write now makes instead of running DDL.

A private database (removed afterwards) on the running stack's Postgres: ``migrate`` on it empty, then
``--runs`` more times (nothing to apply); then ``--reads`` times each, a connection with and without the
version check (:func:`websessions.db_migrations.serving_connection` against a plain connect), and the
check alone on an open connection. Medians.

    .venv/bin/python bench/bench_db_migrations.py --runs 20 --reads 300
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websessions.clients import postgres  # noqa: E402
from websessions.db_migrations import check_current, migrate, serving_connection  # noqa: E402
from websessions.settings import load_settings  # noqa: E402
from websessions.stack.services.postgres import Postgres  # noqa: E402


def timed(fn, times: int) -> float:
    """The median seconds of ``times`` calls of ``fn``."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()
    base = load_settings()
    settings = dataclasses.replace(base, postgres_db=f"bench_migrations_{uuid.uuid4().hex[:8]}")
    with closing(Postgres(base).superuser_connection()) as admin, admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{settings.postgres_db}" OWNER "{settings.postgres_user}"')
    try:
        start = time.perf_counter()
        applied = migrate(settings)
        first = time.perf_counter() - start
        noop = timed(lambda: migrate(settings), args.runs)

        def plain() -> None:
            with postgres.connect(settings) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")

        def checked() -> None:
            with serving_connection(settings) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")

        connect_only, connect_checked = timed(plain, args.reads), timed(checked, args.reads)
        with postgres.connect(settings) as conn, conn.cursor() as cur:
            check_alone = timed(lambda: check_current(cur), args.reads)
    finally:
        with closing(Postgres(base).superuser_connection()) as admin, admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{settings.postgres_db}" WITH (FORCE)')
    print(f"migrate, empty database ({len(applied)} migrations): {first * 1000:.1f} ms")
    print(f"migrate, nothing to apply (median of {args.runs}): {noop * 1000:.2f} ms")
    print(f"connect + SELECT 1 (median of {args.reads}): {connect_only * 1000:.2f} ms")
    print(f"connect + version check + SELECT 1: {connect_checked * 1000:.2f} ms")
    print(f"version check alone on an open connection: {check_alone * 1e6:.0f} us")


if __name__ == "__main__":
    main()
