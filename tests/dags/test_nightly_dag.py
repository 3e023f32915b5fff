"""The shape of `web_sessions_nightly`: schedule, catch-up, order of steps, timeouts, rendered templates."""

from __future__ import annotations

from collections.abc import Iterator

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


def test_the_spark_step_renders_for_a_sample_date(dag) -> None:
    from types import SimpleNamespace

    task = dag.get_task("spark_batch")
    rendered = task.render_template(task.bash_command, {"ds": "2026-11-20", "dag_run": SimpleNamespace(conf={})})
    assert rendered.strip().endswith("-m batch.sessions_job --date 2026-11-20")
    assert "WEBSESSIONS_" not in rendered
    assert task.cwd == str(REPO_ROOT)
    # A run pointed at another dataset passes it to the job as the settings' own variables.
    run = SimpleNamespace(conf={"settings": {"raw_events_dir": "/t/raw dir", "hive_database": "t1"}})
    rendered = task.render_template(task.bash_command, {"ds": "2026-11-20", "dag_run": run})
    assert rendered.startswith("WEBSESSIONS_RAW_EVENTS_DIR='/t/raw dir' WEBSESSIONS_HIVE_DATABASE=t1 ")


def test_a_run_may_not_override_hosts_or_credentials() -> None:
    from websessions.nightly import run_settings

    with pytest.raises(ValueError, match="may override only .* not postgres_password"):
        run_settings({"settings": {"postgres_password": "x"}})
    assert run_settings({"settings": {"hive_database": "t1"}}).hive_database == "t1"
    assert run_settings(None) == run_settings({})
