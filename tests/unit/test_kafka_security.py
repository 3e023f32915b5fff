"""Every Kafka client's connection, librdkafka's and the Java client's, rendered from the security settings."""

from __future__ import annotations

import dataclasses

import pytest

from websessions.clients.kafka import java_client_properties, librdkafka_config
from websessions.settings import Settings, load_settings

BASE = Settings(kafka_host="10.0.0.5", kafka_port=9092)
SCRAM = dataclasses.replace(
    BASE,
    kafka_bootstrap_servers="b1.example:9096,b2.example:9096",
    kafka_security_protocol="SASL_SSL",
    kafka_sasl_mechanism="SCRAM-SHA-512",
    kafka_sasl_username="api-key",
    kafka_sasl_password='se"cr\\et',
    kafka_ssl_ca_file="/etc/ca.pem",
)


def test_plaintext_by_default_on_kafka_host_and_port() -> None:
    assert librdkafka_config(BASE) == {"bootstrap.servers": "10.0.0.5:9092", "security.protocol": "PLAINTEXT"}
    assert java_client_properties(BASE) == {"bootstrap.servers": "10.0.0.5:9092", "security.protocol": "PLAINTEXT"}


def test_sasl_ssl_with_scram_and_a_ca_file_for_librdkafka() -> None:
    config = librdkafka_config(SCRAM)
    assert callable(config.pop("error_cb"))
    assert config == {
        "bootstrap.servers": "b1.example:9096,b2.example:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "api-key",
        "sasl.password": 'se"cr\\et',
        "ssl.ca.location": "/etc/ca.pem",
    }


def test_the_same_connection_as_java_client_properties_with_a_quoted_jaas_login() -> None:
    props = java_client_properties(SCRAM, prefix="properties.")
    assert props == {
        "properties.bootstrap.servers": "b1.example:9096,b2.example:9096",
        "properties.security.protocol": "SASL_SSL",
        "properties.sasl.mechanism": "SCRAM-SHA-512",
        "properties.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="api-key" password="se\\"cr\\\\et";',
        "properties.ssl.truststore.type": "PEM",
        "properties.ssl.truststore.location": "/etc/ca.pem",
    }
    plain = java_client_properties(dataclasses.replace(SCRAM, kafka_sasl_mechanism="PLAIN"))
    assert plain["sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule required ")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kafka_security_protocol": "SASL"}, "WEBSESSIONS_KAFKA_SECURITY_PROTOCOL='SASL': expected one of"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "WEBSESSIONS_KAFKA_SASL_MECHANISM='GSSAPI': expected one of"),
        (
            {"kafka_sasl_password": ""},
            "SASL_SSL needs WEBSESSIONS_KAFKA_SASL_USERNAME and WEBSESSIONS_KAFKA_SASL_PASSWORD",
        ),
    ],
)
def test_a_wrong_security_setting_is_named(change: dict, message: str) -> None:
    settings = dataclasses.replace(SCRAM, **change)
    for render in (librdkafka_config, java_client_properties):
        with pytest.raises(ValueError, match=message):
            render(settings)


def test_the_security_settings_come_from_the_environment_and_the_password_is_not_printed() -> None:
    settings = load_settings(
        {
            "WEBSESSIONS_STACK_DIR": "/nonexistent",
            "WEBSESSIONS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "WEBSESSIONS_KAFKA_SASL_USERNAME": "u",
            "WEBSESSIONS_KAFKA_SASL_PASSWORD": "p4ssw0rd-xyz",
            "WEBSESSIONS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9094",
        },
        create_secrets=False,
    )
    assert librdkafka_config(settings)["sasl.password"] == "p4ssw0rd-xyz"
    assert settings.kafka_bootstrap == "127.0.0.1:9094"
    assert "p4ssw0rd-xyz" not in repr(settings)


def test_the_stacks_kafka_adds_a_loopback_sasl_scram_listener_when_asked() -> None:
    from websessions.stack.services.kafka import Kafka

    plain = Kafka(Settings())
    assert "SASL" not in plain._server_properties() and plain.ports() == [9092, 9093]
    sasl = Kafka(dataclasses.replace(Settings(), kafka_sasl_listener=True, kafka_sasl_port=19094))
    props = dict(line.split("=", 1) for line in sasl._server_properties().splitlines() if "=" in line)
    assert (
        props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SASL_PLAINTEXT://127.0.0.1:19094"
    )
    assert props["advertised.listeners"].endswith(",SASL_PLAINTEXT://127.0.0.1:19094")
    assert props["listener.security.protocol.map"].endswith(",SASL_PLAINTEXT:SASL_PLAINTEXT")
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"  # the broker's own traffic stays on PLAINTEXT
    assert sasl.ports() == [9092, 9093, 19094]
    # The service's own probes and setup use the PLAINTEXT listener, whatever the clients are pointed at.
    secured = dataclasses.replace(
        sasl.settings, kafka_security_protocol="SASL_PLAINTEXT", kafka_bootstrap_servers="x:1"
    )
    assert Kafka(secured).plaintext.kafka_bootstrap == "127.0.0.1:9092"
    assert Kafka(secured).plaintext.kafka_security_protocol == "PLAINTEXT"
