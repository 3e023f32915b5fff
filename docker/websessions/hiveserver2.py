"""HiveServer2 of the cluster: the Thrift server the local stack runs, in the foreground of this container.

:mod:`websessions.platform.hive_config` renders ``hive-site.xml`` (the metastore on the Postgres
database ``metastore_db``), ``spark-defaults.conf`` (warehouse on HDFS, the Postgres JDBC driver) and
the log configuration from the settings, and describes the ``spark-submit`` command of Spark's Thrift
server. Here that command replaces this process (``exec``), so the container's main process is the
server and its logs are the container's logs. The batch job (batch/spark.py) builds its metastore
configuration from the same module: both share one metastore, as they do locally.
"""

from __future__ import annotations

import os
import sys

from websessions.platform import hive_config
from websessions.settings import load_settings


def main() -> int:
    settings = load_settings(create_secrets=False)
    conf_dir, work_dir = settings.conf_dir / "hive", settings.data_dir / "hive"
    hive_config.write_conf(settings, conf_dir)
    (work_dir / "tmp").mkdir(parents=True, exist_ok=True)
    argv, env = hive_config.thrift_server_command(settings, conf_dir, work_dir)
    os.chdir(work_dir)
    os.execvpe(argv[0], argv, {**os.environ, **env})
    return 1  # not reached: execvpe replaces this process


if __name__ == "__main__":
    sys.exit(main())
