"""Healthchecks of the Flink services: ``python healthcheck.py jobmanager|taskmanager|speed-job``.

- ``jobmanager``: its REST API answers ``/overview``.
- ``taskmanager``: the JobManager lists this container's TaskManager (registered, so its slots count).
- ``speed-job``: the speed layer's job is live on the cluster (created, running or restarting).
"""

from __future__ import annotations

import socket
import sys

import flink_rest

from websessions.settings import load_settings


def jobmanager() -> bool:
    return "taskmanagers" in flink_rest.get("/overview")


def taskmanager() -> bool:
    name = socket.gethostname()
    mine = (f"@{name}:", f"@{socket.gethostbyname(name)}:")
    paths = [tm.get("path", "") for tm in flink_rest.get("/taskmanagers").get("taskmanagers", [])]
    return any(marker in path for path in paths for marker in mine)


def speed_job() -> bool:
    settings = load_settings(create_secrets=False)
    return bool(flink_rest.live_jobs(flink_rest.speed_job_name(settings.kafka_topic_events)))


CHECKS = {"jobmanager": jobmanager, "taskmanager": taskmanager, "speed-job": speed_job}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: healthcheck.py {{{','.join(CHECKS)}}}", file=sys.stderr)
        return 2
    try:
        healthy = CHECKS[argv[0]]()
    except Exception as exc:
        print(f"{argv[0]}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{argv[0]}: {'healthy' if healthy else 'not healthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
