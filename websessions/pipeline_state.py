"""Is the pipeline healthy and complete? One read model for the dashboard's Pipeline page and the CLI.

- :func:`service_health`: each service answers a real request through the client the product uses
  (a query, a metadata call, a file-system status), not an open port; independent of how the services
  were started, so it holds on the local stack and on a cluster alike. :data:`PROBES` is the one
  health check: ``websessions stack status``, the ``stack_health`` DAG and the images' healthchecks
  run it too.
- :func:`lander_state`: the raw lander's last counters (its stats record) and the newest day it marked
  complete in HDFS.
- :func:`nightly_runs`: the last runs of ``web_sessions_nightly`` in Airflow, each with its UI link.
- :func:`reconciliation_days`: the stored reconciliation per day and host.
The speed layer's state is :func:`websessions.live_view.speed_state`; the audit per day is
:func:`websessions.audit.audit_days`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from websessions.settings import Settings

NIGHTLY_DAG = "web_sessions_nightly"
PROBE_TIMEOUT_S = 5.0
#: The NameNode's JMX bean with the live DataNodes, the remaining capacity and the safe-mode state.
FS_STATE_BEAN = "Hadoop:service=NameNode,name=FSNamesystemState"
NAMESPACE_TABLE = "hbase:namespace"
#: Airflow components whose status ``/api/v2/monitor/health`` must report as healthy.
AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "dag_processor")


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    healthy: bool
    detail: str


def _probe_postgres(settings: Settings) -> str:
    from websessions.clients import postgres

    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT version()")
        return cur.fetchone()[0].split(" on ")[0]


def _probe_kafka(settings: Settings) -> str:
    from websessions.clients import kafka

    metadata = kafka.admin(settings).list_topics(timeout=PROBE_TIMEOUT_S)
    if not metadata.brokers:
        raise RuntimeError("no broker in the cluster metadata")
    return f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topics"


def namenode_state(settings: Settings) -> dict:
    """The NameNode's FSNamesystemState JMX bean (live DataNodes, capacity, FSState), on its HTTP port."""
    import urllib.request

    url = f"http://{settings.hdfs_host}:{settings.hdfs_http_port}/jmx?qry={FS_STATE_BEAN}"
    with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
        beans = json.load(response)["beans"]
    if not beans:
        raise RuntimeError("the NameNode publishes no FSNamesystemState yet")
    return beans[0]


def _probe_hdfs(settings: Settings) -> str:
    """WebHDFS answers, a DataNode with free space is live, and the NameNode has left safe mode."""
    from websessions.clients import hdfs

    hdfs.webhdfs(settings, timeout_s=PROBE_TIMEOUT_S).status("/")
    state = namenode_state(settings)
    if state["NumLiveDataNodes"] < 1:
        raise RuntimeError("no live DataNode")
    if state["CapacityRemaining"] <= 0:
        raise RuntimeError("the DataNodes have no space left")
    if state["FSState"] != "Operational":
        raise RuntimeError(f"the NameNode is in {state['FSState']}")
    free_gb = state["CapacityRemaining"] / 1e9
    return f"WebHDFS answers; {state['NumLiveDataNodes']} live DataNode(s), {free_gb:.1f} GB free"


def _probe_hbase(settings: Settings) -> str:
    """Table operations work: the default namespace's row is readable (hbase:meta and hbase:namespace online).

    The Thrift server answers as soon as it runs and the master lists tables before it has finished
    initialising; its last step is loading the namespaces, so reading one means creates will succeed.
    """
    from websessions.clients import hbase

    with hbase.connect(settings, timeout_ms=int(PROBE_TIMEOUT_S * 1000)) as conn:
        tables = conn.tables()
        if not conn.table(NAMESPACE_TABLE).row(b"default"):
            raise RuntimeError("the master has not loaded the namespaces yet")
        return f"{len(tables)} tables"


def _probe_hive(settings: Settings) -> str:
    from websessions.clients import hive

    with hive.connect(settings) as conn:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT 1")
            if cursor.fetchall() != [(1,)]:
                raise RuntimeError("SELECT 1 did not return 1")
        finally:
            cursor.close()
    return "HiveServer2 answers SELECT 1"


def _probe_airflow(settings: Settings) -> str:
    from websessions.clients.airflow import AirflowApi

    health = AirflowApi(settings, timeout_s=PROBE_TIMEOUT_S).health()
    unhealthy = [part for part, value in health.items() if (value or {}).get("status") not in ("healthy", None)]
    missing = [part for part in AIRFLOW_COMPONENTS if (health.get(part) or {}).get("status") != "healthy"]
    if unhealthy or missing:
        raise RuntimeError("not healthy: " + ", ".join(dict.fromkeys([*unhealthy, *missing])))
    return f"{', '.join(AIRFLOW_COMPONENTS)} healthy"


