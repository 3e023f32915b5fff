"""``stack`` (the local services: up, down, status, logs, check, fetch) and ``demo`` (the whole story on them)."""

from __future__ import annotations

import argparse

from websessions.commands import exit_codes
from websessions.settings import Settings, get_settings


def _stack(args: argparse.Namespace) -> int:
    from websessions.stack import manager

    settings = get_settings()
    if getattr(args, "cluster", False):
        settings = settings.in_cluster_mode()
    if args.action == "up":
        manager.up(settings, only=args.services)
    elif args.action == "down":
        manager.down(settings, wipe=args.wipe)
    elif args.action == "status":
        return exit_codes.OK if manager.print_status(settings) else exit_codes.NOT_RUNNING
    elif args.action == "logs":
        manager.print_logs(settings, args.service, lines=args.lines)
    elif args.action == "check":
        return _stack_check(settings)
    elif args.action == "fetch":
        from websessions.platform.artifacts import fetch_all

        fetch_all(settings)
    return exit_codes.OK


def _stack_check(settings: Settings) -> int:
    import secrets
    import time

    from rich.console import Console
    from rich.table import Table

    from websessions.stack.registry import SERVICE_ORDER
    from websessions.stack.roundtrip import read_marker, write_marker

    table = Table(title="round trip through each service")
    for column in ("service", "wrote", "read back", "ms", "ok"):
        table.add_column(column)
    failures = 0
    for service in SERVICE_ORDER:
        value = secrets.token_hex(6)
        t0 = time.monotonic()
        try:
            write_marker(settings, service, value)
            got = read_marker(settings, service)
        except Exception as exc:  # noqa: BLE001 - reported per service, exit code says it failed
            got = f"error: {exc}"
        ok = got == value
        failures += not ok
        ms = f"{(time.monotonic() - t0) * 1000:.0f}"
        table.add_row(service, value, got, ms, "[green]yes[/green]" if ok else "[red]no[/red]")
    Console().print(table)
    return exit_codes.FAILED if failures else exit_codes.OK


def _demo(args: argparse.Namespace) -> int:
    from websessions.demo import run_demo

    return run_demo(get_settings(), events=args.events, seed=args.seed)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``stack`` and ``demo``."""
    stack = sub.add_parser("stack", help="the local services: up, down, status, logs, check, fetch")
    stack_sub = stack.add_subparsers(dest="action", required=True)
    up = stack_sub.add_parser("up", help="start every service (idempotent) and wait until each answers")
    up.add_argument("services", nargs="*", help="only these services (and what they depend on)")
    up.add_argument(
        "--cluster",
        action="store_true",
        help="cluster mode: also a Flink session cluster (UI :8081) and a Spark standalone cluster (UI :8082)",
    )
    down = stack_sub.add_parser("down", help="stop the services the stack started (the clusters too); data is kept")
    down.add_argument("--wipe", action="store_true", help="also remove all data, logs and configs")
    stack_sub.add_parser("status", help="service, port, pid, healthy; the Airflow URL and login (exit 3: one is down)")
    logs = stack_sub.add_parser("logs", help="the log of one service")
    logs.add_argument("service")
    logs.add_argument("-n", "--lines", type=int, default=60)
    stack_sub.add_parser("check", help="a round trip through every service with the product's clients")
    stack_sub.add_parser("fetch", help="resolve every pinned jar set into the cache (later runs are offline)")
    stack.set_defaults(func=_stack)

    demo = sub.add_parser("demo", help="the whole story on the running stack, ending with the domain report")
    demo.add_argument("--events", type=int, default=20_000, help="events of the simulated backfill day")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_demo)
