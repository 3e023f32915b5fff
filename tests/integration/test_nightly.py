"""The nightly recomputation through Airflow, end to end on the real stack.

A simulated day D (in order: no late or malformed lines, so both layers must agree exactly) goes
through the product's own path: ingest -> Kafka -> the lander (HDFS) and the speed job (HBase), on a
private dataset (topics, raw directory, Hive database, HBase tables: the run's conf points the DAG at
them), so neither the demo's data nor another test's can interfere.
Pacer events early on D+1 move both watermarks past D, so the lander marks D complete and the speed
layer closes D's sessions. Then ``web_sessions_nightly`` is triggered for D through Airflow's API:

- run 1 must succeed; Postgres' sessions of D, the domain report and the reconciliation (zero
  mismatches) are checked against the reference sessionizer's numbers;
- run 2 is a rerun of D with an outage of the ``websessions`` database from the moment its schema step
  has passed: the Spark step fails, is retried by Airflow once the database is back, and the run ends
  with exactly the rows of run 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from tests.integration.datasets import wait_for, whole_pipeline_dataset
from websessions.background import BackgroundJob
from websessions.clients import kafka, postgres
from websessions.clients.airflow import AirflowApi
from websessions.events import Event, format_time_ms, validate
from websessions.ingest import publish_lines
from websessions.nightly import RUN_SETTINGS, raw_day_state
from websessions.report import domain_report
from websessions.sessionizer import sessionize
from websessions.sessions import CLOSED, SessionRule
from websessions.settings import Settings
from websessions.simulator import SimulatorConfig, generate_day
from websessions.stack.services.postgres import Postgres
from websessions.stores.hbase_sessions import HBaseSessions
from websessions.stores.postgres_sessions import sessions_of_day

pytestmark = pytest.mark.integration

DAG = "web_sessions_nightly"
# A day in the DAG's first weeks (its tasks exist from the start date on); a scheduler's catch-up run of
# that day is replaced by the test's run (AirflowApi.trigger), whose conf names the private dataset.
_START = date(2026, 11, 1) + timedelta(days=uuid.uuid4().int % 25)
DAY, NEXT_DAY = _START.isoformat(), (_START + timedelta(days=1)).isoformat()
HOSTS = ("www.dataexpert.io", "zachwilson.techcreator.io", "zachwilson.tech")
EVENTS = 3_000


def day_events() -> list[Event]:
    config = SimulatorConfig(hosts=HOSTS, late_share=0, duplicate_share=0.01, malformed_share=0)
    events = [validate(line) for line in generate_day(DAY, EVENTS, seed=11, config=config)]
    assert all(isinstance(e, Event) for e in events)
    return events


def pacers(settings: Settings) -> None:
    """One event per partition of the events topic at D+1 00:10: past D's end + lateness + timeout."""
    t = f"{NEXT_DAY}T00:10:00.000Z"
    producer = kafka.producer(settings)
    for partition in range(settings.kafka_partitions):
        raw = {"event_time": t, "ip": f"192.0.2.{partition + 1}", "host": HOSTS[0], "url": "/"}
        event = validate(json.dumps({**raw, "event_id": f"pacer-{partition}-{t}"}))
        headers = [("dt", event.dt.encode()), ("ts", str(event.event_time_ms).encode())]  # as ingest sets them
        producer.produce(
            settings.kafka_topic_events, value=event.to_json().encode(), partition=partition, headers=headers
        )
    assert producer.flush(30) == 0


