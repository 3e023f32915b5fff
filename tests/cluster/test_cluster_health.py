"""`websessions stack up --cluster`'s engines answer: Flink's JobManager with its TaskManagers and slots,
the Spark master with its ALIVE worker, as ``stack status`` reports them."""

from __future__ import annotations

import dataclasses

import pytest

from websessions.stack import manager
from websessions.stack.registry import SERVICE_ORDER, build_service, default_order
from websessions.stack.service import get_json

pytestmark = pytest.mark.integration


def test_the_flink_cluster_has_its_taskmanagers_of_one_slot_each(cluster) -> None:
    s = cluster.settings
    overview = get_json(f"{s.flink_rest_url}/overview")
    assert (overview["taskmanagers"], overview["slots-total"]) == (s.flink_taskmanagers, s.flink_taskmanagers)
    managers = get_json(f"{s.flink_rest_url}/taskmanagers")["taskmanagers"]
    assert sorted(tm["id"] for tm in managers) == [f"flink-taskmanager-{i}" for i in range(1, s.flink_taskmanagers + 1)]
    assert all(tm["slotsNumber"] == 1 for tm in managers)
    config = {e["key"]: e["value"] for e in get_json(f"{s.flink_rest_url}/jobmanager/config")}
    assert config["state.checkpoints.dir"] == f"{s.hdfs_url}{s.flink_checkpoints_dir}"


def test_the_spark_master_has_one_alive_worker(cluster) -> None:
    s = cluster.settings
    state = get_json(f"{s.spark_master_ui_url}/json/")
    assert state["status"] == "ALIVE" and state["url"] == s.spark_master
    alive = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert [(w["host"], w["cores"], w["memory"]) for w in alive] == [(s.bind_host, s.spark_worker_cores, 1024)]


def test_status_shows_the_clusters_with_their_uis_and_plain_up_does_not_start_them(cluster) -> None:
    rows = {row["service"]: row for row in manager.status_rows(cluster.settings)}
    assert rows["flink"]["healthy"] and rows["spark"]["healthy"]
    assert cluster.settings.flink_rest_url in rows["flink"]["detail"]
    assert cluster.settings.spark_master_ui_url in rows["spark"]["detail"]
    assert build_service(cluster.settings, "flink").depends_on == ("hdfs",)
    # Plain `stack up` starts the stack only; cluster mode the clusters after it.
    assert default_order(dataclasses.replace(cluster.settings, stack_cluster=False)) == SERVICE_ORDER
    assert default_order(cluster.settings) == (*SERVICE_ORDER, "flink", "spark")
