"""HBase through its Thrift 1 server (happybase: buffered transport, binary protocol)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from websessions.clients.unreachable import ServiceUnreachable
from websessions.settings import Settings


@contextmanager
def connect(settings: Settings, timeout_ms: int = 10_000) -> Iterator:
    """A happybase connection to the Thrift server, closed on exit."""
    import happybase

    conn = happybase.Connection(settings.hbase_host, settings.hbase_thrift_port, timeout=timeout_ms, autoconnect=False)
    try:
        conn.open()
    except Exception as exc:
        raise ServiceUnreachable("hbase thrift", f"{settings.hbase_host}:{settings.hbase_thrift_port}", exc) from exc
    try:
        yield conn
    finally:
        conn.close()
