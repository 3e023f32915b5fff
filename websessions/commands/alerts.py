"""``alerts``: the stored anomaly alerts (``list``, the default) and the online detector (a supervised job)."""

from __future__ import annotations

import argparse
import sys

from websessions.commands import exit_codes
from websessions.commands.jobs import Job, JobStatus, add_job_parser, stop_event
from websessions.settings import Settings, get_settings


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from websessions.alerting import run_alerts

    print(f"alerts stopped: {run_alerts(settings, stop_event())} alerts raised")
    return exit_codes.OK


def _status(settings: Settings) -> JobStatus:
    from websessions.stores import postgres_alerts

    saved = postgres_alerts.progress(settings, settings.hbase_table_live_metrics)
    if not saved:
        return JobStatus("; no minute judged yet")
    from websessions.events import format_time_ms

    return JobStatus(f"; last minute judged {format_time_ms(saved[0] * 60_000)[:16]} (at {saved[1]:%Y-%m-%d %H:%M:%S})")


DETECTOR = Job("alerts", "alerts", _run, _status)


def _list(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from websessions.stores.postgres_alerts import alerts_since, parse_since

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    alerts = alerts_since(get_settings(), since, host=args.host, kind=args.kind, limit=args.limit)
    if args.format == "json":
        print(json.dumps([a.to_dict() for a in alerts], indent=2))
        return exit_codes.OK
    table = Table(title=f"{len(alerts)} alerts since {since:%Y-%m-%d %H:%M} UTC (newest first)")
    for column in ("minute", "host", "kind", "observed", "expected", "score", "window", "detected at"):
        table.add_column(column, justify="right" if column in ("observed", "expected", "score") else "left")
    for stored in alerts:
        a = stored.alert
        rate = a.kind == "error_rate"
        table.add_row(
            a.at, a.host, a.kind, f"{a.observed:.1%}" if rate else f"{a.observed:g}",
            f"{a.expected:.1%}" if rate else f"{a.expected:g}", f"{a.score:.1f}", f"{a.window_minutes} min",
            f"{stored.detected_at:%Y-%m-%d %H:%M:%S}",
        )  # fmt: skip
    Console().print(table)
    return exit_codes.OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``alerts``."""
    alerts = add_job_parser(
        sub, "alerts", DETECTOR, "anomaly alerts (list, the default: --since 2h); start|stop|status|run: the detector",
        default="list", other=_list, other_actions=["list"],
    )  # fmt: skip
    alerts.add_argument("--since", default="24h", help="list: 30m, 2h, 1d ago, or a UTC time (2026-12-07T14:30)")
    alerts.add_argument("--host")
    alerts.add_argument("--kind", choices=["spike", "drop", "error_rate", "silence"])
    alerts.add_argument("--limit", type=int, default=200)
    alerts.add_argument("--format", choices=["table", "json"], default="table")
