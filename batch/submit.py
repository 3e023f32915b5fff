"""How the nightly DAG submits the batch job: ``spark-submit`` through the Spark provider's operator.

Where Spark runs is one Airflow connection, :data:`SPARK_CONN_ID`, rendered from settings into
Airflow's environment by :mod:`websessions.platform.airflow_config` (``settings.spark_master``:
``local[2]`` on one machine, ``spark://host:7077`` on a cluster; client deploy mode, so the driver's
output is the task's log), on the local stack and in the image alike. The rest of the submit is
rendered when the task runs, never at parse time, so the serialized DAG holds no secret:
:func:`submit_conf` (the conf :func:`batch.spark.session_conf` gives an in-process session, launch
options included) and :func:`submit_env` (``spark-submit`` on the ``PATH``, the run's dataset
overrides as ``WEBSESSIONS_*``). The command this amounts to::

    spark-submit --master local[2] --conf spark.driver.memory=4g ... --name websessions-batch-D \\
        batch/sessions_job.py --date D
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from websessions.platform.airflow_config import SPARK_CONN_ID, spark_connection_env
from websessions.settings import REPO_ROOT, Settings

__all__ = ["APPLICATION", "SPARK_CONN_ID", "spark_connection_env", "submit_conf", "submit_env"]

#: The submitted application (its argument is ``--date D``).
APPLICATION = REPO_ROOT / "batch" / "sessions_job.py"


def app_name(dt: str) -> str:
    return f"websessions-batch-{dt}"


def submit_conf(settings: Settings, dt: str) -> dict[str, str]:
    """The ``--conf`` options of the submit: the batch session's conf without the master (the connection's),
    with this interpreter as the driver's Python."""
    from batch.spark import session_conf

    conf = session_conf(settings, app_name(dt))
    del conf["spark.master"], conf["spark.app.name"]
    conf["spark.pyspark.python"] = sys.executable
    return conf


def submit_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment added to ``spark-submit``'s: this virtualenv's ``bin`` (which holds ``spark-submit``)
    first on the ``PATH``, and the run's settings ``overrides`` as ``WEBSESSIONS_*`` variables."""
    from websessions.settings import ENV_PREFIX

    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {"PATH": path, **{ENV_PREFIX + name.upper(): value for name, value in overrides.items()}}
