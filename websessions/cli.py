"""The `websessions` command line: thin argument parsing that calls into the package.

Heavy modules (engines, clients) are imported inside each command so `websessions --help` is fast.
"""

from __future__ import annotations

import argparse
import logging
import sys

from websessions.settings import get_settings


def _stack(args: argparse.Namespace) -> int:
    from websessions.stack import manager

    settings = get_settings()
    if args.action == "up":
        manager.up(settings, only=args.services)
    elif args.action == "down":
        manager.down(settings, wipe=args.wipe)
    elif args.action == "status":
        return 0 if manager.print_status(settings) else 1
    elif args.action == "logs":
        manager.print_logs(settings, args.service, lines=args.lines)
    elif args.action == "check":
        return _stack_check(settings)
    elif args.action == "fetch":
        from websessions.platform.artifacts import fetch_all

        fetch_all(settings)
    return 0


def _stack_check(settings) -> int:
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
    return 1 if failures else 0


def _ingest(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from websessions.ingest import IngestError, publish_lines

    settings = get_settings()
    if args.format == "combined":
        return _ingest_access_log(args, settings)
    if args.follow or args.host:
        print("error: --follow and --host are for --format combined", file=sys.stderr)
        return 2
    try:
        with open(args.file, "rb") as handle, Progress(transient=True) as progress:
            task = progress.add_task(f"publishing {args.file}", total=None)
            result = publish_lines(settings, handle, progress=lambda n: progress.advance(task, n))
    except IngestError as exc:
        print(f"error: {exc.summary()}", file=sys.stderr)
        return 1
    reasons = ", ".join(f"{reason}: {n}" for reason, n in result.reasons.most_common()) or "none"
    print(f"accepted {result.accepted}, dead-lettered {result.dead_lettered} ({reasons})")
    return 0


def _ingest_access_log(args: argparse.Namespace, settings) -> int:
    """``ingest --format combined FILE [--host H] [--follow]``: an access log, once or followed until stopped."""
    import signal
    import threading

    from rich.progress import Progress

    from websessions.log_tail import AlreadyFollowed, LogFollower, ingest_log_file

    if args.follow:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        follower = LogFollower(settings, args.file, args.host)
        try:
            result = follower.run(stop)
        except AlreadyFollowed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"followed {args.file} through {follower.rotations} rotations (position: {follower.state_file})")
    else:
        with Progress(transient=True) as progress:
            task = progress.add_task(f"publishing {args.file}", total=None)
            result = ingest_log_file(settings, args.file, args.host, progress=lambda n: progress.advance(task, n))
    reasons = ", ".join(f"{reason}: {n}" for reason, n in result.reasons.most_common()) or "none"
    print(f"accepted {result.accepted}, dead-lettered {result.dead_lettered} ({reasons})")
    return 0


def _collect(args: argparse.Namespace) -> int:
    if args.action != "serve":
        return _collect_background(args)
    from websessions.collector import serve

    serve(get_settings(), port=args.port)
    return 0


