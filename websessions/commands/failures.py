"""Failures the user can act on, as one line on stderr and an exit code (:mod:`.exit_codes`), never a traceback.

Each client says which service failed where it can (:class:`websessions.clients.unreachable.ServiceUnreachable`);
the HTTP clients (WebHDFS, the Airflow API) and Kafka's raise their library's errors from many calls, so they are
named here from the URL or the settings.
"""

from __future__ import annotations

from websessions.clients.unreachable import ServiceUnreachable
from websessions.commands import exit_codes
from websessions.settings import Settings

# librdkafka's error codes that mean the brokers did not answer (as opposed to a refused request).
KAFKA_UNREACHABLE = ("_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_RESOLVE", "NETWORK_EXCEPTION")


def _http_unreachable(exc: Exception, settings: Settings) -> ServiceUnreachable:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or ""
    for service, base in (("hdfs (WebHDFS)", settings.webhdfs_url), ("airflow api", settings.airflow_url)):
        if url.startswith(base):
            return ServiceUnreachable(service, base.removeprefix("http://"), _last_cause(exc))
    return ServiceUnreachable("http service", url.split("?")[0] or "?", _last_cause(exc))


def _last_cause(exc: BaseException) -> BaseException:
    """The innermost cause in a chain of wrappers (urllib3's pool error says 'Max retries exceeded with...')."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    reason = getattr(inner, "reason", None)
    return reason if isinstance(reason, BaseException) else (inner or exc)


def unreachable(exc: BaseException, settings: Settings) -> ConnectionError | None:
    """``exc`` as a one-line connection failure naming its service, or None if it is not one."""
    if isinstance(exc, ConnectionError):
        return exc
    module = type(exc).__module__ or ""
    if module.startswith("requests"):
        import requests

        if isinstance(exc, requests.ConnectionError | requests.Timeout):
            return _http_unreachable(exc, settings)
    if module.startswith(("confluent_kafka", "cimpl")):
        error = exc.args[0] if exc.args else None
        name = getattr(error, "name", lambda: "")()
        if name in KAFKA_UNREACHABLE:
            return ServiceUnreachable("kafka", settings.kafka_bootstrap, getattr(error, "str", lambda: exc)())
    if module.startswith("psycopg2") and type(exc).__name__ == "OperationalError":
        return ServiceUnreachable("postgres", f"{settings.postgres_host}:{settings.postgres_port}", exc)
    return None


def one_line(exc: BaseException, settings: Settings) -> tuple[int, str] | None:
    """The exit code and the line to print for a failure the user can act on; None for anything else (a bug)."""
    from websessions.db_migrations import SchemaNotCurrent
    from websessions.ingest import IngestError
    from websessions.stack.service import StackError

    if isinstance(exc, IngestError):  # Kafka failed under ingest, generate --kafka, demo: with what was acknowledged
        return exit_codes.UNREACHABLE, f"error: {exc.summary()}"
    if isinstance(exc, StackError | SchemaNotCurrent):  # SchemaNotCurrent: a database not migrated yet
        return exit_codes.FAILED, f"error: {exc}"
    failure = unreachable(exc, settings)
    if failure is not None:
        first = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        return exit_codes.UNREACHABLE, f"error: {first}"
    return None
