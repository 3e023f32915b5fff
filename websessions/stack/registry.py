"""The local services in start order (a service starts after everything it depends on)."""

from __future__ import annotations

import importlib

from websessions.settings import Settings
from websessions.stack.service import Service

#: name -> "module:Class", in start order.
SERVICES = {
    "postgres": "websessions.stack.services.postgres:Postgres",
    "kafka": "websessions.stack.services.kafka:Kafka",
    "hdfs": "websessions.stack.services.hdfs:Hdfs",
    "hbase": "websessions.stack.services.hbase:HBase",
    "hive": "websessions.stack.services.hive:Hive",
    "airflow": "websessions.stack.services.airflow:Airflow",
}
SERVICE_ORDER = tuple(SERVICES)


def build_service(settings: Settings, name: str) -> Service:
    module, cls = SERVICES[name].split(":")
    return getattr(importlib.import_module(module), cls)(settings)


def build_services(settings: Settings, names: tuple[str, ...] | list[str] = SERVICE_ORDER) -> dict:
    """The named services (all by default), keyed by name, in start order."""
    return {name: build_service(settings, name) for name in SERVICE_ORDER if name in names}
