"""The analytics on the command line: ``recommend``, ``sessions --top N --by events|duration`` and
``report --by day|hour`` (:mod:`websessions.commands.serving` calls these; the numbers come from the store reads
of :mod:`websessions.stores.postgres_analytics` and :mod:`websessions.report`, as the dashboard's do)."""

from __future__ import annotations

import argparse
import json

from websessions.commands import exit_codes
from websessions.settings import Settings, get_settings


def _change(value: float | None) -> str:
    return "" if value is None else f"{value:+.1%}"


def print_top_sessions(settings: Settings, args: argparse.Namespace) -> int:
    """``sessions --date D --top N --by events|duration [--host H]``: the batch layer's notable sessions."""
    from rich.console import Console
    from rich.table import Table

    from websessions.stores.postgres_analytics import top_sessions

    top = top_sessions(settings, args.date, args.top, args.by, host=args.host)
    if args.format == "jsonl":
        for t in top:
            print(json.dumps({**t.session.to_dict(), "is_bot": t.is_bot, "browser_family": t.browser_family,
                              "device_class": t.device_class}, ensure_ascii=False))  # fmt: skip
        return exit_codes.OK
    table = Table(title=f"top {len(top)} sessions of {args.date} by {args.by} (batch layer)")
    for column in ("host", "ip", "start", "events", "duration s", "pages", "errors", "agent", "bot"):
        table.add_column(column, justify="right" if column in ("events", "duration s", "pages", "errors") else "left")
    for t in top:
        s = t.session
        agent = f"{t.browser_family or '?'} / {t.device_class or '?'}"
        table.add_row(s.host, s.ip, s.start, str(s.events), f"{s.duration_s:.1f}", str(s.pages), str(s.errors),
                      agent, "BOT" if t.is_bot else "")  # fmt: skip
    Console().print(table)
    return exit_codes.OK


def print_series(settings: Settings, args: argparse.Namespace) -> int:
    """``report --by day|hour``: the series of the range with the change against the previous period."""
    from rich.console import Console
    from rich.table import Table

    from websessions.report import daily_series
    from websessions.stores.postgres_analytics import hourly_series

    if args.by == "day":
        points = daily_series(settings, args.date_from, args.date_to, args.host, args.exclude_bots)
        rows = [{"dt": p.dt, **p.row.as_dict(), "sessions_change": p.sessions_change,
                 "events_change": p.events_change} for p in points]  # fmt: skip
        columns = ("dt", "host", "layer", "sessions", "sessions_change", "events", "events_change", "unique_ips")
    else:
        from websessions.analytics import change

        hours = hourly_series(settings, args.date_from, args.date_to, args.host)
        rows = []
        for i, p in enumerate(hours):
            before = hours[i - 1] if i and hours[i - 1].host == p.host else None
            rows.append({**p.__dict__, "events_change": change(p.events, before.events if before else None)})
        columns = ("hour", "host", "events", "events_change", "sessions_started", "active_users", "errors")
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return exit_codes.OK
    bots = " (bots excluded on batch-served days)" if args.exclude_bots and args.by == "day" else ""
    period = "daily" if args.by == "day" else "hourly"
    table = Table(title=f"{period} series {args.date_from} .. {args.date_to}{bots}")
    for column in columns:
        table.add_column(
            column.replace("_", " "), justify="left" if column in ("dt", "hour", "host", "layer") else "right"
        )
    for row in rows:
        table.add_row(*(_change(row[c]) if c.endswith("_change") else str(row[c]) for c in columns))
    Console().print(table)
    if args.exclude_bots and args.by == "hour":
        print("note: the hourly series counts every session (bots included)")
    return exit_codes.OK


def _recommend(args: argparse.Namespace) -> int:
    from websessions.stores.postgres_analytics import recommendations

    found = recommendations(get_settings(), args.host, args.url, args.date)
    if not found:
        print(f"no recommendations for {args.url} on {args.host} (the batch has not seen it viewed with another page)")
        return exit_codes.FAILED
    print(f"visitors of {found[0].page} on {args.host} also viewed ({found[0].dt}):")
    for r in found:
        print(f"  {r.rank}. {r.also_viewed}  ({r.sessions} sessions)")
    return exit_codes.OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``recommend``."""
    recommend = sub.add_parser("recommend", help="visitors of this page also viewed (co-visits in sessions)")
    recommend.add_argument("--host", required=True)
    recommend.add_argument("--url", required=True, help="a url or page of the host (query and fragment ignored)")
    recommend.add_argument("--date", help="the day (default: the latest day with recommendations for the page)")
    recommend.set_defaults(func=_recommend)
