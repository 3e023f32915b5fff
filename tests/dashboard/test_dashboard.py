"""The dashboard seen the way people see it: headless Chromium (Debian's) against the real stack.

A private dataset with known numbers goes the whole way: a simulated day through Kafka, the raw
lander and the speed layer, recomputed by ``web_sessions_nightly`` through Airflow; then live events.
The dashboard runs on that dataset (its own port) and each page is loaded, read and screenshotted
(``tests/dashboard/artifacts/``, git-ignored); the terminal view runs under tmux.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard.browser import ARTIFACTS, chromium, errors, page_text, rendered, screenshot, wait_until
from tests.integration.datasets import wait_for, whole_pipeline_dataset
from tests.integration.test_nightly import run_state, unblock
from websessions.background import BackgroundJob
from websessions.clients import kafka
from websessions.clients.airflow import AirflowApi
from websessions.dashboard import server
from websessions.dashboard.tables import css_key
from websessions.events import Event, format_time_ms, validate
from websessions.ingest import publish_lines
from websessions.nightly import RUN_SETTINGS
from websessions.sessionizer import sessionize
from websessions.sessions import CLOSED, SessionRule
from websessions.settings import Settings
from websessions.simulator import generate_day
from websessions.simulator.stream import SimulatorConfig
from websessions.stores.hbase_sessions import HBaseSessions
from websessions.stores.hive_history import TOP_LISTS, top
from websessions.stores.postgres_sessions import daily_stats

pytestmark = pytest.mark.integration

DAG = "web_sessions_nightly"
TODAY = datetime.now(UTC).date()
DAY = (TODAY - timedelta(days=1)).isoformat()
HOSTS = ("bootcamp.techcreator.io", "www.dataexpert.io", "zachwilson.tech")
LIVE_HOST = "zachwilson.tech"
LIVE_EVENTS = 40
RENDER_TIMES = ARTIFACTS / "render_times.json"


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def produce(settings: Settings, raws: list[dict], partition: int | None = None) -> None:
    """Valid events straight to the private topic, with the headers ingest sets."""
    producer = kafka.producer(settings)
    for raw in raws:
        event = validate(json.dumps(raw))
        assert isinstance(event, Event)
        headers = [("dt", event.dt.encode()), ("ts", str(event.event_time_ms).encode())]
        kwargs = {} if partition is None else {"partition": partition}
        producer.produce(settings.kafka_topic_events, value=event.to_json().encode(), headers=headers, **kwargs)
    assert producer.flush(30) == 0


def pacers(settings: Settings, at_ms: int) -> None:
    """One event per partition at ``at_ms``: the speed layer's watermark moves past what came before."""
    t = format_time_ms(at_ms)
    for partition in range(settings.kafka_partitions):
        raw = {"event_time": t, "ip": f"192.0.2.{partition + 1}", "host": HOSTS[0], "url": "/pace",
               "event_id": f"pacer-{partition}-{t}"}  # fmt: skip
        produce(settings, [raw], partition)


@dataclasses.dataclass
class Dataset:
    settings: Settings
    reference: list
    speed: BackgroundJob
    failed_run: str


@pytest.fixture(scope="module")
def dataset(stack) -> Iterator[Dataset]:
    """The private dataset through the real pipeline, and a nightly run that fails (a bad conf), injected."""
    base = stack("postgres", "kafka", "hdfs", "hbase", "hive", "airflow")
    with whole_pipeline_dataset(base, "dashboard") as private:
        yield from _through_the_pipeline(dataclasses.replace(private, dashboard_port=free_port()))


