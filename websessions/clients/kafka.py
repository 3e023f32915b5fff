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


def ensure_topics(settings: Settings, *topics: str) -> None:
    """Create the topics that do not exist yet (``settings.kafka_partitions`` partitions each)."""
    from confluent_kafka.admin import NewTopic

    client = admin(settings)
    existing = set(client.list_topics(timeout=10).topics)
    wanted = [NewTopic(t, num_partitions=settings.kafka_partitions, replication_factor=1) for t in topics]
    wanted = [topic for topic in wanted if topic.topic not in existing]
    for topic, future in client.create_topics(wanted, request_timeout=15).items() if wanted else []:
        try:
            future.result()
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ConnectionError(f"kafka: creating topic {topic} failed: {exc}") from exc
