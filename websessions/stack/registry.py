"""The local services in start order (a service starts after everything it depends on).

:data:`SERVICE_ORDER` is the stack; :data:`CLUSTER_ORDER` the engines' standalone clusters that only
cluster mode starts (``websessions stack up --cluster``, ``stack_cluster``), after the stack.
"""

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
#: Cluster mode's services, name -> "module:Class", in start order.
CLUSTER_SERVICES = {
    "flink": "websessions.stack.services.flink:Flink",
    "spark": "websessions.stack.services.spark:Spark",
}
CLUSTER_ORDER = tuple(CLUSTER_SERVICES)
ALL_ORDER = SERVICE_ORDER + CLUSTER_ORDER


def build_service(settings: Settings, name: str) -> Service:
    module, cls = {**SERVICES, **CLUSTER_SERVICES}[name].split(":")
    return getattr(importlib.import_module(module), cls)(settings)


def default_order(settings: Settings) -> tuple[str, ...]:
    """What ``stack up`` starts: the stack, and the clusters too in cluster mode."""
    return ALL_ORDER if settings.stack_cluster else SERVICE_ORDER


def build_services(settings: Settings, names: tuple[str, ...] | list[str] = SERVICE_ORDER) -> dict:
    """The named services (the stack's by default), keyed by name, in start order."""
    return {name: build_service(settings, name) for name in ALL_ORDER if name in names}
