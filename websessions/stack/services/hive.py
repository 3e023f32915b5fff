"""HiveServer2 for the history tables: Spark's Thrift server, a Postgres metastore, HDFS warehouse.

A real HiveServer2 from Maven jars is fragile on JDK 17, so the stack runs the Thrift server that
the pip-installed ``pyspark`` ships (``HiveThriftServer2``, the HiveServer2 protocol; PyHive,
beeline and JDBC clients talk to it as to Hive). One process, ``hive-thriftserver``:
``$SPARK_HOME/bin/spark-submit`` with ``SPARK_HOME`` = the installed ``pyspark`` package, which
``exec``\\ s the driver JVM (its pid is the one in the pid file; stop signals the whole group).

Configuration is rendered into ``.stack/conf/hive`` (``SPARK_CONF_DIR``):

- ``hive-site.xml`` (mode 0600: it holds the Postgres password): Spark's built-in Hive 2.3
  metastore client runs the metastore embedded, on the Postgres database ``metastore_db`` through
  DataNucleus, which creates the whole schema when the server starts (``autoCreateAll`` with every
  model class named for auto-start: created lazily, the first CREATE TABLE deadlocks, see
  ``Hive.hive_site``);
- ``spark-defaults.conf``: the warehouse ``<hdfs_url><warehouse_dir>`` and ``fs.defaultFS`` on
  HDFS, the Postgres JDBC driver (jar set ``postgres-jdbc``) on the driver class path, the web UI
  off, every socket on the bind host;
- ``log4j2.properties``: Spark's chatty INFO logging trimmed to the server's own messages.

The server acts on HDFS as ``hdfs_user`` (``HADOOP_USER_NAME``), so table files are owned like the
ones WebHDFS clients write.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from xml.sax.saxutils import escape

from websessions.clients.hive import connect
from websessions.stack.artifacts import classpath
from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError, port_open

THRIFT_SERVER_MAIN = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"

MODEL_PACKAGE = "org.apache.hadoop.hive.metastore.model"
#: Every persistent class of Hive 2.3's metastore (its package.jdo, in hive-metastore-2.3.10.jar).
METASTORE_MODEL = (
    "MDatabase", "MFieldSchema", "MType", "MTable", "MConstraint", "MSerDeInfo", "MOrder",
    "MColumnDescriptor", "MStringList", "MStorageDescriptor", "MPartition", "MIndex", "MRole", "MRoleMap",
    "MGlobalPrivilege", "MDBPrivilege", "MTablePrivilege", "MPartitionPrivilege", "MTableColumnPrivilege",
    "MPartitionColumnPrivilege", "MPartitionEvent", "MMasterKey", "MDelegationToken",
    "MTableColumnStatistics", "MPartitionColumnStatistics", "MVersionTable", "MResourceUri", "MFunction",
    "MNotificationLog", "MNotificationNextId",
)  # fmt: skip

LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_OUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %p %c{1}: %m%n%ex
logger.thriftserver.name = org.apache.spark.sql.hive.thriftserver
logger.thriftserver.level = info
logger.hiveserver.name = org.apache.hive.service.server
logger.hiveserver.level = info
# Every statement makes the scheduler warn that it had no job group left to cancel.
logger.dagscheduler.name = org.apache.spark.scheduler.DAGScheduler
logger.dagscheduler.level = error
# Harmless on a local stack: no native Hadoop library, and Hive 2.3 warns about every unknown key.
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
logger.hiveconf.name = org.apache.hadoop.hive.conf.HiveConf
logger.hiveconf.level = error
logger.datanucleus.name = DataNucleus
logger.datanucleus.level = error
"""


