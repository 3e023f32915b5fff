"""A Kafka secured with SASL/SCRAM: the product's clients, configured only by settings, round-trip through it.

The test starts a Kafka of its own (the shared stack's is never touched): the stack's Kafka service from the
same pinned jars, with its own data directory under a tmp path, free private ports, a small heap and its
SASL_PLAINTEXT listener (SCRAM-SHA-512) on; it is stopped at the end. Through that listener:

- ``websessions ingest``'s publisher writes a simulated day's events and the audit's scan of the topic
  counts every one of them back (librdkafka, :func:`websessions.clients.kafka.librdkafka_config`);
- Kafka's own Java console consumer, given :func:`websessions.clients.kafka.java_client_properties` (the
  properties Flink's Kafka source and sink get), reads the same records;
- a wrong password fails with an error that says the credentials were refused, and the PLAINTEXT
  settings cannot reach the SASL port.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from websessions.audit import scan_topic
from websessions.clients import kafka
from websessions.events import Event, validate
from websessions.ingest import IngestError, publish_lines
from websessions.settings import Settings, load_settings
from websessions.simulator import SimulatorConfig, generate_day
from websessions.stack import manager
from websessions.stack.jvm import java_argv

pytestmark = pytest.mark.integration

DAY = "2026-11-20"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Client settings for the SASL_PLAINTEXT listener of a private broker (started here, stopped after)."""
    broker = dataclasses.replace(
        load_settings(),
        stack_dir=tmp_path_factory.mktemp("sasl_kafka") / "stack",
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
        kafka_sasl_port=_free_port(),
        kafka_sasl_listener=True,
        kafka_sasl_username="websessions-sasl-test",
        kafka_sasl_password=secrets.token_urlsafe(18),
        kafka_heap="256m",
        kafka_partitions=2,
    )
    started = manager.up(broker, only=["kafka"])
    try:
        yield dataclasses.replace(
            broker,
            kafka_bootstrap_servers=f"{broker.kafka_host}:{broker.kafka_sasl_port}",
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            ingest_delivery_timeout_s=10.0,
        )
    finally:
        for proc in reversed(started):
            proc.stop()


def day_events() -> list[Event]:
    config = SimulatorConfig(late_share=0, duplicate_share=0, malformed_share=0)
    events = [validate(line) for line in generate_day(DAY, 400, seed=5, config=config)]
    assert all(isinstance(e, Event) for e in events)
    return events


def test_ingest_and_audit_round_trip_through_the_sasl_scram_listener(secured: Settings) -> None:
    events = day_events()
    result = publish_lines(secured, [e.to_json() for e in events])
    assert (result.accepted, result.dead_lettered, result.failed) == (len(events), 0, 0)

    per_day = scan_topic(secured, secured.kafka_topic_events, key=lambda value: validate(value).dt)
    assert per_day == {DAY: len(events)}
    got = scan_topic(secured, secured.kafka_topic_events)
    assert sorted(got.elements()) == sorted(e.to_bytes() for e in events)


def describe_scram_users(settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess:
    """Kafka's own ``kafka-configs --describe --entity-type users``, a Java admin client configured with
    :func:`websessions.clients.kafka.java_client_properties` and nothing else."""
    config = tmp_path / "client.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in kafka.java_client_properties(settings).items()))
    argv = java_argv(
        settings, "kafka", "kafka.admin.ConfigCommand",
        ["--bootstrap-server", settings.kafka_bootstrap, "--command-config", str(config),
         "--describe", "--entity-type", "users"],
        heap="128m",
    )  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=180)


def test_the_java_client_properties_authenticate_through_the_sasl_listener(secured: Settings, tmp_path) -> None:
    proc = describe_scram_users(secured, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The SCRAM user the stack created from settings, as the broker describes it to an authenticated client.
    assert f"user-principal '{secured.kafka_sasl_username}' are SCRAM-SHA-512=iterations=8192" in proc.stdout

    wrong = dataclasses.replace(secured, kafka_sasl_password="not-the-password")
    proc = describe_scram_users(wrong, tmp_path)
    assert proc.returncode != 0
    assert "Authentication failed" in proc.stdout + proc.stderr


def test_a_wrong_password_is_refused_with_a_clear_error(secured: Settings) -> None:
    wrong = dataclasses.replace(secured, kafka_sasl_password="not-the-password")
    with pytest.raises(IngestError, match="refused the SASL credentials .*websessions-sasl-test.*SCRAM-SHA-512") as err:
        publish_lines(wrong, [day_events()[0].to_json()])
    assert "not-the-password" not in str(err.value) and secured.kafka_sasl_password not in str(err.value)

    plaintext = dataclasses.replace(secured, kafka_security_protocol="PLAINTEXT")
    with pytest.raises(IngestError, match="unreachable"):
        publish_lines(plaintext, [day_events()[0].to_json()])
