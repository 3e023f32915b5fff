"""HiveServer2 protocol (Spark's Thrift server) through PyHive."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from websessions.clients.unreachable import ServiceUnreachable
from websessions.settings import Settings

# Both clients log every request at INFO; health probes would flood the CLI's output.
logging.getLogger("pyhive").setLevel(logging.WARNING)
# Thrift logs a refused connection with its traceback; connect() raises it as one line instead.
logging.getLogger("thrift.transport.TSocket").setLevel(logging.CRITICAL)


@contextmanager
def connect(settings: Settings) -> Iterator:
    """A PyHive connection to HiveServer2, closed on exit."""
    from pyhive import hive

    try:
        conn = hive.connect(host=settings.hive_host, port=settings.hive_port, username=settings.hive_user)
    except Exception as exc:
        raise ServiceUnreachable("hiveserver2", f"{settings.hive_host}:{settings.hive_port}", exc) from exc
    try:
        yield conn
    finally:
        conn.close()
