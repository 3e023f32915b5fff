"""HiveServer2 of the cluster: the local stack's Hive service, run in the foreground of this container.

The local stack's :class:`websessions.stack.services.hive.Hive` renders ``hive-site.xml`` (the metastore
on the Postgres database ``metastore_db``), ``spark-defaults.conf`` (warehouse on HDFS, the Postgres JDBC
driver) and the log configuration from the settings, and describes the ``spark-submit`` command of
Spark's Thrift server. Here that command replaces this process (``exec``), so the container's main
process is the server and its logs are the container's logs. The batch job (batch/spark.py) builds its
metastore configuration from the same class: both share one metastore, as they do locally.
"""

from __future__ import annotations

import os
import sys

from websessions.settings import load_settings
from websessions.stack.services.hive import Hive


def main() -> int:
    service = Hive(load_settings(create_secrets=False))
    service.prepare()
    (spec,) = service.processes()
    if spec.cwd is not None:
        os.chdir(spec.cwd)
    os.execvpe(spec.argv[0], spec.argv, {**os.environ, **spec.env})
    return 1  # not reached: execvpe replaces this process


if __name__ == "__main__":
    sys.exit(main())
