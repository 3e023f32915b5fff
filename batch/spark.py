"""The Spark session of the batch jobs (started in-process or by spark-submit), configured from settings only.

With ``hive=True`` the session talks to the Hive metastore exactly as HiveServer2 does: the metastore
properties are the ones :func:`websessions.platform.hive_config.hive_site` renders into HiveServer2's
``hive-site.xml`` (passed here as ``spark.hadoop.*``), and the warehouse, ``fs.defaultFS`` and the
Postgres JDBC driver come from the same module's ``spark_defaults``. Nothing is duplicated: a change
to HiveServer2's configuration applies to the batch job too, on the local stack and on a cluster.

Every session runs in UTC (``spark.sql.session.timeZone`` and the JVM's ``user.timezone``): dates,
minutes and ISO-8601 formatting in the transforms are UTC by construction.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from websessions.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The driver's log: warnings and errors, without the metastore's routine chatter at WARN level.
LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
logger.hiveconf.name = org.apache.hadoop.hive.conf.HiveConf
logger.hiveconf.level = error
logger.hivelog.name = hive.log
logger.hivelog.level = error
logger.datanucleus.name = DataNucleus
logger.datanucleus.level = error
"""

# Keys of HiveServer2's spark-defaults that the batch job takes over unchanged.
_SHARED_DEFAULTS = (
    "spark.sql.catalogImplementation",
    "spark.sql.warehouse.dir",
    "spark.hadoop.fs.defaultFS",
    "spark.hadoop.dfs.replication",
    "spark.driver.extraClassPath",
)


def hive_conf(settings: Settings) -> dict[str, str]:
    """The Spark configuration that attaches a session to the metastore and warehouse HiveServer2 uses."""
    from websessions.platform import hive_config

    conf = {k: v for k, v in hive_config.spark_defaults(settings).items() if k in _SHARED_DEFAULTS}
    site = hive_config.hive_site(settings)
    conf.update({f"spark.hadoop.{k}": v for k, v in site.items() if not k.startswith("hive.server2.")})
    # Hive-format tables: INSERT OVERWRITE ... PARTITION (dt='...') replaces exactly that partition.
    conf["spark.hadoop.hive.exec.dynamic.partition.mode"] = "nonstrict"
    return conf


def session_conf(settings: Settings, app_name: str, *, hive: bool = True) -> dict[str, str]:
    """The Spark configuration of a batch session: master, memory, UTC, local dirs; the metastore when ``hive``.

    The one source of the batch job's conf, whether the job starts Spark in-process (:func:`spark_session`)
    or is submitted with ``spark-submit`` (:mod:`batch.submit`). Writes the driver's log4j2 file it names.
    """
    tmp = settings.data_dir / "batch" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    log_conf = settings.conf_dir / "batch" / "log4j2.properties"
    log_conf.parent.mkdir(parents=True, exist_ok=True)
    log_conf.write_text(LOG4J2)
    conf = {
        "spark.master": settings.spark_master,
        "spark.app.name": app_name,
        "spark.driver.memory": settings.spark_driver_memory,
        # UTC everywhere; JIT-compile the large methods whole-stage code generation writes for the
        # validation rules (HotSpot leaves methods over 8000 bytes interpreted by default).
        "spark.driver.extraJavaOptions": (
            f"-Duser.timezone=UTC -XX:-DontCompileHugeMethods -Dlog4j2.configurationFile={log_conf.as_uri()}"
        ),
        "spark.driver.bindAddress": settings.bind_host,
        "spark.driver.host": settings.bind_host,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.local.dir": str(tmp),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.batch_shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        # Cached DataFrames uncompressed: building the compressed columns (dictionary and run-length
        # statistics of every value) cost more than a fifth of the batch's sessionizing pass.
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        "spark.sql.warehouse.dir": (settings.data_dir / "batch" / "warehouse").as_uri(),
    }
    if hive:
        conf.update(hive_conf(settings))
        # The job acts on HDFS as the stack's user, like the HiveServer2 service (Hadoop reads the
        # HADOOP_USER_NAME system property when the variable is not set).
        conf["spark.driver.extraJavaOptions"] += f" -DHADOOP_USER_NAME={settings.hdfs_user}"
    # Executors of a cluster (spark://, ignored by local[N]) as the driver: UTC, the same JIT option and user.
    user = f" -DHADOOP_USER_NAME={settings.hdfs_user}" if hive else ""
    conf["spark.executor.extraJavaOptions"] = f"-Duser.timezone=UTC -XX:-DontCompileHugeMethods{user}"
    return conf


def submitted() -> bool:
    """Whether this Python process is the driver of an application ``spark-submit`` launched.

    Its JVM then runs already, with the master and launch options given at submit (PySpark's own
    gateway launcher checks the same variable).
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_session(settings: Settings, app_name: str, *, hive: bool = True) -> SparkSession:
    """A Spark session with :func:`session_conf`; Hive support when ``hive``.

    Started in-process on ``settings.spark_master``, or, under ``spark-submit``, on the master it was
    submitted to. ``hive=False`` is for engine tests: no metastore, no HDFS, a throw-away local warehouse.
    """
    from pyspark.sql import SparkSession

    conf = session_conf(settings, app_name, hive=hive)
    if submitted():
        del conf["spark.master"]
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    if hive:
        builder = builder.enableHiveSupport()
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