def _through_the_pipeline(settings: Settings) -> Iterator[Dataset]:
    api = AirflowApi(settings)
    wait_for("the DAG to be parsed", lambda: DAG in api.dag_ids(), 180, interval_s=3)
    failed = api.trigger(DAG, conf={"settings": {"not_a_setting": "x"}}, note="dashboard test: an injected failure")
    lander = BackgroundJob(settings, f"lander-{settings.kafka_topic_events}", ["land", "run"])
    speed = BackgroundJob(settings, f"speed-{settings.kafka_topic_events}", ["speed", "run"], stop_timeout_s=90)
    try:
        config = SimulatorConfig(hosts=HOSTS, late_share=0, duplicate_share=0, malformed_share=0)
        events = [validate(line) for line in generate_day(DAY, 600, seed=5, config=config)]
        reference = sessionize(events, SessionRule.from_settings(settings))
        with HBaseSessions(settings) as store:
            store.ensure_table()  # read below before the job's first write
        lander.start()
        speed.start()
        assert publish_lines(settings, [e.to_json() for e in events]).accepted == len(events)
        pacers(settings, int(datetime.fromisoformat(f"{TODAY}T00:10:00+00:00").timestamp() * 1000))

        def speed_closed() -> bool:
            with HBaseSessions(settings) as store:
                got = store.sessions_of_day(DAY)
            return len(got) >= len(reference) and all(s.status == CLOSED for s in got)

        wait_for("the speed layer to close the day's sessions", speed_closed, 300)
        run = api.trigger(DAG, conf={"settings": {n: getattr(settings, n) for n in RUN_SETTINGS}}, day=DAY)
        assert wait_for("the nightly run", lambda: run_state(api, run), 900, interval_s=2) == "success"
        lander.stop()
        yield Dataset(settings, reference, speed, failed)
    finally:
        lander.stop()
        speed.stop()
        try:
            api.request("DELETE", f"/api/v2/dags/{DAG}/dagRuns/{failed}")
        except RuntimeError as exc:  # still running (a failed setup): the scheduler ends it by itself
            print(f"the injected run {failed} is left: {exc}")


@pytest.fixture(scope="module")
def dashboard(dataset: Dataset) -> Iterator[str]:
    """``websessions dashboard``'s server on the private dataset, supervised; its URL."""
    job = BackgroundJob(dataset.settings, f"dashboard-{dataset.settings.dashboard_port}", ["dashboard", "run"])
    job.start()
    try:
        wait_for("the dashboard to answer", lambda: server.healthy(dataset.settings), 60)
        yield server.url(dataset.settings)
    finally:
        job.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as driver:
        yield driver


def record_render_time(page: str, seconds: float) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    times = json.loads(RENDER_TIMES.read_text()) if RENDER_TIMES.exists() else {}
    times[page] = round(seconds, 2)
    RENDER_TIMES.write_text(json.dumps(times, indent=2))


def load(driver, url: str, marker: str, name: str) -> None:
    """Open ``url`` and wait for it to finish; a second load from the warm cache is timed (what a viewer
    of a page others are watching waits) and recorded; fails on any error element."""
    driver.get(url)
    rendered(driver, marker, timeout_s=120)
    started = time.monotonic()
    driver.get(url)
    record_render_time(name, rendered(driver, marker, timeout_s=120, since=started))
    assert errors(driver) == [], f"{name} shows errors"


def table_rows(driver, container_key: str) -> list[list[str]]:
    rows = driver.find_elements("css selector", f".st-key-{container_key} tr")
    return [[cell.text for cell in row.find_elements("css selector", "th, td")] for row in rows]


def open_tab(driver, name: str) -> None:
    tab = next(t for t in driver.find_elements("css selector", '[role="tab"]') if t.text == name)
    tab.click()
    wait_until(f"the tab {name!r}", lambda: tab.get_attribute("aria-selected") == "true", timeout_s=10)


def metric(driver, host: str, label: str) -> str:
    """The value of the Live page's tile ``label`` of ``host`` (waiting out a refresh that re-renders it)."""

    def value() -> str | None:
        for tile in driver.find_elements("css selector", f'.st-key-live-{css_key(host)} [data-testid="stMetric"]'):
            if tile.find_element("css selector", '[data-testid="stMetricLabel"]').text == label:
                return tile.find_element("css selector", '[data-testid="stMetricValue"]').text
        return None

    return wait_until(f"the tile {label!r} of {host}", value, timeout_s=20)


