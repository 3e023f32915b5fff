"""The nightly DAG's Spark step as Airflow runs it: the provider's ``SparkSubmitOperator``, the Spark
connection rendered from settings, ``spark-submit`` of the batch job.

``airflow tasks test web_sessions_nightly spark_batch D`` with a metadata database of its own (SQLite) and
the connection as the stack gives it to Airflow (``AIRFLOW_CONN_WEBSESSIONS_SPARK``, from
:func:`websessions.platform.airflow_config.airflow_env`), against the real HDFS, Hive and Postgres, on a
private dataset holding a known day D (the batch test's): Postgres then holds the reference sessions of D,
and the task's log shows the submit (master from the connection, the metastore's password masked) and the
job's progress.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batch.submit import spark_connection_env
from tests.integration.datasets import whole_pipeline_dataset
from tests.integration.test_batch import D, known_events
from websessions.clients import hdfs
from websessions.sessionizer import sessionize
from websessions.sessions import Session, SessionRule
from websessions.settings import Settings
from websessions.stores.postgres_sessions import sessions_of_day

pytestmark = pytest.mark.integration


def write_known_day(settings: Settings) -> list[Session]:
    """The batch test's known events into the dataset's raw areas, D marked complete; the reference sessions of D."""
    fs = hdfs.webhdfs(settings)
    files = known_events()
    for (day, late), events in files.items():
        root = settings.raw_events_dir + ("_late" if late else "")
        data = "".join(e.to_json() + "\n" for e in events).encode()
        fs.write(f"{root}/dt={day}/part-000-000000000000-000000000099.jsonl", data=data)
    fs.write(f"{settings.raw_events_dir}/dt={D}/_COMPLETE", data=b"{}")
    everything = [e for events in files.values() for e in events]
    return [s for s in sessionize(everything, SessionRule.from_settings(settings)) if s.dt == D]


def run_spark_step(settings: Settings, home: Path) -> subprocess.CompletedProcess:
    """``airflow tasks test web_sessions_nightly spark_batch D`` with the Spark connection Airflow gets from
    ``settings`` and a metadata database of its own (SQLite) in ``home``, migrated on first use."""
    env = {
        **os.environ,
        **settings.as_env(),
        **spark_connection_env(settings),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        # As under the stack's scheduler: the virtualenv's bin (spark-submit) is not on the PATH.
        "PATH": os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if p != os.path.dirname(sys.executable)
        ),
    }
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    if not (home / "airflow.db").exists():
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return subprocess.run(
        [airflow, "tasks", "test", "web_sessions_nightly", "spark_batch", D],
        env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip


def test_the_spark_step_submits_the_batch_through_the_settings_connection(stack, tmp_path: Path) -> None:
    base = stack("postgres", "hdfs", "hive")
    with whole_pipeline_dataset(base, "submit") as settings:
        expected = write_known_day(settings)
        run = run_spark_step(settings, tmp_path)
        log = run.stdout + run.stderr
        assert run.returncode == 0, log[-4000:]

        assert sessions_of_day(settings, D) == expected
        submit = next(line for line in log.splitlines() if "spark-submit --master" in line)
        assert f"spark-submit --master {settings.spark_master} " in submit
        assert f"--name websessions-batch-{D}" in submit and f"batch/sessions_job.py --date {D}" in submit
        assert settings.postgres_password not in log
        assert "validating, deduplicating and sessionizing" in log  # the job's progress is the task's log
        assert f"{len(expected)} sessions on" in log
