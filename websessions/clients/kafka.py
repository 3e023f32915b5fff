"""Kafka: producer, consumer and admin configurations from settings (confluent-kafka), and the same
connection as Java-client properties for Flink's Kafka source and sink.

Every client connects through :func:`librdkafka_config` or :func:`java_client_properties`: the bootstrap
servers and, for a secured Kafka, ``security.protocol``, the SASL mechanism and credentials and the CA
file of TLS (``kafka_security_protocol``, ``kafka_sasl_*``, ``kafka_ssl_ca_file``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from websessions.settings import Settings

log = logging.getLogger(__name__)

#: The broker closes connections idle ``kafka_connections_max_idle_ms`` and librdkafka reconnects on the
#: next request; without this it would log each such close as a failure.
QUIET_DISCONNECTS = {"log.connection.close": False}


class LibrdkafkaDebugLog:
    """librdkafka's own log lines (one per reconnect attempt while Kafka is down) at debug level on ``logger``,
    instead of librdkafka printing them to stderr: a failure reaches the user once, as the error of the call."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def log(self, _level: int, msg: str, *args: object) -> None:
        self.logger.debug(msg, *args)


def _quiet() -> dict[str, Any]:
    return {**QUIET_DISCONNECTS, "logger": LibrdkafkaDebugLog(logging.getLogger(f"{__name__}.librdkafka"))}


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
_JAAS_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def _security(settings: Settings) -> tuple[str, bool, bool]:
    """The checked security protocol, and whether it uses SASL and TLS."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"WEBSESSIONS_KAFKA_SECURITY_PROTOCOL={protocol!r}: expected one of {', '.join(SECURITY_PROTOCOLS)}"
        )
    sasl = protocol.startswith("SASL_")
    if sasl:
        if settings.kafka_sasl_mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"WEBSESSIONS_KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism!r}: "
                f"expected one of {', '.join(SASL_MECHANISMS)}"
            )
        if not (settings.kafka_sasl_username and settings.kafka_sasl_password):
            raise ValueError(
                f"kafka: {protocol} needs WEBSESSIONS_KAFKA_SASL_USERNAME and WEBSESSIONS_KAFKA_SASL_PASSWORD"
            )
    return protocol, sasl, protocol.endswith("SSL")


def librdkafka_config(settings: Settings) -> dict[str, Any]:
    """The connection part of every librdkafka client's configuration: servers and security."""
    protocol, sasl, tls = _security(settings)
    config: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap, "security.protocol": protocol}
    if sasl:
        config.update(
            {
                "sasl.mechanism": settings.kafka_sasl_mechanism,
                "sasl.username": settings.kafka_sasl_username,
                "sasl.password": settings.kafka_sasl_password,
            }
        )
    if tls and settings.kafka_ssl_ca_file:
        config["ssl.ca.location"] = settings.kafka_ssl_ca_file
    if sasl:
        config["error_cb"] = lambda error: log_refusal(settings, error)
    return config


def refused_credentials(settings: Settings, error: Any) -> str | None:
    """The one-line explanation when ``error`` (a librdkafka ``KafkaError``) says the broker refused the
    SASL credentials; ``None`` for any other error. Names the user, never the password."""
    from confluent_kafka import KafkaError

    if error.code() != KafkaError._AUTHENTICATION:
        return None
    return (
        f"kafka at {settings.kafka_bootstrap} refused the SASL credentials of user "
        f"'{settings.kafka_sasl_username}' ({settings.kafka_sasl_mechanism}): {error.str()}; check "
        "WEBSESSIONS_KAFKA_SASL_USERNAME and WEBSESSIONS_KAFKA_SASL_PASSWORD"
    )


def log_refusal(settings: Settings, error: Any) -> str | None:
    """librdkafka's ``error_cb`` of a SASL client: a refused login is logged as an error that says what to
    fix (librdkafka's other errors are transient: it reconnects by itself); returns the message."""
    message = refused_credentials(settings, error)
    if message:
        log.error("%s", message)
    return message


def java_client_properties(settings: Settings, prefix: str = "") -> dict[str, str]:
    """The same connection as Kafka Java-client properties (Flink's Kafka source and sink), each key with
    ``prefix`` (``"properties."`` for a Flink SQL table's options)."""
    protocol, sasl, tls = _security(settings)
    props = {"bootstrap.servers": settings.kafka_bootstrap, "security.protocol": protocol}
    if sasl:
        user, password = (
            json.dumps(v, ensure_ascii=False) for v in (settings.kafka_sasl_username, settings.kafka_sasl_password)
        )
        module = _JAAS_MODULES[settings.kafka_sasl_mechanism]
        props["sasl.mechanism"] = settings.kafka_sasl_mechanism
        props["sasl.jaas.config"] = f"{module} required username={user} password={password};"
    if tls and settings.kafka_ssl_ca_file:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = settings.kafka_ssl_ca_file
    return {prefix + key: value for key, value in props.items()}


def producer(settings: Settings, **overrides: Any):
    """An idempotent producer that waits for all in-sync replicas (acks=all)."""
    from confluent_kafka import Producer

    config = {
        **librdkafka_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        **_quiet(),
        **overrides,
    }
    return Producer(config)


def consumer(settings: Settings, group_id: str, **overrides: Any):
    """A consumer with manual offset commits (commit only after the data is durable)."""
    from confluent_kafka import Consumer

    config = {
        **librdkafka_config(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        **_quiet(),
        **overrides,
    }
    return Consumer(config)


def admin(settings: Settings):
    from confluent_kafka.admin import AdminClient

    return AdminClient({**librdkafka_config(settings), "log_level": 0})


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