def unblock(api: AirflowApi) -> None:
    """Fail the scheduler's stale catch-up runs of the stack's own (default) dataset.

    Unpausing the DAG starts catch-up from its start date; on a fresh stack no day of the default
    dataset ever completes, so each catch-up run waits up to its sensor timeout (6 h) and, with
    ``max_active_runs`` of them active, holds the test's run in the queue. Only scheduled runs without
    conf whose day is over two days old are touched: never a current nightly run, never a run of a
    dataset. A refused update (the scheduler updating the same run: Postgres reports a deadlock, the API
    a 500) is left to the next call: every wait below calls this again.
    """
    from datetime import UTC, datetime

    stale = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    params = {"state": ["running", "queued"], "limit": 100}
    for run in api.request("GET", f"/api/v2/dags/{DAG}/dagRuns", params=params)["dag_runs"]:
        if run["run_type"] == "scheduled" and not run["conf"] and run["logical_date"] < stale:
            try:
                api.request("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})
            except RuntimeError as exc:
                print(f"unblock: {run['dag_run_id']} not failed this time ({exc})")


def run_state(api: AirflowApi, run_id: str) -> str | None:
    """The run's state once it has ended, else None (stale catch-up runs ahead of it are failed)."""
    unblock(api)
    state = api.request("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}")["state"]
    return state if state in ("success", "failed") else None


def session_rows(settings: Settings) -> list[tuple]:
    return sorted((s.host, s.ip, s.start_ms, s.end_ms, s.events, s.pages) for s in sessions_of_day(settings, DAY))


@pytest.fixture(scope="module")
def private(stack) -> Iterator[Settings]:
    """The stack's settings pointed at a dataset of this test's own (cleaned up afterwards)."""
    base = stack("postgres", "kafka", "hdfs", "hbase", "hive", "airflow")
    with whole_pipeline_dataset(base, "nightly") as settings:
        yield settings


def run_conf(settings: Settings) -> dict:
    return {"settings": {name: getattr(settings, name) for name in RUN_SETTINGS}}


def test_the_nightly_dag_recomputes_a_day_through_airflow_and_survives_a_database_outage(private) -> None:
    settings = private
    events = day_events()
    rule = SessionRule.from_settings(settings)
    reference = sessionize(events, rule)
    assert reference and all(s.dt == DAY for s in reference)

    lander = BackgroundJob(settings, f"lander-{settings.kafka_topic_events}", ["land", "run"])
    speed = BackgroundJob(settings, f"speed-{settings.kafka_topic_events}", ["speed", "run"], stop_timeout_s=90)
    lander.start()
    speed.start()
    try:
        result = publish_lines(settings, [e.to_json() for e in events])
        assert (result.accepted, result.dead_lettered) == (len(events), 0)
        pacers(settings)
        wait_for(f"the lander to mark {DAY} complete", lambda: raw_day_state(settings, DAY) == "complete", 300)

        def speed_closed() -> bool:
            with HBaseSessions(settings) as store:
                got = store.sessions_of_day(DAY)
            return len(got) >= len(reference) and all(s.status == CLOSED for s in got)

        wait_for("the speed layer to close the sessions of the day", speed_closed, 300)

        api = AirflowApi(settings)
        wait_for("the DAG to be parsed", lambda: DAG in api.dag_ids(), 180, interval_s=3)
        first = api.trigger(DAG, conf=run_conf(settings), day=DAY)
        assert wait_for("the first run", lambda: run_state(api, first), 900, interval_s=2) == "success"
    finally:
        lander.stop()
        speed.stop()

    # Postgres holds the reference sessions of D.
    want = sorted((s.host, s.ip, s.start_ms, s.end_ms, s.events, s.pages) for s in reference)
    rows = session_rows(settings)
    assert rows == want

    # The report for D (batch layer, D is reconciled) per host, as the reference says.
    per_host: dict[str, list[int]] = defaultdict(list)
    for s in reference:
        per_host[s.host].append(s.events)
    report = {r.host: r for r in domain_report(settings, DAY, DAY)}
    for host, counts in per_host.items():
        row = report[host]
        assert (row.layer, row.sessions, row.events, row.max_events_per_session) == (
            "batch", len(counts), sum(counts), max(counts)
        )  # fmt: skip
        assert row.avg_events_per_session == pytest.approx(sum(counts) / len(counts))
    assert report["lulu.techcreator.io"].sessions == 0  # a configured host without traffic is listed

    # Reconciliation of in-order data: every session matched, none missing, no event-count drift.
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT host, matched, speed_only, batch_only, event_count_diffs, passed FROM reconciliation"
            " WHERE dt = %s ORDER BY host",
            (DAY,),
        )
        reconciliation = cur.fetchall()
    assert reconciliation == [(h, len(per_host[h]), 0, 0, 0, True) for h in sorted(per_host)]

    # Run 2: the websessions database refuses connections once the run has migrated its schema, so the
    # Spark step meets the outage; Airflow retries it, the database comes back, and the day ends with
    # the same rows (none doubled).
    second = api.trigger(DAG, conf=run_conf(settings), day=DAY)
    wait_for(
        "the run's schema step to pass",
        lambda: unblock(api) or api.task_state(DAG, second, "migrate_serving_schema") == "success",
        300,
        interval_s=1,
    )
    admin = Postgres(settings).superuser_connection()
    try:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{settings.postgres_db}" WITH ALLOW_CONNECTIONS false')
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (settings.postgres_db,)
            )
        wait_for(
            "the Spark step to fail and wait for its retry",
            lambda: unblock(api) or api.task_state(DAG, second, "spark_batch") == "up_for_retry",
            600,
            interval_s=2,
        )
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{settings.postgres_db}" WITH ALLOW_CONNECTIONS true')
        admin.close()
    assert wait_for("the rerun", lambda: run_state(api, second), 900, interval_s=2) == "success"
    assert session_rows(settings) == rows

    # Late data closes the loop: events of D land after D was computed, and nobody runs a command. The
    # lander puts them in the late area and tells Airflow; web_sessions_late_data re-runs D's nightly run.
    late = late_events(events)
    with_late = sorted((s.host, s.ip, s.start_ms, s.end_ms, s.events, s.pages) for s in sessionize(events + late, rule))
    assert with_late != rows
    assert not api.is_paused("web_sessions_late_data")  # active from its creation: nobody has to unpause it
    notifying = dataclasses.replace(settings, lander_notify_airflow=True)
    lander = BackgroundJob(notifying, f"lander-{settings.kafka_topic_events}", ["land", "run"])
    lander.start()
    speed.start()  # counts them late (behind its watermark) and records them: the reconciliation's cause
    try:
        assert publish_lines(settings, [e.to_json() for e in late]).accepted == len(late)

        def recomputed() -> dict | None:
            unblock(api)
            run = api.run_of_day(DAG, DAY)
            done = run and run["state"] == "success" and "late event" in (run.get("note") or "")
            return run if done and session_rows(settings) == with_late else None

        run = wait_for("the late events' day to be recomputed through Airflow", recomputed, 900, interval_s=3)
    finally:
        lander.stop()
        speed.stop()
    assert run["note"].endswith(f"late events landed for {DAY}"), run["note"]

    def late_run_succeeded() -> bool:  # its sensor sees the nightly run's success at its next poke
        runs = api.request("GET", "/api/v2/dags/web_sessions_late_data/dagRuns", params={"limit": 100})["dag_runs"]
        return any(r["state"] == "success" for r in runs)

    wait_for("the web_sessions_late_data run to succeed", late_run_succeeded, 120, interval_s=2)
    report = {r.host: r for r in domain_report(settings, DAY, DAY)}
    assert report["all hosts"].layer == "batch"
    assert report["all hosts"].events == sum(s.events for s in sessionize(events + late, rule))
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT cause, count(*) FROM reconciliation_differences WHERE dt = %s GROUP BY cause", (DAY,))
        causes = dict(cur.fetchall())
    assert set(causes) == {"late_in_speed"} and 0 < causes["late_in_speed"] <= len(late), causes