PROBES: dict[str, Callable[[Settings], str]] = {
    "postgres": _probe_postgres,
    "kafka": _probe_kafka,
    "hdfs": _probe_hdfs,
    "hbase": _probe_hbase,
    "hive": _probe_hive,
    "airflow": _probe_airflow,
}


def service_health(settings: Settings) -> list[ServiceHealth]:
    """Every service's health, probed concurrently (each probe bounded by its client's timeout)."""

    def probe(name: str) -> ServiceHealth:
        try:
            return ServiceHealth(name, True, PROBES[name](settings))
        except Exception as exc:  # any failure of a probe is that service's health, shown with its reason
            return ServiceHealth(name, False, f"{type(exc).__name__}: {exc}"[:300])

    with ThreadPoolExecutor(len(PROBES)) as pool:
        return list(pool.map(probe, PROBES))


@dataclass(frozen=True)
class LanderState:
    """The raw lander's last report (``updated_at`` None: it never reported here) and HDFS's completeness."""

    updated_at: float | None
    counters: dict[str, int] = field(default_factory=dict)
    lag: int | None = None  # events in Kafka not landed yet, summed over partitions
    last_complete_day: str | None = None

    def running(self, now: float | None = None, stale_after_s: float = 30.0) -> bool:
        now = time.time() if now is None else now
        return self.updated_at is not None and now - self.updated_at <= stale_after_s


LANDER_COUNTERS = ("landed", "late", "quarantined", "gaps", "files", "batches", "late_notices")


def last_complete_day(settings: Settings) -> str | None:
    """The newest day of the raw area that carries the lander's completion marker."""
    from websessions.clients import hdfs
    from websessions.raw_layout import COMPLETE_MARKER

    fs = hdfs.webhdfs(settings, timeout_s=PROBE_TIMEOUT_S)
    root = settings.raw_events_dir
    if fs.status(root, strict=False) is None:
        return None
    for name in sorted((d for d in fs.list(root) if d.startswith("dt=")), reverse=True):
        if fs.status(f"{root}/{name}/{COMPLETE_MARKER}", strict=False) is not None:
            return name.removeprefix("dt=")
    return None


def lander_state(settings: Settings) -> LanderState:
    """The lander's counters from its stats record (written as it works) and the last complete day."""
    from websessions.lander import lander_stats_path

    path = lander_stats_path(settings)
    complete = last_complete_day(settings)
    if not path.exists():
        return LanderState(None, last_complete_day=complete)
    stats = json.loads(path.read_text())
    counters = {k: int(stats[k]) for k in LANDER_COUNTERS if isinstance(stats.get(k), int)}
    lag = sum(int(v) for v in (stats.get("lag") or {}).values())
    return LanderState(path.stat().st_mtime, counters, lag, complete)


@dataclass(frozen=True)
class NightlyRun:
    run_id: str
    day: str
    state: str
    started: str | None
    ended: str | None
    url: str


def nightly_runs(settings: Settings, limit: int = 10) -> list[NightlyRun]:
    """The newest runs of the nightly DAG (by when they were due), each linked to its page in the Airflow UI."""
    from websessions.clients.airflow import AirflowApi

    runs = AirflowApi(settings, timeout_s=PROBE_TIMEOUT_S).recent_runs(NIGHTLY_DAG, limit)
    return [
        NightlyRun(
            r["dag_run_id"],
            str(r.get("logical_date") or "")[:10] or "(no day)",
            str(r.get("state")),
            r.get("start_date"),
            r.get("end_date"),
            f"{settings.airflow_url}/dags/{NIGHTLY_DAG}/runs/{r['dag_run_id']}",
        )
        for r in runs
    ]


@dataclass(frozen=True)
class DayReconciliation:
    dt: str
    host: str
    matched: int
    speed_only: int
    batch_only: int
    event_count_diffs: int
    mismatch_ratio: float
    passed: bool
    causes: dict[str, int]


def reconciliation_days(settings: Settings, dt_from: str, dt_to: str) -> list[DayReconciliation]:
    """The stored reconciliation (``websessions.reconcile.store``) of each day and host in the range."""
    from websessions.clients import postgres

    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('reconciliation') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []  # nothing reconciled yet (reads never create tables)
        cur.execute(
            "SELECT dt, host, matched, speed_only, batch_only, event_count_diffs, mismatch_ratio, passed, causes"
            " FROM reconciliation WHERE dt BETWEEN %s AND %s ORDER BY dt DESC, host",
            (dt_from, dt_to),
        )
        rows = cur.fetchall()
    return [DayReconciliation(str(dt), *rest) for dt, *rest in rows]
