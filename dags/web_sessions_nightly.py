"""Nightly recomputation of day D (the run's data interval): batch is the truth, speed the estimate.

0. **migrate_serving_schema** — applies the Postgres serving schema's pending migrations
   (`postgres/migrations`, `websessions.db_migrations.migrate`; none when current): the one step that
   changes that schema on the cluster; the tasks after it only read and write rows.
1. **wait_for_raw_day** — a sensor over WebHDFS: the lander's `_COMPLETE` marker of D
   (`/data/raw/web_events/dt=D/_COMPLETE`), written once the event-time watermark passes the end of
   D plus the allowed lateness. Each poke logs the path it waits for; it times out after
   `WEBSESSIONS_RAW_WAIT_TIMEOUT_S` (6 h). A day with no events at all is skipped (with everything
   after it) once a later day is complete, or when its scheduled run is a catch-up run started more
   than `days_late_allowed + 1` days after it (a fresh deployment's days before its first data).
2. **spark_batch** — `spark-submit batch/sessions_job.py --date D` through the Spark provider's
   `SparkSubmitOperator` and the connection `websessions_spark` (`batch.submit`: the master from
   `spark_master` — `local[2]` on one machine, the Spark master on a cluster — in client mode, so
   the driver's progress is the task's log): sessions, daily stats, history and the analytics
   tables — agents and bots, event types, load times, hourly trends, page co-visits — into Hive;
   `sessions`, `domain_daily_stats` and the analytics tables into Postgres, replaced atomically.
   Its conf (memory, metastore, jars) is the one an in-process batch session gets, rendered when
   the task runs.
3. **register_hive_partitions** — re-syncs partitions through HiveServer2; D must be there.
4. **check_export** — Postgres holds exactly the sessions and events of Hive's partition D.
5. **reconcile** — HBase (speed) vs Postgres (batch) for D, stored in `reconciliation`; fails over
   `reconcile_max_mismatch_ratio` and says which host and why.
6. **refresh_report** — speed sessions of D-1, D and D+1 into Postgres; the `domain_report` view serves
   batch rows up to the last reconciled day and speed rows after.

Every task is idempotent (each replaces day D's rows); rerunning a day changes nothing. A run's conf
may point it at another dataset, `{"settings": {"raw_events_dir": ..., "hive_database": ...,
"hbase_table_sessions": ..., "postgres_db": ...}}` (`websessions.nightly.RUN_SETTINGS`; the integration test uses it).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, task
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.timetables.interval import CronDataIntervalTimetable

from batch.submit import APPLICATION, SPARK_CONN_ID
from websessions.nightly import spark_submit_conf, spark_submit_env

# How long the sensor waits for D to complete; an env read, no service call at parse time.
RAW_WAIT_TIMEOUT_S = int(os.environ.get("WEBSESSIONS_RAW_WAIT_TIMEOUT_S", str(6 * 3600)))


@task(execution_timeout=timedelta(minutes=5))
def migrate_serving_schema(dag_run=None) -> list[str]:
    """Apply the Postgres serving schema's pending migrations (`postgres/migrations`); none when current."""
    from websessions.db_migrations import migrate
    from websessions.nightly import run_settings

    return [f"{m.version:04d}_{m.name}" for m in migrate(run_settings(dag_run.conf))]


@task.sensor(poke_interval=20, timeout=RAW_WAIT_TIMEOUT_S, mode="reschedule")
def wait_for_raw_day(ds: str | None = None, dag_run=None) -> PokeReturnValue:
    """Done when the lander has marked raw day D complete in HDFS; skips a day without any events
    once a later day is complete, or in a catch-up run days after it (before the first traffic)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from websessions.nightly import sensor_state

    state = sensor_state(dag_run.conf, ds, dag_run.run_type, dag_run.start_date)
    if state == "empty":
        raise AirflowSkipException(
            f"raw day {ds} has no events and none can still come (a later day is complete, or this catch-up"
            " run started days after it): nothing to recompute"
        )
    return PokeReturnValue(is_done=state == "complete")


@task(execution_timeout=timedelta(minutes=10))
def register_hive_partitions(ds: str | None = None, dag_run=None) -> int:
    """Re-sync Hive partitions through HiveServer2; fails if web_sessions lacks D."""
    from websessions.nightly import register_hive_partitions as register
    from websessions.nightly import run_settings

    return len(register(run_settings(dag_run.conf), ds))


@task(execution_timeout=timedelta(minutes=10))
def check_export(ds: str | None = None, dag_run=None) -> int:
    """Postgres sessions of D equal Hive's partition D (sessions and events)."""
    from websessions.nightly import check_export as check
    from websessions.nightly import run_settings

    return check(run_settings(dag_run.conf), ds)


@task(execution_timeout=timedelta(minutes=15))
def reconcile(ds: str | None = None, dag_run=None) -> dict:
    """Speed vs batch for D; fails over the mismatch threshold with the reason."""
    from websessions.nightly import run_settings
    from websessions.reconcile import reconcile_day

    results = reconcile_day(run_settings(dag_run.conf), ds)
    return {host: r.mismatch_ratio for host, r in results.items()}


@task(execution_timeout=timedelta(minutes=10))
def refresh_report(ds: str | None = None, dag_run=None) -> dict:
    """Speed sessions of D-1, D and D+1 into Postgres."""
    from websessions.nightly import refresh_report as refresh
    from websessions.nightly import run_settings

    return refresh(run_settings(dag_run.conf), ds)


with DAG(
    dag_id="web_sessions_nightly",
    # The data interval of a run is day D (00:00 to 24:00 UTC), so `ds` is D — not the trigger time.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1),
    catchup=True,
    # A day whose sensor waits (in reschedule mode: no worker slot) must not hold back the recomputation of
    # another day (late data, a rerun); the Spark step itself runs one day at a time (max_active_tis_per_dag).
    max_active_runs=3,
    doc_md=__doc__,
    user_defined_macros={"spark_submit_conf": spark_submit_conf, "spark_submit_env": spark_submit_env},
    # The Spark step's conf and env render to dicts (at run time, from settings: no secret at parse time).
    render_template_as_native_obj=True,
    tags=["websessions", "batch", "nightly"],
    default_args={
        "owner": "websessions",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
):
    spark_batch = SparkSubmitOperator(
        task_id="spark_batch",
        conn_id=SPARK_CONN_ID,
        application=str(APPLICATION),
        application_args=["--date", "{{ ds }}"],
        name="websessions-batch-{{ ds }}",
        conf="{{ spark_submit_conf(dag_run.conf, ds) }}",
        env_vars="{{ spark_submit_env(dag_run.conf) }}",
        execution_timeout=timedelta(hours=1),
        max_active_tis_per_dag=1,
        doc_md="The Spark batch of day D, `spark-submit batch/sessions_job.py --date D` (see `batch.submit`).",
    )
    (
        migrate_serving_schema()
        >> wait_for_raw_day()
        >> spark_batch
        >> register_hive_partitions()
        >> check_export()
        >> reconcile()
        >> refresh_report()
    )
