"""Airflow 3: health of every component, the generated login, and a real DAG run on LocalExecutor."""

from __future__ import annotations

import time
from urllib.parse import quote

import requests

from websessions.clients.airflow import AirflowApi

#: The services this module starts (``stack("airflow")`` brings up Postgres first).
RUNNING = ["postgres", "airflow"]


def _wait_for_dag(api: AirflowApi, dag_id: str, timeout_s: float = 120.0) -> list[str]:
    """The DAG ids once ``dag_id`` is among them (the dag-processor parses dags/ after it starts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        dag_ids = api.dag_ids()
        if dag_id in dag_ids or time.monotonic() > deadline:
            return dag_ids
        time.sleep(2)


def test_health_reports_the_metadatabase_scheduler_and_dag_processor_healthy(stack) -> None:
    settings = stack("airflow")
    health = AirflowApi(settings).health()
    statuses = {part: health[part]["status"] for part in ("metadatabase", "scheduler", "dag_processor")}
    assert statuses == {"metadatabase": "healthy", "scheduler": "healthy", "dag_processor": "healthy"}


def test_the_generated_password_logs_in_and_its_token_opens_the_api(stack) -> None:
    settings = stack("airflow")
    login = {"username": settings.airflow_user, "password": settings.airflow_password}
    resp = requests.post(f"{settings.airflow_url}/auth/token", json=login, timeout=10)
    assert resp.status_code == 201
    token = resp.json()["access_token"]
    assert token.count(".") == 2  # a JWT: header.payload.signature

    dags = requests.get(f"{settings.airflow_url}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert dags.status_code == 200
    assert requests.get(f"{settings.airflow_url}/api/v2/dags", timeout=10).status_code == 401


def test_a_wrong_password_is_refused(stack) -> None:
    settings = stack("airflow")
    login = {"username": settings.airflow_user, "password": settings.airflow_password + "x"}
    resp = requests.post(f"{settings.airflow_url}/auth/token", json=login, timeout=10)
    assert resp.status_code == 401


def test_the_dag_processor_lists_stack_health_without_import_errors(stack) -> None:
    api = AirflowApi(stack("airflow"))
    assert "stack_health" in _wait_for_dag(api, "stack_health")
    assert api.request("GET", "/api/v2/importErrors")["import_errors"] == []


def test_a_stack_health_run_checks_each_running_service_and_succeeds(stack) -> None:
    api = AirflowApi(stack("airflow"))
    assert "stack_health" in _wait_for_dag(api, "stack_health")

    run_id = api.trigger("stack_health", conf={"services": RUNNING})
    assert api.wait_for_run("stack_health", run_id, timeout_s=300) == "success"

    path = f"/api/v2/dags/stack_health/dagRuns/{quote(run_id)}/taskInstances"
    instances = api.request("GET", path)["task_instances"]
    checks = {ti["rendered_map_index"]: ti["state"] for ti in instances if ti["task_id"] == "check_service"}
    assert checks == {service: "success" for service in RUNNING}
