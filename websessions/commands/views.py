"""Commands for people who look: ``dashboard`` (the web app), ``live`` (its Live page in the terminal)
and ``history`` (the History page's top lists)."""

from __future__ import annotations

import argparse
import os
import time

from websessions.commands import exit_codes
from websessions.commands.jobs import Job, JobStatus, add_job_parser
from websessions.settings import Settings, get_settings


def _dashboard(settings: Settings, args: argparse.Namespace) -> int:
    from websessions.dashboard import server

    argv = server.streamlit_argv(settings)
    os.execv(argv[0], argv)  # the supervisor's child is Streamlit itself


def _dashboard_started(settings: Settings, args: argparse.Namespace) -> int:
    """After ``dashboard start``: wait until it answers (exit 1 if it does not within ``--wait``)."""
    from websessions.dashboard import server

    deadline = time.monotonic() + args.wait
    while not server.healthy(settings) and time.monotonic() < deadline:
        time.sleep(0.5)
    up = server.healthy(settings)
    print(f"  {server.url(settings)} {'answers' if up else 'does not answer yet'}")
    return exit_codes.OK if up else exit_codes.FAILED


def _dashboard_status(settings: Settings) -> JobStatus:
    from websessions.dashboard import server

    up = server.healthy(settings)
    return JobStatus(f"; {server.url(settings)} {'answers' if up else 'does not answer'}", answers=up)


DASHBOARD = Job(
    "dashboard", "dashboard", _dashboard, _dashboard_status, after_start=_dashboard_started, stop_timeout_s=10.0
)


def live_table(settings, host: str | None):
    """The Live page's numbers as a rich renderable (one row per host, the speed layer's state below)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from websessions.live_view import CURRENT_MINUTES, live_view

    view = live_view(settings, host)
    stamp = time.strftime("%H:%M:%S", time.gmtime(view.as_of_ms / 1000))
    table = Table(title=f"live traffic at {stamp} UTC (speed layer)")
    for column in ("host", "active users", "events/min", f"error rate ({CURRENT_MINUTES} min)", "open sessions",
                   f"events ({view.window_min} min)", "newest minute"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("host", "newest minute") else "right")
    for h in view.hosts:
        table.add_row(h.host, str(h.active_users), str(h.events_per_minute), f"{h.error_rate:.1%}",
                      str(h.open_sessions), str(sum(m.events for m in h.minutes)),
                      h.latest.at if h.latest else "-")  # fmt: skip
    lines = [table, Text(view.speed.describe(view.as_of_ms / 1000))]
    if view.empty:
        newest = view.newest_minute
        since = f"; newest minute with events {newest.at} UTC ({newest.host})" if newest else ""
        lines.append(Text(f"no events in the last {view.window_min} minutes{since}"))
    return Group(*lines)


def top_table(settings, which: str, minutes: int, host: str | None):
    """The live top list ``which`` (pages or referrers) of the last ``minutes`` minutes, one table per host."""
    from rich.console import Group
    from rich.table import Table

    from websessions.live_top import live_top_lists
    from websessions.live_view import monitored_hosts

    tables = []
    for h in [host] if host else monitored_hosts(settings):
        lists = live_top_lists(settings, h, minutes)
        unit = "views" if which == "pages" else "sessions"
        table = Table(title=f"{h}: top {which}, last {minutes} minutes (speed layer)")
        table.add_column(which[:-1])
        table.add_column(unit, justify="right")
        for item, count in lists.of(which):
            table.add_row(item, str(count))
        if not lists.of(which):
            table.add_row("-", "0")
        tables.append(table)
    return Group(*tables)


def _live(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    settings = get_settings()
    console = Console()
    if args.top:
        console.print(top_table(settings, args.top, args.minutes, args.host))
        return exit_codes.OK
    if not args.watch:
        console.print(live_table(settings, args.host))
        return exit_codes.OK
    interval = args.interval or settings.dashboard_refresh_s
    try:
        with Live(live_table(settings, args.host), console=console, screen=False, auto_refresh=False) as view:
            while True:
                time.sleep(interval)
                view.update(live_table(settings, args.host), refresh=True)
    except KeyboardInterrupt:
        return exit_codes.OK


def _history(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from websessions.stores.hive_history import TOP_LISTS, top

    result = top(get_settings(), args.kind, args.date_from, args.date_to, args.host, args.limit)
    if args.format == "tsv":
        print("\t".join(result.columns))
        for row in result.rows:
            print("\t".join(str(v) for v in row))
        return exit_codes.OK
    table = Table(title=f"top {args.kind} {args.date_from} .. {args.date_to}: {TOP_LISTS[args.kind].description}")
    for column in result.columns:
        table.add_column(column)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    Console().print(table)
    return exit_codes.OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from websessions.stores.hive_history import TOP_LISTS

    dashboard = add_job_parser(sub, "dashboard", DASHBOARD, "the web dashboard (Streamlit)", default="start")
    dashboard.add_argument("--wait", type=float, default=60.0, help="start: seconds to wait for it to answer")
    live = sub.add_parser("live", help="the dashboard's live numbers per monitored host, in the terminal")
    live.add_argument("--host")
    live.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    live.add_argument("--interval", type=float, help="--watch: seconds between refreshes (dashboard_refresh_s)")
    live.add_argument("--top", choices=["pages", "referrers"], help="the top 10 pages or referrers instead")
    live.add_argument("--minutes", type=int, choices=[5, 60], default=60, help="--top: the window (default 60)")
    live.set_defaults(func=_live)
    history = sub.add_parser("history", help="top pages, referrers, countries, sections or paths from Hive")
    history.add_argument("kind", choices=list(TOP_LISTS))
    history.add_argument("--from", dest="date_from", required=True)
    history.add_argument("--to", dest="date_to", required=True)
    history.add_argument("--host")
    history.add_argument("--limit", type=int, default=10)
    history.add_argument("--format", choices=["table", "tsv"], default="table")
    history.set_defaults(func=_history)
