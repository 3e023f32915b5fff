"""Small helpers over the Flink JobManager's REST API, shared by the Flink image's scripts."""

from __future__ import annotations

import json
import os
import urllib.request

# Not states of a live job: the speed job is resubmitted after these.
TERMINAL_STATES = frozenset({"FINISHED", "CANCELED", "FAILED", "SUSPENDED"})


def rest_url() -> str:
    """The JobManager's REST endpoint (``FLINK_REST_URL``; the compose file sets it)."""
    return os.environ.get("FLINK_REST_URL", "http://jobmanager:8081").rstrip("/")


def get(path: str, timeout_s: float = 5.0) -> dict:
    with urllib.request.urlopen(rest_url() + path, timeout=timeout_s) as response:
        return json.load(response)


def speed_job_name(events_topic: str) -> str:
    """``pipeline.name`` of the speed job (streaming.sessions_job.configure sets it from the topic)."""
    return f"websessions speed layer ({events_topic})"


def live_jobs(name: str) -> list[dict]:
    """Jobs called ``name`` that are not in a terminal state (created, running, restarting, ...)."""
    jobs = get("/jobs/overview").get("jobs", [])
    return [job for job in jobs if job.get("name") == name and job.get("state") not in TERMINAL_STATES]
