"""The nightly batch on the Spark standalone cluster, through the DAG's step (``SparkSubmitOperator`` and the
Spark connection rendered from settings): the same rows as with ``local[2]``, also when the worker is killed
with SIGKILL during the batch and a new one started (Spark runs the lost tasks again on the new worker)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from tests.integration.datasets import whole_pipeline_dataset
from tests.integration.test_batch import D
from tests.integration.test_nightly_submit import run_spark_step, write_known_day
from websessions.settings import Settings
from websessions.stack.process import ManagedProcess
from websessions.stack.service import get_json, wait_until
from websessions.stores.postgres_sessions import daily_stats, sessions_of_day

pytestmark = pytest.mark.integration
APP = f"websessions-batch-{D}"


def day_rows(settings: Settings) -> tuple[list, list]:
    """Postgres's sessions and daily stats of D, as the batch left them."""
    return sessions_of_day(settings, D), daily_stats(settings, D, D)


def submitted(run, settings: Settings) -> None:
    """The step succeeded, having submitted to ``settings.spark_master``."""
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    submit = next(line for line in log.splitlines() if "spark-submit --master" in line)
    assert f"spark-submit --master {settings.spark_master} " in submit


def test_the_batch_on_the_spark_cluster_gives_the_rows_of_local_mode(cluster, tmp_path: Path) -> None:
    assert cluster.settings.spark_master.startswith("spark://")
    with whole_pipeline_dataset(cluster.settings, "cluster") as settings:
        expected = write_known_day(settings)
        local = dataclasses.replace(settings, spark_master="local[2]")
        submitted(run_spark_step(local, tmp_path), local)
        local_rows = day_rows(settings)
        assert local_rows[0] == expected

        apps_before = {a["id"] for a in get_json(f"{settings.spark_master_ui_url}/json/")["completedapps"]}
        submitted(run_spark_step(settings, tmp_path), settings)
        assert day_rows(settings) == local_rows
        # It ran on the cluster: the master lists the application as finished.
        apps = get_json(f"{settings.spark_master_ui_url}/json/")["completedapps"]
        ours = [a for a in apps if a["id"] not in apps_before and a["name"] == APP]
        assert [a["state"] for a in ours] == ["FINISHED"]


def test_a_worker_killed_during_the_batch_is_replaced_and_the_rows_come_out_identical(cluster, tmp_path: Path) -> None:
    with whole_pipeline_dataset(cluster.settings, "killw") as settings:
        expected = write_known_day(settings)
        worker = ManagedProcess("spark-worker", settings.run_dir, settings.logs_dir)
        old_pid = worker.pid()
        assert old_pid is not None
        old_worker = get_json(f"http://{settings.bind_host}:{settings.spark_worker_ui_port}/json/")["id"]
        apps_before = {a["id"] for a in get_json(f"{settings.spark_master_ui_url}/json/")["completedapps"]}
        killed = threading.Event()

        def kill_once_an_executor_runs() -> None:
            ui = f"http://{settings.bind_host}:{settings.spark_worker_ui_port}/json/"
            if wait_until(lambda: get_json(ui)["executors"], timeout_s=300, interval_s=0.2):
                os.kill(old_pid, signal.SIGKILL)
                killed.set()

        killer = threading.Thread(target=kill_once_an_executor_runs, daemon=True)
        killer.start()
        result: dict = {}
        step = threading.Thread(target=lambda: result.update(run=run_spark_step(settings, tmp_path)))
        step.start()
        assert killed.wait(300), "no executor started on the worker"
        wait_until(lambda: worker.pid() is None, timeout_s=30)
        cluster.up("spark")  # a new worker registers with the master
        assert worker.pid() not in (None, old_pid)
        step.join(900)
        assert not step.is_alive()
        submitted(result["run"], settings)
        assert day_rows(settings)[0] == expected
        # The application finished, its executor on the killed worker gone, the work done on the new one.
        state = get_json(f"{settings.spark_master_ui_url}/json/")
        (app,) = [a for a in state["completedapps"] if a["id"] not in apps_before and a["name"] == APP]
        assert app["state"] == "FINISHED"
        assert [w["state"] for w in state["workers"] if w["id"] == old_worker] in (["DEAD"], [])
        new_worker = get_json(f"http://{settings.bind_host}:{settings.spark_worker_ui_port}/json/")
        assert new_worker["id"] != old_worker
        assert app["id"] in {e["appid"] for e in new_worker["finishedexecutors"]}


@pytest.fixture(autouse=True)
def _no_leftover_airflow_home(tmp_path: Path):
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)