def test_history_shows_each_hosts_sessions_and_average_events_as_postgres_holds(dataset, dashboard, browser) -> None:
    load(browser, f"{dashboard}/history?from={DAY}&to={DAY}", "Hourly trend", "history")
    rows = table_rows(browser, "daily-table")
    header, body = rows[0], rows[1:]
    shown = {(r[header.index("day")], r[header.index("host")]): r for r in body}
    stats = daily_stats(dataset.settings, DAY, DAY)
    assert {s.host for s in stats} == set(HOSTS)
    for s in stats:
        row = shown[(DAY, s.host)]
        assert row[header.index("layer")] == "batch"
        assert int(row[header.index("sessions")]) == s.sessions
        assert float(row[header.index("avg_events_per_session")]) == pytest.approx(s.avg_events_per_session, abs=5e-4)
    assert sum(s.sessions for s in stats) == len(dataset.reference)
    text = page_text(browser)
    assert "batch reconciled" in text  # the day says which layer it comes from
    assert "Download the report per day (CSV)" in text
    screenshot(browser, "history")
    open_tab(browser, "Top lists")
    for kind in TOP_LISTS:  # each top list as the batch tables in Hive hold it
        held = top(dataset.settings, kind, DAY, DAY)
        assert held.rows, kind
        assert table_rows(browser, f"top-{kind}")[1:] == [[str(v) for v in row] for row in held.rows], kind
    screenshot(browser, "history-top-lists")
    open_tab(browser, "Agents, actions, performance")
    wait_until("the day's notable sessions", lambda: f"Notable sessions of {DAY}" in page_text(browser))
    screenshot(browser, "history-analytics")


def test_live_events_per_minute_rise_after_new_events_and_the_terminal_view_agrees(dataset, dashboard, browser) -> None:
    load(browser, dashboard, "Look up a user", "live")
    assert metric(browser, LIVE_HOST, "events/min") == "0"  # the day's events are yesterday's
    # New events of LIVE_HOST, stamped two minutes ago (a batch of delayed beacons), then pacers stamped
    # now: the watermark passes their minute and the speed layer writes its metrics.
    now_ms = int(time.time() * 1000)
    minute_start = (now_ms // 60_000 - 2) * 60_000
    produce(dataset.settings, [
        {"event_time": format_time_ms(minute_start + 500 * i), "ip": f"198.51.100.{i % 10 + 1}", "host": LIVE_HOST,
         "url": f"/live/{i}", "event_id": f"live-{i}"} for i in range(LIVE_EVENTS)
    ])  # fmt: skip
    pacers(dataset.settings, now_ms)
    latency = time.monotonic()
    wait_until("the tile to count the new events", lambda: metric(browser, LIVE_HOST, "events/min") == str(LIVE_EVENTS),
               timeout_s=150)  # fmt: skip
    record_render_time("live_events_visible_s", time.monotonic() - latency)
    assert metric(browser, LIVE_HOST, "active users") == "10"
    assert "speed layer: running" in page_text(browser)

    def first_entries() -> list[list[str]] | None:  # the top pages' and top referrers' first rows (last 60 min)
        rows = table_rows(browser, f"top-{css_key(LIVE_HOST)}")
        headers = (["page", "views"], ["referrer", "sessions"])
        firsts = [rows[i + 1][-2:] for i, row in enumerate(rows[:-1]) if row[-2:] in headers]  # index or not
        return firsts if len(firsts) == 2 else None

    # 40 pages viewed once (ties by page) and 10 visitors without a referrer, each one session.
    try:
        firsts = wait_until("the top lists", first_entries, timeout_s=30)
    except AssertionError:
        raise AssertionError(f"no top lists; rows: {table_rows(browser, f'top-{css_key(LIVE_HOST)}')}") from None
    assert firsts == [["/live/0", "1"], ["(direct)", "10"]]
    screenshot(browser, "live")

    env = {**dataset.settings.as_env(), "COLUMNS": "160", "PATH": "/usr/bin:/bin"}
    session = f"websessions-live-{dataset.settings.dashboard_port}"
    command = f"{os.path.join(os.path.dirname(sys.executable), 'websessions')} live --watch --interval 1"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                    *[a for k, v in env.items() for a in ("-e", f"{k}={v}")], command], check=True)  # fmt: skip
    try:

        def pane() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

        def host_row() -> list[str] | None:
            rows = ([c.strip() for c in ln.split("│") if c.strip()] for ln in pane().splitlines())
            return next((cells for cells in rows if cells and cells[0] == LIVE_HOST), None)

        cells = wait_until("the terminal view's row of the host", host_row, 60)
        assert cells[:3] == [LIVE_HOST, "10", str(LIVE_EVENTS)], cells  # host, active users, events/min
        (ARTIFACTS / "live_terminal.txt").write_text(pane())
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def test_the_lookup_form_finds_a_known_ips_sessions(dataset, dashboard, browser) -> None:
    host = "bootcamp.techcreator.io"  # the form's default host: the first monitored one
    known = [s for s in dataset.reference if s.host == host]
    ip = known[0].ip
    load(browser, dashboard, "Look up a user", "live")
    browser.find_element("css selector", 'input[aria-label="ip"]').send_keys(ip)
    browser.find_element("xpath", '//button[.//p[text()="Find sessions"]]').click()
    wait_until("the lookup's result", lambda: f"recent sessions of {ip} on {host}" in page_text(browser))
    text = page_text(browser)
    for session in (s for s in known if s.ip == ip):
        assert session.start in text


