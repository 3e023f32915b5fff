"""The shape of `web_sessions_nightly`: schedule, catch-up, order of steps, timeouts, rendered templates."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from websessions.settings import REPO_ROOT

STEPS = [
    "migrate_serving_schema", "wait_for_raw_day", "spark_batch", "register_hive_partitions", "check_export",
    "reconcile", "refresh_report",
]  # fmt: skip


@pytest.fixture(scope="module")
def dag(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
        env.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "web_sessions_nightly.py"))
        assert bag.import_errors == {}
        yield bag.dags["web_sessions_nightly"]


def test_it_runs_daily_over_the_data_interval_of_day_d_with_catchup(dag) -> None:
    from datetime import UTC, datetime

    from airflow.timetables.interval import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    interval = dag.timetable.infer_manual_data_interval(run_after=datetime(2026, 11, 20, tzinfo=UTC))
    assert (interval.start.isoformat(), interval.end.isoformat()) == (
        "2026-11-19T00:00:00+00:00",
        "2026-11-20T00:00:00+00:00",
    )
    assert dag.catchup is True
    # A day waiting for its raw data does not block another day's recomputation; Spark runs one day at a time.
    assert dag.max_active_runs > 1
    assert dag.get_task("spark_batch").max_active_tis_per_dag == 1


def test_the_steps_run_in_order_with_no_branching(dag) -> None:
    assert sorted(dag.task_ids) == sorted(STEPS)
    for upstream, downstream in zip(STEPS, STEPS[1:], strict=False):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert dag.get_task(STEPS[0]).upstream_task_ids == set()


def test_every_step_has_retries_with_backoff_and_a_time_limit(dag) -> None:
    for task in dag.tasks:
        assert task.retries >= 2
        assert task.retry_exponential_backoff
        limit = task.timeout if task.task_id == "wait_for_raw_day" else task.execution_timeout
        assert limit is not None, task.task_id
    assert dag.get_task("wait_for_raw_day").mode == "reschedule"


def test_the_spark_step_submits_the_batch_job_through_the_settings_connection(dag, monkeypatch) -> None:
    from types import SimpleNamespace

    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from batch.submit import APPLICATION, SPARK_CONN_ID, spark_connection_env
    from websessions.platform.airflow_config import airflow_env
    from websessions.settings import load_settings

    task = dag.get_task("spark_batch")
    assert isinstance(task, SparkSubmitOperator)
    assert task._conn_id == SPARK_CONN_ID and APPLICATION.is_file()
    settings = load_settings()
    context = {"ds": "2026-11-20", "dag_run": SimpleNamespace(conf={})}
    args = task.render_template(task.application_args, context)
    conf = task.render_template(task.conf, context)
    env = task.render_template(task.env_vars, context)
    assert args == ["--date", "2026-11-20"]
    assert task.render_template(task.name, context) == "websessions-batch-2026-11-20"
    # The conf of an in-process batch session, launch options included; the master is the connection's.
    assert "spark.master" not in conf
    assert conf["spark.driver.memory"] == settings.spark_driver_memory
    assert "-Duser.timezone=UTC" in conf["spark.driver.extraJavaOptions"]
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"].startswith("jdbc:postgresql://")
    assert "spark.driver.extraClassPath" in conf
    # spark-submit is found on the PATH the step gets; no dataset override by default.
    assert (Path(env["PATH"].split(":")[0]) / "spark-submit").is_file()
    assert not [k for k in env if k.startswith("WEBSESSIONS_")]
    run = SimpleNamespace(conf={"settings": {"raw_events_dir": "/t/raw dir", "hive_database": "t1"}})
    env = task.render_template(task.env_vars, {"ds": "2026-11-20", "dag_run": run})
    assert (env["WEBSESSIONS_RAW_EVENTS_DIR"], env["WEBSESSIONS_HIVE_DATABASE"]) == ("/t/raw dir", "t1")

    # The provider's hook turns the connection Airflow gets from settings into this command.
    for master in ("local[2]", "spark://127.0.0.1:7077"):
        deployment = dataclasses.replace(settings, spark_master=master)
        airflow = airflow_env(deployment, Path("/nonexistent"), Path("/nonexistent"))
        for name, value in spark_connection_env(deployment).items():
            assert airflow[name] == value  # Airflow's environment carries it (stack and image)
            monkeypatch.setenv(name, value)
        hook = SparkSubmitHook(conf=conf, conn_id=SPARK_CONN_ID, name="websessions-batch-2026-11-20",
                               application_args=args, env_vars=env)  # fmt: skip
        command = hook._build_spark_submit_command(str(APPLICATION))
        assert command[:3] == ["spark-submit", "--master", master]
        assert f"spark.driver.memory={settings.spark_driver_memory}" in command
        assert command[-3:] == [str(APPLICATION), "--date", "2026-11-20"]
        # The metastore's password is in the command, not in the command the task logs.
        secret = conf["spark.hadoop.javax.jdo.option.ConnectionPassword"]
        assert f"spark.hadoop.javax.jdo.option.ConnectionPassword={secret}" in command
        assert secret not in hook._mask_cmd(command)


def test_a_run_may_not_override_hosts_or_credentials() -> None:
    from websessions.nightly import run_settings

    with pytest.raises(ValueError, match="may override only .* not postgres_password"):
        run_settings({"settings": {"postgres_password": "x"}})
    assert run_settings({"settings": {"hive_database": "t1"}}).hive_database == "t1"
    assert run_settings(None) == run_settings({})