def _collect_background(args: argparse.Namespace) -> int:
    """``collect start|stop|status``: the collector as a supervised background job (as ``land``)."""
    from websessions.background import BackgroundJob

    settings = get_settings()
    job = BackgroundJob(settings, "collector", ["collect", *(["--port", str(args.port)] if args.port else [])])
    if args.action == "start":
        pid, started = job.start()
        print(f"collector {'started' if started else 'already running'} (pid {pid}, log {job.process.log_file})")
    elif args.action == "stop":
        print("collector stopped" if job.stop() else "collector was not running")
    else:
        pid = job.pid()
        print(f"collector {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
        print(f"  {job.status_line()}")
        return 0 if pid else 3
    return 0


def _land(args: argparse.Namespace) -> int:
    import json
    import signal
    import threading

    from websessions.background import BackgroundJob
    from websessions.lander import lander_stats_path

    settings = get_settings()
    job = BackgroundJob(settings, "lander", ["land", "run", "--batch-max", str(args.batch_max)])
    if args.action == "run":
        from websessions.lander import RawLander
        from websessions.lander_lease import Fenced, LeaseHeld

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        lander = RawLander(settings, batch_max=args.batch_max)
        try:
            stats = lander.run(stop, idle_exit_s=args.idle_exit, stats_path=lander_stats_path(settings))
        except (LeaseHeld, Fenced) as exc:
            print(f"error: lander: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(stats.__dict__))
    elif args.action == "start":
        pid, started = job.start()
        print(f"lander {'started' if started else 'already running'} (pid {pid}, log {job.process.log_file})")
    elif args.action == "stop":
        print("lander stopped" if job.stop() else "lander was not running")
    else:
        pid = job.pid()
        stats_file = lander_stats_path(settings)
        stats = stats_file.read_text() if stats_file.exists() else "{}"
        print(f"lander {'running (pid ' + str(pid) + ')' if pid else 'stopped'}; last stats {stats}")
        print(f"  {job.status_line()}")
        return 0 if pid else 3
    return 0


def _audit(args: argparse.Namespace) -> int:
    from websessions.audit import audit_day

    report = audit_day(get_settings(), args.date)
    print(report.summary())
    return 0 if report.balanced else 1


def _sessions(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    settings = get_settings()
    if args.top is not None:
        from websessions.analytics_commands import print_top_sessions

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
        return 0
    table = Table(title=f"{len(sessions)} sessions of {args.date} ({args.layer} layer)")
    for column in ("host", "ip", "start", "end", "events", "pages", "first_url", "status"):
        table.add_column(column)
    for s in sessions:
        table.add_row(s.host, s.ip, s.start, s.end, str(s.events), str(s.pages), s.first_url, s.status)
    Console().print(table)
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from websessions.reconcile import check, reconcile_day
    from websessions.report import ensure_serving_schema

    settings = get_settings()
    ensure_serving_schema(settings)
    results = reconcile_day(settings, args.date, fail=False)
    for r in results.values():
        causes = ", ".join(f"{cause} {n}" for cause, n in sorted(r.causes.items())) or "none"
        print(
            f"{args.date} {r.host}: matched {r.matched}, speed-only {r.speed_only}, batch-only {r.batch_only},"
            f" event-count differences {r.event_count_diffs}, mismatch ratio {r.mismatch_ratio:.3f};"
            f" causes: {causes}"
        )
    problems = check(results, settings.reconcile_max_mismatch_ratio)
    if problems:
        print(f"error: reconciliation of {args.date} failed: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    import csv
    import json

    from rich.console import Console
    from rich.table import Table

    from websessions.report import day_layers, domain_report, ensure_serving_schema

    settings = get_settings()
    ensure_serving_schema(settings)
    if args.by:
        from websessions.analytics_commands import print_series

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
    return 0


def _speed(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from websessions.background import BackgroundJob

    settings = get_settings()
    job = BackgroundJob(settings, "speed", ["speed", "run"], stop_timeout_s=90.0)
    if args.action == "run":
        from streaming.runner import run_speed_layer

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stats = run_speed_layer(settings, stop)
        print(f"speed layer stopped: {stats}")
        return 0
    if args.action in ("start", "stop"):
        return _start_or_stop(job, "speed layer", args.action)
    from streaming.runner import read_stats

    pid = job.pid()
    stats = read_stats(settings) or {}
    print(f"speed layer {'running (pid ' + str(pid) + ')' if pid else 'stopped'}; job {stats.get('job_id', '-')}"
          f" {stats.get('job_status', '')}")  # fmt: skip
    print(f"  {job.status_line()}")
    if stats:
        age = time.time() - stats.get("updated_at", 0)
        print(
            f"  last progress {age:.0f}s ago: {stats['updates']} updates, {stats['sessions_closed']} sessions closed,"
            f" {stats['open_sessions']} open; source lag {stats.get('source_lag')} events;"
            f" events read {stats['records']}, late {stats['late']}, invalid {stats['invalid']},"
            f" undecodable {stats['undecodable']}"
        )
    return 0 if pid else 3


def _start_or_stop(job, label: str, action: str) -> int:
    """``start`` or ``stop`` a supervised background job, saying what happened."""
    if action == "start":
        pid, started = job.start()
        print(f"{label} {'started' if started else 'already running'} (pid {pid}, log {job.process.log_file})")
    else:
        print(f"{label} stopped" if job.stop() else f"{label} was not running")
    return 0


def _alerts(args: argparse.Namespace) -> int:
    """``alerts [--since ...]`` lists alerts; ``alerts start|stop|status|run``: the online detector."""
    import signal
    import threading

    from websessions.background import BackgroundJob

    settings = get_settings()
    job = BackgroundJob(settings, "alerts", ["alerts", "run"])
    if args.action == "run":
        from websessions.alerting import run_alerts

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print(f"alerts stopped: {run_alerts(settings, stop)} alerts raised")
        return 0
    if args.action in ("start", "stop"):
        return _start_or_stop(job, "alerts", args.action)
    from websessions.stores import postgres_alerts

    if args.action == "status":
        pid = job.pid()
        saved = postgres_alerts.progress(settings, settings.hbase_table_live_metrics)
        judged = "no minute judged yet"
        if saved:
            from websessions.events import format_time_ms

            judged = f"last minute judged {format_time_ms(saved[0] * 60_000)[:16]} (at {saved[1]:%Y-%m-%d %H:%M:%S})"
        print(f"alerts {'running (pid ' + str(pid) + ')' if pid else 'stopped'}; {judged}")
        print(f"  {job.status_line()}")
        return 0 if pid else 3
    return _alerts_list(settings, args)


def _alerts_list(settings, args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from websessions.stores.postgres_alerts import alerts_since, parse_since

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    alerts = alerts_since(settings, since, host=args.host, kind=args.kind, limit=args.limit)
    if args.format == "json":
        print(json.dumps([a.to_dict() for a in alerts], indent=2))
        return 0
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
    return 0


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
    return 0


def _sessionize(args: argparse.Namespace) -> int:
    import json
    from collections import Counter

    from websessions.sessionizer import sessionize_jsonl
    from websessions.sessions import SessionRule
    from websessions.settings import load_settings

    rule = SessionRule.from_settings(load_settings(create_secrets=False))  # the rule needs no secrets
    reasons: Counter = Counter()

    def on_invalid(number: int, rejection) -> None:
        reasons[rejection.reason] += 1
        if sum(reasons.values()) <= 20:
            print(f"line {number}: {rejection.reason}: {rejection.message}", file=sys.stderr)

    columns = ("host", "ip", "start", "end", "duration_s", "events", "pages", "errors", "first_url")
    widths = (24, 39, 24, 24, 10, 6, 5, 6, 0)
    if args.format == "table":
        print(" ".join(f"{c:<{w}}" for c, w in zip(columns, widths, strict=True)).rstrip())
    stats: dict[str, int] = {}
    try:
        lines = open(args.file, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with lines:
        for session in sessionize_jsonl(lines, rule, batch=args.batch, on_invalid=on_invalid, stats=stats):
            record = session.to_dict()
            if args.format == "jsonl":
                print(json.dumps(record, ensure_ascii=False))
            else:
                print(" ".join(f"{record[c]!s:<{w}}" for c, w in zip(columns, widths, strict=True)).rstrip())
    invalid = ", ".join(f"{reason}: {n}" for reason, n in reasons.most_common()) or "none"
    print(
        f"{stats['events_in']} events in {stats['sessions_out']} sessions; {stats['duplicates']} duplicates,"
        f" {stats['late']} late, {stats['invalid']} invalid lines ({invalid})",
        file=sys.stderr,
    )
    return 0


def _edgar(args: argparse.Namespace) -> int:
    from websessions.edgar import EdgarError, sessionize_file

    try:
        stats = sessionize_file(args.log, args.inactivity, args.out)
    except (EdgarError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {stats.summary()}", file=sys.stderr)
    return 0


def _batch(args: argparse.Namespace) -> int:
    from datetime import date

    from rich.console import Console

    from batch.sessions_job import DayNotComplete, run_day

    try:
        dt = date.fromisoformat(args.date).isoformat()
    except ValueError:
        print(f"error: --date {args.date!r} is not a day like 2026-11-20", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    try:
        with console.status(f"batch {dt}: starting") as status:

            def progress(message: str) -> None:
                console.log(message)
                status.update(f"batch {dt}: {message}")

            result = run_day(get_settings(), dt, force=args.force, progress=progress)
    except DayNotComplete as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


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
            return 2
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
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except HiveError as exc:  # the server refused a statement: its message, exit code 1
        status = getattr(exc.args[0] if exc.args else None, "status", None)
        print(f"error: {getattr(status, 'errorMessage', None) or exc}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from websessions.demo import run_demo

    return run_demo(get_settings(), events=args.events, seed=args.seed)


def _generate(args: argparse.Namespace) -> int:
    from contextlib import nullcontext
    from datetime import date

    from rich.console import Console
    from rich.progress import Progress

    from websessions.simulator import GenerationStats, SimulatorConfig, generate_day, generate_live
    from websessions.simulator.access_log import LogStats, combined_lines

    settings = get_settings()
    stats = GenerationStats()
    log_stats = LogStats()
    if args.format == "combined" and args.kafka:
        print("error: --format combined writes a log file; publish it with ingest --format combined", file=sys.stderr)
        return 2
    try:
        shares = {k: v for k, v in vars(args).items() if k.endswith("_share") and v is not None}
        hosts = {"hosts": tuple(h.strip() for h in args.hosts.split(",") if h.strip())} if args.hosts else {}
        config = SimulatorConfig(**hosts, **shares, allowed_lateness_s=settings.allowed_lateness_s)
        if args.rate is not None:
            lines = generate_live(args.rate, args.seed, config, apps=args.apps, limit=args.events, stats=stats)
        elif args.date is None or args.events is None:
            raise ValueError("--date and --events are required (or --rate for live traffic)")
        else:
            day = date.fromisoformat(args.date)
            lines = generate_day(day, args.events, args.seed, config, apps=args.apps, stats=stats)
        if args.incident:
            from websessions.simulator.incidents import Incident, inject, parse_at

            if not args.host or not args.at:
                raise ValueError("--incident needs --host and --at")
            at = parse_at(args.at, date.fromisoformat(args.date) if args.date else None)
            lines = inject(lines, [Incident(args.incident, args.host, at, duration_s=args.duration * 60)])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("generate" + (f" (live, {args.rate}/s)" if args.rate else ""), total=args.events)

        def counted():
            for n, line in enumerate(lines, 1):
                yield line
                if n % 1000 == 0:
                    progress.update(task, completed=n)

        try:
            if args.kafka:
                from websessions.ingest import publish_lines

                result = publish_lines(settings, counted())
                print(f"published: accepted {result.accepted}, dead-lettered {result.dead_lettered}", file=sys.stderr)
            else:
                output = counted()
                if args.format == "combined":
                    output = combined_lines(output, vhost=len(config.hosts) > 1, stats=log_stats)
                with nullcontext(sys.stdout) if args.out == "-" else open(args.out, "w", encoding="utf-8") as out:
                    for line in output:  # flushed line by line when live, as a web server writes
                        out.write(line + "\n")
                        if args.rate is not None:
                            out.flush()
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
    print(stats.summary(), file=sys.stderr)
    if args.format == "combined":
        left_out = f"{log_stats.skipped_events} beacon-only events left out"
        print(f"access log: {log_stats.lines} lines ({left_out})", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="websessions", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stack = sub.add_parser("stack", help="the local services: up, down, status, logs")
    stack_sub = stack.add_subparsers(dest="action", required=True)
    up = stack_sub.add_parser("up", help="start every service (idempotent) and wait until each answers")
    up.add_argument("services", nargs="*", help="only these services (and what they depend on)")
    down = stack_sub.add_parser("down", help="stop the services the stack started; data is kept")
    down.add_argument("--wipe", action="store_true", help="also remove all data, logs and configs")
    stack_sub.add_parser("status", help="service, port, pid, healthy; the Airflow URL and login")
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

    ingest = sub.add_parser(
        "ingest", help="publish a JSON-lines file or an access log to Kafka (invalid lines dead-lettered)"
    )
    ingest.add_argument("file")
    ingest.add_argument("--format", choices=["jsonl", "combined"], default="jsonl", help="combined: an access log")
    ingest.add_argument("--host", help="combined: the host of lines without a virtual-host field")
    ingest.add_argument("--follow", action="store_true", help="combined: tail the log across rotation until stopped")
    ingest.set_defaults(func=_ingest)
    collect = sub.add_parser("collect", help="the HTTP beacon collector (foreground, or start|stop|status)")
    collect.add_argument("action", nargs="?", choices=["serve", "start", "stop", "status"], default="serve")
    collect.add_argument("--port", type=int, default=None)
    collect.set_defaults(func=_collect)
    land = sub.add_parser("land", help="the raw lander (Kafka -> HDFS, exactly once)")
    land.add_argument("action", choices=["start", "stop", "status", "run"])
    land.add_argument("--idle-exit", type=float, default=None, help="run: stop after this many idle seconds")
    land.add_argument("--batch-max", type=int, default=100_000, help="most events landed per batch")
    land.set_defaults(func=_land)
    audit = sub.add_parser("audit", help="every input event of a day accounted for")
    audit.add_argument("--date", required=True)
    audit.set_defaults(func=_audit)

    sessions = sub.add_parser("sessions", help="sessions of a day from the speed or the batch layer")
    sessions.add_argument("--date", required=True)
    sessions.add_argument("--layer", choices=["speed", "batch"], default="batch")
    sessions.add_argument("--host")
    sessions.add_argument("--ip")
    sessions.add_argument("--format", choices=["table", "jsonl"], default="table")
    sessions.add_argument("--top", type=int, help="the N notable sessions of the day (batch layer; bots flagged)")
    sessions.add_argument("--by", choices=["events", "duration"], default="events", help="with --top: rank by")
    sessions.set_defaults(func=_sessions)

    reconcile = sub.add_parser("reconcile", help="speed vs batch for a day, stored in Postgres")
    reconcile.add_argument("--date", required=True)
    reconcile.set_defaults(func=_reconcile)
    report = sub.add_parser("report", help="the domain report (batch where reconciled, speed after)")
    report.add_argument("--from", dest="date_from", default="1970-01-01")
    report.add_argument("--to", dest="date_to", default="9999-12-31")
    report.add_argument("--host")
    report.add_argument("--format", choices=["table", "json", "csv"], default="table")
    report.add_argument("--exclude-bots", action="store_true", help="leave bot sessions out (batch-served days)")
    report.add_argument("--by", choices=["day", "hour"], help="the series per day or hour, with the change")
    report.set_defaults(func=_report)

    from websessions import analytics_commands

    analytics_commands.add_parsers(sub)
    batch = sub.add_parser("batch", help="recompute day D with Spark: sessions, stats, history into Hive and Postgres")
    batch.add_argument("--date", required=True, help="the UTC day (YYYY-MM-DD)")
    batch.add_argument("--force", action="store_true", help="run even if the lander has not marked the day complete")
    batch.set_defaults(func=_batch)
    hive = sub.add_parser("hive", help="run HiveQL through HiveServer2 and print the results")
    hive_sql = hive.add_mutually_exclusive_group(required=True)
    hive_sql.add_argument("-e", dest="execute", metavar="SQL", help="statements (separated by ;)")
    hive_sql.add_argument("-f", dest="file", metavar="FILE", help="a .sql file (e.g. hive/queries/top_pages.sql)")
    hive.add_argument("--format", choices=["table", "tsv"], default="table")
    hive.set_defaults(func=_hive)
    speed = sub.add_parser("speed", help="the PyFlink speed layer (Kafka -> sessions in HBase): start, stop, status")
    speed.add_argument("action", choices=["start", "stop", "status", "run"])
    speed.set_defaults(func=_speed)
    alerts = sub.add_parser("alerts", help="anomaly alerts (--since 2h); start|stop|status: the online detector")
    alerts.add_argument("action", nargs="?", choices=["list", "start", "stop", "status", "run"], default="list")
    alerts.add_argument("--since", default="24h", help="30m, 2h, 1d ago, or a UTC time (2026-12-07T14:30)")
    alerts.add_argument("--host")
    alerts.add_argument("--kind", choices=["spike", "drop", "error_rate", "silence"])
    alerts.add_argument("--limit", type=int, default=200)
    alerts.add_argument("--format", choices=["table", "json"], default="table")
    alerts.set_defaults(func=_alerts)
    lookup = sub.add_parser("lookup", help="a user's recent sessions from HBase, newest first")
    lookup.add_argument("--ip", required=True)
    lookup.add_argument("--host", required=True)
    lookup.add_argument("--limit", type=int, default=10)
    lookup.set_defaults(func=_lookup)
    from websessions.commands import views

    views.add_parsers(sub)
    # Domain-core commands are added here (sessionize, edgar, ...).
    generate = sub.add_parser("generate", help="realistic simulated traffic: a backfill day, or live at --rate")
    generate.add_argument("--date", help="the UTC day of a backfill (YYYY-MM-DD)")
    generate.add_argument("--events", type=int, help="lines to emit (live: stop after this many)")
    generate.add_argument("--seed", type=int, default=1)
    generate_to = generate.add_mutually_exclusive_group()
    generate_to.add_argument("--out", default="-", help="JSON-lines file ('-': stdout)")
    generate_to.add_argument("--kafka", action="store_true", help="publish to Kafka (invalid lines dead-lettered)")
    generate.add_argument("--rate", type=float, help="live traffic at R events/s, stamped now")
    generate.add_argument("--apps", type=int, default=1, help="independent simulated applications, interleaved")
    generate.add_argument("--hosts", help="comma-separated hosts (default: the five sites)")
    generate.add_argument("--format", choices=["jsonl", "combined"], default="jsonl", help="combined: an access log")
    for fault in ("late", "duplicate", "malformed"):
        generate.add_argument(f"--{fault}-share", type=float, help=f"share of {fault} events (0 for none)")
    generate.add_argument("--incident", choices=["error-burst", "drop", "silence"], help="inject an incident")
    generate.add_argument("--host", help="the incident's host")
    generate.add_argument("--at", help="the incident's start, UTC: 2026-12-07T14:30 or 14:30 (on --date, or today)")
    generate.add_argument("--duration", type=float, default=10.0, help="the incident's length in minutes")
    generate.set_defaults(func=_generate)
    sessionize = sub.add_parser("sessionize", help="sessions of a JSON-lines event file (the reference sessionizer)")
    sessionize.add_argument("file")
    sessionize.add_argument("--format", choices=["jsonl", "table"], default="jsonl")
    sessionize.add_argument("--batch", action="store_true", help="sort the whole file by time (no lateness)")
    sessionize.set_defaults(func=_sessionize)
    edgar = sub.add_parser("edgar", help="the EDGAR challenge's sessionization, byte for byte")
    edgar.add_argument("--log", required=True, help="log.csv")
    edgar.add_argument("--inactivity", required=True, help="inactivity_period.txt")
    edgar.add_argument("--out", required=True, help="sessionization.txt")
    edgar.set_defaults(func=_edgar)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from websessions.ingest import IngestError
    from websessions.stack.service import StackError

    try:
        return args.func(args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except IngestError as exc:  # Kafka failed under `generate --kafka`, `demo`...: one line, no traceback
        print(f"error: {exc.summary()}", file=sys.stderr)
        return 4
    except ConnectionError as exc:  # a client of websessions.clients: names the service and the fix
        print(f"error: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