def test_the_pipeline_page_shows_health_and_the_failed_nightly_run_as_failed(dataset, dashboard, browser) -> None:
    api = AirflowApi(dataset.settings)
    state = wait_for("the injected run to fail", lambda: run_state(api, dataset.failed_run), 600, interval_s=3)
    assert state == "failed"
    unblock(api)
    load(browser, f"{dashboard}/pipeline", "Audit per day", "pipeline")
    runs = table_rows(browser, "nightly-runs")
    failed = [r for r in runs if dataset.failed_run in " ".join(r)]
    assert failed and "FAILED" in failed[0][1], runs
    assert browser.find_element("link text", dataset.failed_run).get_attribute("href").endswith(dataset.failed_run)
    services = {row[0]: row[1] for row in table_rows(browser, "services")[1:]}
    assert services == dict.fromkeys(("postgres", "kafka", "hdfs", "hbase", "hive", "airflow"), "yes")
    audit = table_rows(browser, "audit")
    header = audit[0]
    day = next(r for r in audit[1:] if r[header.index("day")] == DAY)
    assert int(day[header.index("produced")]) == 600 + 0  # the day's events (the pacers are of today)
    assert day[header.index("balanced")] == "yes"
    screenshot(browser, "pipeline")


def test_bound_beyond_loopback_it_asks_for_the_password(dataset) -> None:
    settings = dataclasses.replace(dataset.settings, dashboard_host="127.0.0.2", dashboard_port=free_port())
    job = BackgroundJob(settings, f"dashboard-{settings.dashboard_port}", ["dashboard", "run"])
    job.start()
    try:
        wait_for("the dashboard on 127.0.0.2", lambda: server.healthy(settings), 60)
        with chromium() as driver:
            driver.get(server.url(settings))
            rendered(driver, "Log in")
            assert "Live traffic" not in page_text(driver)
            field = driver.find_element("css selector", 'input[type="password"]')
            field.send_keys("not-the-password")
            driver.find_element("xpath", '//button[.//p[text()="Log in"]]').click()
            wait_until("the refusal", lambda: "Wrong password." in page_text(driver))
            driver.get(server.url(settings))  # a new session: the form empty again
            rendered(driver, "Log in")
            field = driver.find_element("css selector", 'input[type="password"]')
            field.send_keys(settings.dashboard_password)
            driver.find_element("xpath", '//button[.//p[text()="Log in"]]').click()
            wait_until("the Live page", lambda: "Live traffic" in page_text(driver), 60)
    finally:
        job.stop()
