"""Kafka: producer, consumer and admin configurations from settings (confluent-kafka)."""

from __future__ import annotations

from typing import Any

from websessions.settings import Settings

#: The broker closes connections idle ``kafka_connections_max_idle_ms`` and librdkafka reconnects on the
#: next request; without this it would log each such close as a failure.
QUIET_DISCONNECTS = {"log.connection.close": False}


def producer(settings: Settings, **overrides: Any):
    """An idempotent producer that waits for all in-sync replicas (acks=all)."""
    from confluent_kafka import Producer

    config = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        **QUIET_DISCONNECTS,
        **overrides,
    }
    return Producer(config)


def consumer(settings: Settings, group_id: str, **overrides: Any):
    """A consumer with manual offset commits (commit only after the data is durable)."""
    from confluent_kafka import Consumer

    config = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        **QUIET_DISCONNECTS,
        **overrides,
    }
    return Consumer(config)


def admin(settings: Settings):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 0})
