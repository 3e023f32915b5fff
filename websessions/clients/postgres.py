"""PostgreSQL: connections to the product database with the settings' role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from websessions.clients.unreachable import ServiceUnreachable
from websessions.settings import Settings


@contextmanager
def connect(settings: Settings, db: str | None = None, autocommit: bool = False) -> Iterator:
    """A psycopg2 connection to ``db`` (the product database by default), closed on exit."""
    import psycopg2

    try:
        conn = psycopg2.connect(settings.postgres_dsn(db), connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise ServiceUnreachable("postgres", f"{settings.postgres_host}:{settings.postgres_port}", exc) from exc
    conn.autocommit = autocommit
    try:
        yield conn
    finally:
        conn.close()
