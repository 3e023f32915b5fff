"""Kafka 4 in KRaft mode: one JVM that is broker and controller, with the product's topics.

Its PLAINTEXT listener is ``kafka_port``. With ``kafka_sasl_listener`` it also listens on ``kafka_sasl_port``
(SASL_PLAINTEXT, SCRAM-SHA-512, bound like the others), and the SCRAM user ``kafka_sasl_username`` with
``kafka_sasl_password`` is created (or its password set) through the admin API once the broker runs: the
listener that the product's clients, configured for a secured Kafka, are tested against. The service
itself (health probe, SCRAM user, topics) always talks to its PLAINTEXT listener.
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import uuid

from websessions.platform import bootstrap
from websessions.settings import Settings
from websessions.stack.jvm import java_argv
from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError, port_open, summarize_output

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %p %c{1}: %m%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


SCRAM_MECHANISM = "SCRAM-SHA-512"


class Kafka(Service):
    name = "kafka"
    process_names = ("kafka",)
    start_timeout_s = 90.0

    def ports(self) -> list[int]:
        s = self.settings
        return [s.kafka_port, s.kafka_controller_port, *([s.kafka_sasl_port] if s.kafka_sasl_listener else [])]

    @property
    def plaintext(self) -> Settings:
        """The settings of a client of this broker's PLAINTEXT listener (the service's own probes and setup)."""
        return dataclasses.replace(self.settings, kafka_bootstrap_servers="", kafka_security_protocol="PLAINTEXT")

    def _listeners(self) -> list[str]:
        """The listeners, advertised and mapped to their protocols; with the SASL listener, its SCRAM login."""
        s = self.settings
        host = s.bind_host
        listeners = {"PLAINTEXT": (s.kafka_host, s.kafka_port), "CONTROLLER": (host, s.kafka_controller_port)}
        protocols = {"PLAINTEXT": "PLAINTEXT", "CONTROLLER": "PLAINTEXT"}
        if s.kafka_sasl_listener:
            listeners["SASL_PLAINTEXT"] = (s.kafka_host, s.kafka_sasl_port)
            protocols["SASL_PLAINTEXT"] = "SASL_PLAINTEXT"
        lines = [
            "listeners=" + ",".join(f"{name}://{host}:{port}" for name, (_, port) in listeners.items()),
            "advertised.listeners=" + ",".join(f"{name}://{adv}:{port}" for name, (adv, port) in listeners.items()),
            "listener.security.protocol.map=" + ",".join(f"{name}:{proto}" for name, proto in protocols.items()),
        ]
        if s.kafka_sasl_listener:
            lines += [
                f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        return lines

    def _server_properties(self) -> str:
        s = self.settings
        host = s.bind_host
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers={host}:{s.kafka_controller_port}",
                *self._listeners(),
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.data_dir / 'logs'}",
                f"num.partitions={s.kafka_partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "num.network.threads=2",
                "num.io.threads=2",
                "log.retention.hours=168",
                # Idle client connections are closed (clients reconnect): short enough for a test to wait out.
                f"connections.max.idle.ms={s.kafka_connections_max_idle_ms}",
                "",
            ]
        )

    def _java(self, main_class: str, args: list[str]) -> list[str]:
        return java_argv(
            self.settings, "kafka", main_class, args, heap=self.settings.kafka_heap,
            system_properties={"log4j2.configurationFile": str(self.conf_dir / "log4j2.properties"),
                               "kafka.logs.dir": str(self.settings.logs_dir)},
        )  # fmt: skip

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "server.properties").write_text(self._server_properties())
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        config = str(self.conf_dir / "server.properties")
        args = ["format", "--standalone", "-g", "-t", cluster_id, "-c", config]
        cmd = self._java("kafka.tools.StorageTool", args)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            output = summarize_output(proc.stdout + proc.stderr)
            raise StackError(self.name, f"formatting the KRaft storage failed: {output}")

    def processes(self) -> list[ProcessSpec]:
        return [ProcessSpec("kafka", self._java("kafka.Kafka", [str(self.conf_dir / "server.properties")]))]

    def healthy(self) -> bool:
        from websessions.pipeline_state import PROBES

        if not port_open(self.settings.kafka_host, self.settings.kafka_port):
            return False  # still starting: spare the log a refused connection per probe
        PROBES["kafka"](self.plaintext)  # a broker in the cluster metadata; raises otherwise
        return True

    def after_start(self) -> None:
        if self.settings.kafka_sasl_listener:
            self._upsert_scram_user()
        try:
            bootstrap.create_topics(self.plaintext)
        except ConnectionError as exc:
            raise StackError(self.name, str(exc)) from exc

    def _upsert_scram_user(self) -> None:
        """Create the SASL listener's SCRAM user, or set its password (idempotent)."""
        from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

        from websessions.clients import kafka

        s = self.settings
        if not (s.kafka_sasl_username and s.kafka_sasl_password):
            raise StackError(
                self.name,
                "the SASL listener needs a SCRAM user: set WEBSESSIONS_KAFKA_SASL_USERNAME and "
                "WEBSESSIONS_KAFKA_SASL_PASSWORD (or WEBSESSIONS_KAFKA_SASL_LISTENER=false)",
            )
        credential = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upsert = UserScramCredentialUpsertion(s.kafka_sasl_username, credential, s.kafka_sasl_password.encode())
        admin = kafka.admin(self.plaintext)  # held until the futures resolve (destroyed, it fails them)
        for user, future in admin.alter_user_scram_credentials([upsert], request_timeout=15).items():
            try:
                future.result()
            except Exception as exc:
                raise StackError(self.name, f"creating the SCRAM user {user} failed: {exc}") from exc

    def describe(self) -> str:
        s = self.settings
        topics = ", ".join(bootstrap.product_topics(s))
        sasl = (
            f", SASL_PLAINTEXT {s.kafka_host}:{s.kafka_sasl_port} ({SCRAM_MECHANISM})" if s.kafka_sasl_listener else ""
        )
        return f"bootstrap {s.kafka_host}:{s.kafka_port}{sasl}; topics {topics}"