def late_events(events: list[Event]) -> list[Event]:
    """Ten events of D that arrive after D was computed: new ids and pages inside sessions of the day."""
    picked = events[:: len(events) // 10][:10]
    return [
        validate(
            json.dumps(
                {
                    **e.to_dict(),
                    "event_id": f"late-{i}",
                    "url": f"/late-{i}",
                    "event_time": format_time_ms(e.event_time_ms + 1),
                }
            )
        )  # fmt: skip
        for i, e in enumerate(picked)
    ]


def test_a_day_that_never_completes_times_out_the_sensor_with_a_clear_message(stack, tmp_path) -> None:
    """`airflow dags test` of the nightly DAG (its own SQLite metadata database) against real HDFS, for a day
    whose raw data never arrives, with a 5 s sensor timeout: the sensor fails, nothing downstream runs."""
    settings = stack("hdfs")
    bin_dir = os.path.dirname(sys.executable)
    env = {
        **os.environ,
        **settings.as_env(),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
        "WEBSESSIONS_RAW_EVENTS_DIR": f"/test/{uuid.uuid4().hex[:8]}/raw/web_events",
        "WEBSESSIONS_RAW_WAIT_TIMEOUT_S": "5",
    }
    airflow = os.path.join(bin_dir, "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    result = subprocess.run(
        [airflow, "dags", "test", DAG, "2026-11-05"], env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert "raw day 2026-11-05 is not complete yet: waiting for" in output  # each poke says what it waits for
    assert "Sensor has timed out" in output and "exceeds the specified timeout of 5.0" in output, output[-3000:]
    assert "DagRun failed" in output
    assert "running task <TaskInstance: web_sessions_nightly.spark_batch" not in output  # nothing downstream ran

    # A scheduled catch-up run of a day without data, days later (a fresh deployment), does not wait.
    private = dataclasses.replace(settings, raw_events_dir=env["WEBSESSIONS_RAW_EVENTS_DIR"])
    assert raw_day_state(private, "2026-11-05") == "waiting"
    grace = timedelta(days=settings.days_late_allowed + 1)
    assert raw_day_state(private, "2026-11-05", catch_up_started=date(2026, 11, 5) + grace) == "waiting"
    assert raw_day_state(private, "2026-11-05", catch_up_started=date(2026, 11, 6) + grace) == "empty"
