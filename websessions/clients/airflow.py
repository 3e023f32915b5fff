"""Airflow 3's REST API (v2) with the generated login: token, DAGs, runs."""

from __future__ import annotations

import time
import uuid
from typing import Any

from websessions.settings import Settings


class AirflowApi:
    """A small client of the Airflow API server; authenticates with the settings' login."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0):
        import requests

        self.settings = settings
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self._token: str | None = None

    def _url(self, path: str) -> str:
        return f"{self.settings.airflow_url}{path}"

    def token(self) -> str:
        if self._token is None:
            resp = self.session.post(
                self._url("/auth/token"),
                json={"username": self.settings.airflow_user, "password": self.settings.airflow_password},
                timeout=self.timeout_s,
            )
            if resp.status_code >= 300:
                user = self.settings.airflow_user
                raise PermissionError(f"airflow login as {user} failed: HTTP {resp.status_code}")
            self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}"}
        url = self._url(path)
        resp = self.session.request(method, url, headers=headers, timeout=self.timeout_s, **kwargs)
        if resp.status_code >= 300:
            raise RuntimeError(f"airflow {method} {path} -> {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def health(self) -> dict:
        resp = self.session.get(self._url("/api/v2/monitor/health"), timeout=self.timeout_s)
        resp.raise_for_status()
        return resp.json()

    def dag_ids(self) -> list[str]:
        return [d["dag_id"] for d in self.request("GET", "/api/v2/dags", params={"limit": 1000})["dags"]]

    def trigger(self, dag_id: str, conf: dict | None = None, day: str | None = None, note: str | None = None) -> str:
        """Trigger a run (unpausing the DAG first); returns the dag_run_id.

        With ``day`` (YYYY-MM-DD) the run's logical date is that day and its data interval the whole
        UTC day, so ``ds`` in the tasks is ``day``. Airflow keeps one run per logical date: if the day
        already has one (an earlier trigger, or the scheduler's catch-up run), that run is cleared and
        runs again when its conf is the same, else it is replaced by a run with this conf. ``note`` is
        shown with the run in the UI (why it ran).
        """
        from datetime import date, timedelta

        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        body: dict = {"conf": conf or {}, "logical_date": None}
        if note:
            body["note"] = note
        if not day:
            return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]
        start = date.fromisoformat(day)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        body.update(
            dag_run_id=f"manual__{start}__{stamp}_{uuid.uuid4().hex[:4]}",
            logical_date=f"{start}T00:00:00Z",
            data_interval_start=f"{start}T00:00:00Z",
            data_interval_end=f"{start + timedelta(days=1)}T00:00:00Z",
        )
        existing = self.run_of_day(dag_id, day)
        if existing is not None:
            if (existing.get("conf") or {}) == body["conf"]:
                self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns/{existing['dag_run_id']}/clear",
                             json={"dry_run": False})  # fmt: skip
                if note:
                    self.request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{existing['dag_run_id']}",
                                 json={"note": note})  # fmt: skip
                return existing["dag_run_id"]
            self.request("DELETE", f"/api/v2/dags/{dag_id}/dagRuns/{existing['dag_run_id']}")
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_of_day(self, dag_id: str, day: str) -> dict | None:
        """The run whose logical date is ``day`` (midnight UTC), if any."""
        at = f"{day}T00:00:00Z"
        params = {"logical_date_gte": at, "logical_date_lte": at}
        runs = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params)["dag_runs"]
        return runs[0] if runs else None

    def recent_runs(self, dag_id: str, limit: int = 10) -> list[dict]:
        """The DAG's newest runs (by when each was due to run), newest first."""
        params = {"order_by": "-run_after", "limit": limit}
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params)["dag_runs"]

    def is_paused(self, dag_id: str) -> bool:
        return bool(self.request("GET", f"/api/v2/dags/{dag_id}")["is_paused"])

    def asset_id(self, uri: str) -> int:
        """The id of the asset with this URI (registered once a DAG that uses it has been parsed)."""
        assets = self.request("GET", "/api/v2/assets", params={"uri_pattern": uri, "limit": 100})["assets"]
        for asset in assets:
            if asset["uri"] == uri:
                return int(asset["id"])
        raise LookupError(f"airflow has no asset {uri} (is the DAG that uses it parsed?)")

    def emit_asset_event(self, asset_id: int, extra: dict) -> dict:
        """Record an event of the asset (DAGs scheduled on it run with it among their triggering events)."""
        return self.request("POST", "/api/v2/assets/events", json={"asset_id": asset_id, "extra": extra})

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """The state of one task instance of a run (None before it is scheduled)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return self.request("GET", path).get("state")

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float = 600.0) -> str:
        """Poll a run until it ends; returns its final state ('success' or 'failed')."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"airflow run {dag_id}/{run_id} did not finish within {timeout_s:.0f}s")
