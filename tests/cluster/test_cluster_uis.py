"""The Flink and Spark web UIs load in headless Chromium and show the TaskManagers and the worker;
screenshots in ``tests/dashboard/artifacts`` (git-ignored)."""

from __future__ import annotations

import pytest

from tests.dashboard.browser import ARTIFACTS, chromium, page_text, wait_until
from websessions.stack.service import get_json

pytestmark = pytest.mark.integration


def test_the_flink_ui_lists_both_taskmanagers(cluster) -> None:
    s = cluster.settings
    names = [f"flink-taskmanager-{i}" for i in range(1, s.flink_taskmanagers + 1)]
    with chromium() as driver:
        driver.get(f"{s.flink_rest_url}/#/task-manager")
        wait_until("the TaskManagers in Flink's UI", lambda: all(n in page_text(driver) for n in names), 90)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "flink-taskmanagers.png"))
        driver.get(f"{s.flink_rest_url}/#/overview")
        wait_until("the available slots in Flink's overview", lambda: "Available Task Slots" in page_text(driver), 90)
        driver.save_screenshot(str(ARTIFACTS / "flink-overview.png"))


def test_the_spark_master_ui_shows_the_alive_worker(cluster) -> None:
    s = cluster.settings
    (worker,) = [w["id"] for w in get_json(f"{s.spark_master_ui_url}/json/")["workers"] if w["state"] == "ALIVE"]
    with chromium() as driver:
        driver.get(s.spark_master_ui_url)
        wait_until("the worker in the Spark master's UI", lambda: "Workers: 1 Alive" in page_text(driver), 60)
        text = page_text(driver)
        assert f"Spark Master at {s.spark_master}" in text and "Status: ALIVE" in text
        assert f"{worker} {s.bind_host}:" in text  # its row: id, address, ALIVE
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "spark-master.png"))
