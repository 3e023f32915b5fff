"""`websessions demo`: the whole story on the running local stack, with progress.

the speed job, the raw lander and the dashboard started → a backfill day D (yesterday, UTC) and live
traffic generated and ingested through Kafka → the lander marks D complete → `web_sessions_nightly` for D
triggered through Airflow (visible in its UI) and awaited → reconciliation → the domain report, then where to look.
Every step is idempotent: a second demo adds a new day's worth of the same seeded traffic only if
the topic does not hold it yet.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile

from rich.console import Console

from websessions.settings import Settings
from websessions.simulator.incidents import Incident

console = Console(stderr=True)
NIGHTLY = "web_sessions_nightly"


def _wait(what: str, check: Callable[[], bool], timeout_s: float, interval_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    with console.status(what):
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not done within {timeout_s:.0f}s")
            time.sleep(interval_s)


def _cli(*args: str) -> str:
    env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "150")}  # tables are captured, not on a terminal
    proc = subprocess.run([sys.executable, "-m", "websessions.cli", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"websessions {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def traffic(day: str, events: int, seed: int, now: datetime) -> tuple[list[str], list[str]]:
    """The backfill day's lines and a burst of live lines (today's traffic up to ``now``)."""
    from websessions.simulator import generate_day

    backfill = list(generate_day(date.fromisoformat(day), events, seed))
    today = list(generate_day(now.date(), max(events // 4, 1000), seed + 1))
    cutoff = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return backfill, [line for line in today if _event_time(line) <= cutoff]


def incident_traffic(now: datetime, seed: int) -> tuple[list[str], Incident]:
    """The last 45 minutes of busier live traffic (5 events/s), in which one site answers half its requests
    with errors from 12 minutes ago for 10 minutes: the incident the alerts runner must report."""
    from websessions.simulator import live_schedule
    from websessions.simulator.incidents import inject

    end_ms = int(now.timestamp() * 1000)
    start_ms = end_ms - 45 * 60_000
    lines = (line for at, line in takewhile(lambda x: x[0] < end_ms, live_schedule(5.0, seed + 2, start_ms)))
    incident = Incident("error-burst", "bootcamp.techcreator.io", end_ms - 12 * 60_000, duration_s=600)
    return list(inject(lines, [incident])), incident


def live_with_incident(live: list[str], now: datetime, seed: int) -> tuple[list[str], Incident]:
    """The live lines with :func:`incident_traffic` merged in, in event-time order (the speed layer's watermark
    follows it), and the incident."""
    busy, incident = incident_traffic(now, seed)
    return list(heapq.merge(live, busy, key=_event_time)), incident


def _event_time(line: str) -> str:
    """The raw event_time text of a line ('' for a malformed line: it is kept, and dead-lettered)."""
    try:
        return str(json.loads(line).get("event_time", ""))
    except (ValueError, AttributeError):
        return ""


def _minute(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M")


def _show_alert(settings: Settings, incident: Incident) -> None:
    """Wait for the alerts runner to report the injected incident, then print the recent alerts."""
    from websessions.stores.postgres_alerts import alerts_since

    since = datetime.fromtimestamp(incident.start_ms / 1000, UTC)
    try:
        _wait(
            f"alerts: the {incident.kind} on {incident.host}",
            lambda: any(a.alert.host == incident.host for a in alerts_since(settings, since)),
            180,
        )
    except TimeoutError as exc:
        console.print(f"  [yellow]{exc}[/yellow]: see .venv/bin/websessions alerts status")
    print(_cli("alerts", "--since", since.strftime("%Y-%m-%dT%H:%M")))


def run_demo(settings: Settings, events: int = 20_000, seed: int = 7) -> int:
    from websessions.clients.airflow import AirflowApi
    from websessions.ingest import publish_lines
    from websessions.nightly import raw_day_state

    now = datetime.now(UTC)
    day = (now.date() - timedelta(days=1)).isoformat()
    console.rule(f"websessions demo: day {day}")

    console.print("[bold]1.[/bold] speed layer, raw lander and dashboard")
    console.print("  " + _cli("speed", "start").strip())
    console.print("  " + _cli("land", "start").strip())
    console.print("  " + _cli("alerts", "start").strip())
    console.print("  " + _cli("dashboard", "start").strip().replace("\n", "\n  "))

    console.print(f"[bold]2.[/bold] simulated traffic: {events} events of {day} (backfill) and live traffic of today")
    backfill, live = traffic(day, events, seed, now)
    live, incident = live_with_incident(live, now, seed)
    console.print(f"  with an injected incident: {incident.kind} on {incident.host} from {_minute(incident.start_ms)}")
    for name, lines in (("backfill", backfill), ("live", live)):
        result = publish_lines(settings, lines)
        console.print(f"  {name}: accepted {result.accepted}, dead-lettered {result.dead_lettered}")

    console.print(f"[bold]3.[/bold] waiting for the lander to mark {day} complete")
    logging.getLogger("websessions.nightly").setLevel(logging.WARNING)  # the spinner says what it waits for
    _wait(f"lander: day {day}", lambda: raw_day_state(settings, day) == "complete", 600)
    console.print("  " + _cli("audit", "--date", day).strip())
    from streaming.runner import read_stats

    def speed_caught_up() -> bool:
        stats = read_stats(settings) or {}
        return stats.get("source_lag") == 0 and time.time() - stats.get("updated_at", 0) < 30

    _wait("speed layer: reading up to the end of the topic", speed_caught_up, 600)
    console.print("  " + _cli("speed", "status").strip().replace("\n", "\n  "))
    _show_alert(settings, incident)

    console.print(f"[bold]4.[/bold] {NIGHTLY} for {day}, through Airflow")
    api = AirflowApi(settings)
    _wait("airflow: the DAG is parsed", lambda: NIGHTLY in api.dag_ids(), 180)
    run_id = api.trigger(NIGHTLY, day=day)
    console.print(f"  triggered {run_id}: {settings.airflow_url}/dags/{NIGHTLY}/runs/{run_id}")
    with console.status(f"airflow: {NIGHTLY} {run_id}"):
        state = api.wait_for_run(NIGHTLY, run_id, timeout_s=1800)
    console.print(f"  run {run_id}: [{'green' if state == 'success' else 'red'}]{state}[/]")
    if state != "success":
        return 1

    console.print("[bold]5.[/bold] reconciliation and the domain report")
    print(_cli("reconcile", "--date", day))
    print(_cli("report", "--from", day, "--to", now.date().isoformat()))
    console.print(f"[bold]6.[/bold] analytics of {day}: the report without bots, the busiest sessions")
    print(_cli("report", "--from", day, "--to", day, "--exclude-bots"))
    print(_cli("sessions", "--date", day, "--top", "5", "--by", "events"))

    from websessions.dashboard.server import url as dashboard_url
    from websessions.stores.postgres_sessions import sessions_of_day

    sample = next(iter(sessions_of_day(settings, day)), None)
    console.rule("where to look")
    console.print(f"Dashboard: {dashboard_url(settings)}  (Live, History and Pipeline pages)")
    console.print(f"Airflow UI: {settings.airflow_url}  (login {settings.airflow_user} / {settings.airflow_password})")
    if sample:
        console.print(
            f"A user's recent sessions (HBase): .venv/bin/websessions lookup --ip {sample.ip} --host {sample.host}"
        )
    console.print("History in Hive: .venv/bin/websessions hive -f hive/queries/avg_events_per_session.sql")
    console.print(f"Sessions of the day: .venv/bin/websessions sessions --date {day} --layer batch --format table")
    console.print(f"Hourly trend: .venv/bin/websessions report --from {day} --to {day} --by hour")
    if sample:
        console.print(f"Also viewed: .venv/bin/websessions recommend --host {sample.host} --url {sample.first_url}")
    console.print("Bots and load times in Hive: .venv/bin/websessions hive -f hive/queries/bot_share.sql")
    return 0