def spark_home() -> Path:
    """The installed ``pyspark`` package, which is a complete Spark distribution (bin/, jars/)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise StackError("hive", "pyspark is not installed in this environment")
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-submit").exists():
        raise StackError("hive", f"{home} has no bin/spark-submit: reinstall pyspark")
    return home


def _xml(properties: dict[str, str]) -> str:
    body = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n" for k, v in properties.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


class Hive(Service):
    name = "hive"
    process_names = ("hive-thriftserver",)
    depends_on = ("postgres", "hdfs")
    # The first start creates the metastore schema in Postgres.
    start_timeout_s = 180.0

    @property
    def warehouse_url(self) -> str:
        return self.settings.hdfs_url + self.settings.warehouse_dir

    def ports(self) -> list[int]:
        return [self.settings.hive_port]

    def hive_site(self) -> dict[str, str]:
        s = self.settings
        return {
            "javax.jdo.option.ConnectionURL": f"jdbc:postgresql://{s.postgres_host}:{s.postgres_port}/{s.metastore_db}",
            "javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
            "javax.jdo.option.ConnectionUserName": s.postgres_user,
            "javax.jdo.option.ConnectionPassword": s.postgres_password,
            "datanucleus.schema.autoCreateAll": "true",
            "hive.metastore.schema.verification": "false",
            # Create every metastore table when the metastore starts. Left lazy, DataNucleus creates
            # a table on its first use, on a second connection, inside the caller's transaction:
            # the first CREATE TABLE then waits forever on Postgres for its own uncommitted rows in
            # TBLS (adding TBL_PRIVS's foreign key to TBLS needs a lock that they hold).
            "datanucleus.autoStartMechanism": "Classes",
            "datanucleus.autoStartClassNames": ",".join(f"{MODEL_PACKAGE}.{name}" for name in METASTORE_MODEL),
            # Hive 2.3 defaults to BoneCP, which Spark does not ship; HikariCP it does.
            "datanucleus.connectionPoolingType": "HikariCP",
            "datanucleus.connectionPool.maxPoolSize": "4",
            "hive.metastore.warehouse.dir": self.warehouse_url,
            "hive.server2.thrift.port": str(s.hive_port),
            "hive.server2.thrift.bind.host": s.bind_host,
            "hive.server2.authentication": "NONE",
            "hive.server2.enable.doAs": "false",
        }

    def spark_defaults(self) -> dict[str, str]:
        s = self.settings
        jdbc_jars = os.pathsep.join(str(jar) for jar in classpath(s, "postgres-jdbc"))
        return {
            "spark.master": s.spark_master,
            "spark.app.name": "websessions-hiveserver2",
            "spark.driver.memory": s.hive_driver_memory,
            "spark.driver.extraClassPath": jdbc_jars,
            "spark.driver.bindAddress": s.bind_host,
            "spark.driver.host": s.bind_host,
            "spark.ui.enabled": "false",
            "spark.sql.catalogImplementation": "hive",
            "spark.sql.warehouse.dir": self.warehouse_url,
            "spark.hadoop.fs.defaultFS": s.hdfs_url,
            # One DataNode: files written with the client's default of 3 replicas stay under-replicated.
            "spark.hadoop.dfs.replication": "1",
        }

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        site = self.conf_dir / "hive-site.xml"
        site.touch(mode=0o600)
        site.chmod(0o600)
        site.write_text(_xml(self.hive_site()))
        defaults = "".join(f"{k} {v}\n" for k, v in self.spark_defaults().items())
        (self.conf_dir / "spark-defaults.conf").write_text(defaults)
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)

    def processes(self) -> list[ProcessSpec]:
        s = self.settings
        home = spark_home()
        # No "spark-internal" resource argument: the launcher adds it for this class itself, and a
        # second one would only reach the server as a stray application argument.
        argv = [str(home / "bin" / "spark-submit"), "--class", THRIFT_SERVER_MAIN]
        env = {
            "SPARK_HOME": str(home),
            "SPARK_CONF_DIR": str(self.conf_dir),
            "HIVE_SERVER2_THRIFT_PORT": str(s.hive_port),
            "HIVE_SERVER2_THRIFT_BIND_HOST": s.bind_host,
            "HADOOP_USER_NAME": s.hdfs_user,
            "SPARK_USER": s.hdfs_user,
            "SPARK_LOCAL_IP": s.bind_host,
            "SPARK_LOCAL_DIRS": str(self.data_dir / "tmp"),
        }
        return [ProcessSpec("hive-thriftserver", argv, env=env, cwd=self.data_dir)]

    def healthy(self) -> bool:
        if not port_open(self.settings.hive_host, self.settings.hive_port):
            return False  # still starting: spare the log a Thrift connection error per probe
        with connect(self.settings) as conn:
            cursor = conn.cursor()
            try:
                cursor.execute("SELECT 1")
                return cursor.fetchall() == [(1,)]
            finally:
                cursor.close()

    def describe(self) -> str:
        s = self.settings
        return f"jdbc:hive2://{s.hive_host}:{s.hive_port} (user {s.hive_user}); warehouse {self.warehouse_url}"
