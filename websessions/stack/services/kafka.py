"""Kafka 4 in KRaft mode: one JVM that is broker and controller, with the product's topics."""

from __future__ import annotations

import base64
import subprocess
import uuid

from websessions.platform import bootstrap
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


class Kafka(Service):
    name = "kafka"
    process_names = ("kafka",)
    start_timeout_s = 90.0

    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    def _server_properties(self) -> str:
        s = self.settings
        host = s.bind_host
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers={host}:{s.kafka_controller_port}",
                f"listeners=PLAINTEXT://{host}:{s.kafka_port},CONTROLLER://{host}:{s.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://{s.kafka_host}:{s.kafka_port},"
                f"CONTROLLER://{host}:{s.kafka_controller_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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
        PROBES["kafka"](self.settings)  # a broker in the cluster metadata; raises otherwise
        return True

    def after_start(self) -> None:
        try:
            bootstrap.create_topics(self.settings)
        except ConnectionError as exc:
            raise StackError(self.name, str(exc)) from exc

    def describe(self) -> str:
        s = self.settings
        topics = ", ".join(bootstrap.product_topics(s))
        return f"bootstrap {s.kafka_bootstrap}; topics {topics}"
