"""Reads of the serving layer: ``sessions`` (a day from either layer), ``lookup`` (a user's recent sessions),
``report`` (the domain report) and ``hive`` (HiveQL through HiveServer2)."""

from __future__ import annotations

import argparse
import sys

from websessions.commands import exit_codes
from websessions.settings import get_settings


def _sessions(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    settings = get_settings()
    if args.top is not None:
        from websessions.commands.analytics import print_top_sessions

        return print_top_sessions(settings, args)
    if args.layer == "batch":
        from websessions.stores.postgres_sessions import sessions_of_day

        sessions = sessions_of_day(settings, args.date, host=args.host, ip=args.ip)
    else:
        from websessions.stores.hbase_sessions import HBaseSessions

        with HBaseSessions(settings) as store:
            sessions = store.sessions_of_day(args.date, host=args.host, ip=args.ip)
    if args.format == "jsonl":
        for session in sessions:
            print(json.dumps(session.to_dict(), ensure_ascii=False))
        return exit_codes.OK
    table = Table(title=f"{len(sessions)} sessions of {args.date} ({args.layer} layer)")
    for column in ("host", "ip", "start", "end", "events", "pages", "first_url", "status"):
        table.add_column(column)
    for s in sessions:
        table.add_row(s.host, s.ip, s.start, s.end, str(s.events), str(s.pages), s.first_url, s.status)
    Console().print(table)
    return exit_codes.OK


def _lookup(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from websessions.stores.hbase_sessions import HBaseSessions

    with HBaseSessions(get_settings()) as store:
        sessions = store.recent(args.ip, args.host, limit=args.limit)
    table = Table(title=f"recent sessions of {args.ip} on {args.host} (newest first)")
    for column in ("start", "end", "duration s", "events", "pages", "errors", "first_url", "last_url", "status"):
        table.add_column(column)
    for s in sessions:
        table.add_row(s.start, s.end, f"{s.duration_s:.1f}", str(s.events), str(s.pages), str(s.errors),
                      s.first_url, s.last_url, s.status)  # fmt: skip
    Console().print(table)
    return exit_codes.OK


def _report(args: argparse.Namespace) -> int:
    import csv
    import json

    from rich.console import Console
    from rich.table import Table

    from websessions.report import day_layers, domain_report

    settings = get_settings()
    if args.by:
        from websessions.commands.analytics import print_series

        return print_series(settings, args)
    rows = domain_report(settings, args.date_from, args.date_to, host=args.host, exclude_bots=args.exclude_bots)
    if args.exclude_bots:
        from websessions.report import bots_excluded

        note = bots_excluded(settings, args.date_from, args.date_to, args.host).note()
    days = day_layers(settings, args.date_from, args.date_to)
    if args.format == "json":
        excluded = {"bots_excluded": note} if args.exclude_bots else {}
        print(
            json.dumps({"rows": [r.as_dict() for r in rows], "days": [d.__dict__ for d in days], **excluded}, indent=2)
        )
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0].as_dict()) if rows else ["host"])
        writer.writeheader()
        writer.writerows(r.as_dict() for r in rows)
    else:
        table = Table(title=f"domain report {args.date_from} .. {args.date_to}")
        columns = ("host", "layer", "sessions", "avg events/session", "max events", "avg duration s",
                   "unique IPs", "bounce rate")  # fmt: skip
        for column in columns:
            table.add_column(column, justify="left" if column in ("host", "layer") else "right")
        for r in rows:
            table.add_row(
                r.host, r.layer, str(r.sessions), f"{r.avg_events_per_session:.2f}", str(r.max_events_per_session),
                f"{r.avg_duration_s:.1f}", str(r.unique_ips), f"{r.bounce_rate:.1%}",
            )  # fmt: skip
        console = Console()
        console.print(table)
        for d in days:
            console.print(f"  {d.dt}: {d.layer} layer ({d.note})")
        if args.exclude_bots:
            console.print(f"  {note}")
    return exit_codes.OK


def _hive(args: argparse.Namespace) -> int:
    from pyhive.exc import Error as HiveError
    from rich.console import Console
    from rich.table import Table

    from batch.hive_sql import run_hiveserver2, short_column

    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as handle:
                sql = handle.read()
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exit_codes.USAGE
    else:
        sql = args.execute
    console = Console()

    def show(statement: str, columns: list[str], rows: list[tuple]) -> None:
        if not columns or (columns == ["Result"] and not rows):  # DDL: the Thrift server's empty result
            return
        names = [short_column(c) for c in columns]
        if args.format == "tsv":
            print("\t".join(names))
            for row in rows:
                print("\t".join("NULL" if v is None else str(v) for v in row))
            return
        table = Table(caption=f"{len(rows)} rows")
        for name in names:
            table.add_column(name)
        for row in rows:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        console.print(table)

    try:
        run_hiveserver2(get_settings(), sql, on_result=show)
    except HiveError as exc:  # the server refused a statement: its message
        status = getattr(exc.args[0] if exc.args else None, "status", None)
        print(f"error: {getattr(status, 'errorMessage', None) or exc}", file=sys.stderr)
        return exit_codes.FAILED
    return exit_codes.OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``sessions``, ``lookup``, ``report`` and ``hive``."""
    sessions = sub.add_parser("sessions", help="sessions of a day from the speed or the batch layer")
    sessions.add_argument("--date", required=True)
    sessions.add_argument("--layer", choices=["speed", "batch"], default="batch")
    sessions.add_argument("--host")
    sessions.add_argument("--ip")
    sessions.add_argument("--format", choices=["table", "jsonl"], default="table")
    sessions.add_argument("--top", type=int, help="the N notable sessions of the day (batch layer; bots flagged)")
    sessions.add_argument("--by", choices=["events", "duration"], default="events", help="with --top: rank by")
    sessions.set_defaults(func=_sessions)
    lookup = sub.add_parser("lookup", help="a user's recent sessions from HBase, newest first")
    lookup.add_argument("--ip", required=True)
    lookup.add_argument("--host", required=True)
    lookup.add_argument("--limit", type=int, default=10)
    lookup.set_defaults(func=_lookup)

    report = sub.add_parser("report", help="the domain report (batch where reconciled, speed after)")
    report.add_argument("--from", dest="date_from", default="1970-01-01")
    report.add_argument("--to", dest="date_to", default="9999-12-31")
    report.add_argument("--host")
    report.add_argument("--format", choices=["table", "json", "csv"], default="table")
    report.add_argument("--exclude-bots", action="store_true", help="leave bot sessions out (batch-served days)")
    report.add_argument("--by", choices=["day", "hour"], help="the series per day or hour, with the change")
    report.set_defaults(func=_report)
    hive = sub.add_parser("hive", help="run HiveQL through HiveServer2 and print the results")
    hive_sql = hive.add_mutually_exclusive_group(required=True)
    hive_sql.add_argument("-e", dest="execute", metavar="SQL", help="statements (separated by ;)")
    hive_sql.add_argument("-f", dest="file", metavar="FILE", help="a .sql file (e.g. hive/queries/top_pages.sql)")
    hive.add_argument("--format", choices=["table", "tsv"], default="table")
    hive.set_defaults(func=_hive)
