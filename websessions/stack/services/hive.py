"""HiveServer2 for the history tables on the local stack: Spark's Thrift server, a Postgres metastore, HDFS warehouse.

A real HiveServer2 from Maven jars is fragile on JDK 17, so the stack runs the Thrift server that
the pip-installed ``pyspark`` ships. One process, ``hive-thriftserver``: ``spark-submit``, which
``exec``\\ s the driver JVM (its pid is the one in the pid file; stop signals the whole group).
Its configuration, rendered into ``.stack/conf/hive``, and its command line are
:mod:`websessions.platform.hive_config`'s, the same as the cluster's HiveServer2.
"""

from __future__ import annotations

from websessions.platform import hive_config
from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError, port_open


class Hive(Service):
    name = "hive"
    process_names = ("hive-thriftserver",)
    depends_on = ("postgres", "hdfs")
    # The first start creates the metastore schema in Postgres.
    start_timeout_s = 180.0

    def ports(self) -> list[int]:
        return [self.settings.hive_port]

    def prepare(self) -> None:
        hive_config.write_conf(self.settings, self.conf_dir)
        (self.data_dir / "tmp").mkdir(parents=True, exist_ok=True)

    def processes(self) -> list[ProcessSpec]:
        try:
            argv, env = hive_config.thrift_server_command(self.settings, self.conf_dir, self.data_dir)
        except hive_config.HiveConfigError as exc:
            raise StackError(self.name, str(exc)) from exc
        return [ProcessSpec("hive-thriftserver", argv, env=env, cwd=self.data_dir)]

    def healthy(self) -> bool:
        from websessions.pipeline_state import PROBES

        if not port_open(self.settings.hive_host, self.settings.hive_port):
            return False  # still starting: spare the log a Thrift connection error per probe
        PROBES["hive"](self.settings)  # SELECT 1 through HiveServer2; raises unless it answers 1
        return True

    def describe(self) -> str:
        s = self.settings
        url = hive_config.warehouse_url(s)
        return f"jdbc:hive2://{s.hive_host}:{s.hive_port} (user {s.hive_user}); warehouse {url}"
