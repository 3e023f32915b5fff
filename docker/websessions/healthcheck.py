"""Healthchecks of the project-image services: ``python healthcheck.py CHECK``; exit 0 when healthy.

Each check asks the component itself, with the product's clients and settings where there are some:

- ``airflow-api``: the api-server's ``/api/v2/monitor/health`` answers and the metadata DB is healthy.
- ``hiveserver2``: ``SELECT 1`` through HiveServer2 (``websessions.pipeline_state``'s Hive probe, the
  one ``websessions stack status`` and the dashboard use).
- ``spark-master``: the master's JSON status says ALIVE.
- ``spark-worker``: the master lists this container's worker as ALIVE (registered, not just started).
- ``collector``: the collector's ``/health`` (200 while Kafka accepts its events).
- ``dashboard``: Streamlit's ``/_stcore/health`` answers.
- ``speed-writer``: its loop touched the heartbeat file within the last 30 s.
- ``lander``: the two systems it moves data between answer from here (Kafka metadata, the raw
  directory over WebHDFS); the process itself is the container's main process.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from collections.abc import Callable

from websessions.settings import Settings, load_settings

SPARK_MASTER_UI_PORT = 8082  # docker-compose.yml starts the master with --webui-port 8082
SPARK_WORKER_UI_PORT = 8081  # Spark's default
HEARTBEAT_MAX_AGE_S = 30.0


def _get_json(url: str, timeout_s: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.load(response)


def _own_addresses() -> set[str]:
    name = socket.gethostname()
    return {name, socket.gethostbyname(name)}


def airflow_api(settings: Settings) -> bool:
    from websessions.clients.airflow import AirflowApi

    health = AirflowApi(settings, timeout_s=5).health()
    return (health.get("metadatabase") or {}).get("status") == "healthy"


def hiveserver2(settings: Settings) -> bool:
    from websessions.pipeline_state import PROBES

    PROBES["hive"](settings)  # raises unless HiveServer2 answers SELECT 1 with 1
    return True


def spark_master(settings: Settings) -> bool:
    status = _get_json(f"http://{socket.gethostname()}:{SPARK_MASTER_UI_PORT}/json/")
    return status.get("status") == "ALIVE"


def spark_worker(settings: Settings) -> bool:
    master_host = settings.spark_master.removeprefix("spark://").split(":")[0]
    status = _get_json(f"http://{master_host}:{SPARK_MASTER_UI_PORT}/json/")
    mine = _own_addresses()
    return any(w.get("host") in mine and w.get("state") == "ALIVE" for w in status.get("workers", []))


def collector(settings: Settings) -> bool:
    url = f"http://{settings.collector_host}:{settings.collector_port}/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status == 200


def dashboard(settings: Settings) -> bool:
    with urllib.request.urlopen(f"http://localhost:{settings.dashboard_port}/_stcore/health", timeout=5) as response:
        return response.status == 200


def speed_writer(settings: Settings) -> bool:
    path = settings.run_dir / "speed-writer.heartbeat"
    return path.exists() and time.time() - path.stat().st_mtime < HEARTBEAT_MAX_AGE_S


def lander(settings: Settings) -> bool:
    from websessions.clients import hdfs, kafka

    name = settings.kafka_topic_events
    topic = kafka.admin(settings).list_topics(name, timeout=5).topics.get(name)
    if topic is None or topic.error is not None:
        return False
    return hdfs.webhdfs(settings).status(settings.raw_events_dir, strict=False) is not None


CHECKS: dict[str, Callable[[Settings], bool]] = {
    "airflow-api": airflow_api,
    "hiveserver2": hiveserver2,
    "spark-master": spark_master,
    "spark-worker": spark_worker,
    "collector": collector,
    "dashboard": dashboard,
    "speed-writer": speed_writer,
    "lander": lander,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: healthcheck.py {{{','.join(CHECKS)}}}", file=sys.stderr)
        return 2
    try:
        healthy = CHECKS[argv[0]](load_settings(create_secrets=False))
    except Exception as exc:
        print(f"{argv[0]}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{argv[0]}: {'healthy' if healthy else 'not healthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
