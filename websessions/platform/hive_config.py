"""HiveServer2 and the metastore, rendered from settings: one configuration for every deployment.

HiveServer2 is the Thrift server that the pip-installed ``pyspark`` ships (``HiveThriftServer2``, the
HiveServer2 protocol; PyHive, beeline and JDBC clients talk to it as to Hive), started with
``$SPARK_HOME/bin/spark-submit`` where ``SPARK_HOME`` is the installed ``pyspark`` package.
Its configuration directory (``SPARK_CONF_DIR``) holds:

- ``hive-site.xml`` (mode 0600: it holds the Postgres password): Spark's built-in Hive 2.3
  metastore client runs the metastore embedded, on the Postgres database ``metastore_db`` through
  DataNucleus, which creates the whole schema when the server starts (``autoCreateAll`` with every
  model class named for auto-start: created lazily, the first CREATE TABLE deadlocks, see
  :func:`hive_site`);
- ``spark-defaults.conf``: the warehouse ``<hdfs_url><warehouse_dir>`` and ``fs.defaultFS`` on
  HDFS, the Postgres JDBC driver (jar set ``postgres-jdbc``) on the driver class path, the web UI
  off, every socket on the bind host;
- ``log4j2.properties``: Spark's chatty INFO logging trimmed to the server's own messages.

The batch job's Spark session (``batch/spark.py``) attaches to the same metastore and warehouse with
the same properties. The local stack (``websessions.stack.services.hive``) and the cluster's image
(``docker/websessions/hiveserver2.py``) both run :func:`thrift_server_command`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from websessions.platform.artifacts import classpath
from websessions.platform.site_xml import site_xml
from websessions.settings import Settings

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


class HiveConfigError(RuntimeError):
    """The environment cannot run HiveServer2 (no usable ``pyspark``)."""


def spark_home() -> Path:
    """The installed ``pyspark`` package, which is a complete Spark distribution (bin/, jars/)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise HiveConfigError("pyspark is not installed in this environment")
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-submit").exists():
        raise HiveConfigError(f"{home} has no bin/spark-submit: reinstall pyspark")
    return home


def warehouse_url(settings: Settings) -> str:
    return settings.hdfs_url + settings.warehouse_dir


def hive_site(settings: Settings) -> dict[str, str]:
    """``hive-site.xml``: the metastore on Postgres and HiveServer2's Thrift endpoint."""
    s = settings
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
        "hive.metastore.warehouse.dir": warehouse_url(s),
        "hive.server2.thrift.port": str(s.hive_port),
        "hive.server2.thrift.bind.host": s.bind_host,
        "hive.server2.authentication": "NONE",
        "hive.server2.enable.doAs": "false",
    }


def spark_defaults(settings: Settings) -> dict[str, str]:
    """``spark-defaults.conf`` of HiveServer2: warehouse and ``fs.defaultFS`` on HDFS, the JDBC driver."""
    s = settings
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
        "spark.sql.warehouse.dir": warehouse_url(s),
        "spark.hadoop.fs.defaultFS": s.hdfs_url,
        # One DataNode: files written with the client's default of 3 replicas stay under-replicated.
        "spark.hadoop.dfs.replication": "1",
    }


def write_conf(settings: Settings, conf_dir: Path) -> None:
    """Render ``hive-site.xml`` (0600), ``spark-defaults.conf`` and ``log4j2.properties`` into ``conf_dir``."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    site = conf_dir / "hive-site.xml"
    site.touch(mode=0o600)
    site.chmod(0o600)
    site.write_text(site_xml(hive_site(settings)))
    defaults = "".join(f"{k} {v}\n" for k, v in spark_defaults(settings).items())
    (conf_dir / "spark-defaults.conf").write_text(defaults)
    (conf_dir / "log4j2.properties").write_text(LOG4J2)


def thrift_server_command(settings: Settings, conf_dir: Path, work_dir: Path) -> tuple[list[str], dict[str, str]]:
    """HiveServer2's ``spark-submit`` argv and environment (configuration in ``conf_dir``, scratch in ``work_dir``).

    The server acts on HDFS as ``hdfs_user`` (``HADOOP_USER_NAME``), so table files are owned like the
    ones WebHDFS clients write.
    """
    s = settings
    home = spark_home()
    # No "spark-internal" resource argument: the launcher adds it for this class itself, and a
    # second one would only reach the server as a stray application argument.
    argv = [str(home / "bin" / "spark-submit"), "--class", THRIFT_SERVER_MAIN]
    env = {
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(conf_dir),
        "HIVE_SERVER2_THRIFT_PORT": str(s.hive_port),
        "HIVE_SERVER2_THRIFT_BIND_HOST": s.bind_host,
        "HADOOP_USER_NAME": s.hdfs_user,
        "SPARK_USER": s.hdfs_user,
        "SPARK_LOCAL_IP": s.bind_host,
        "SPARK_LOCAL_DIRS": str(work_dir / "tmp"),
    }
    return argv, env
