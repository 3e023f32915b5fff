"""Data in: ``generate`` (simulated traffic), ``ingest`` (a JSON-lines file or an access log to Kafka) and
``collect`` (the HTTP beacon collector, a supervised job)."""

from __future__ import annotations

import argparse
import sys

from websessions.commands import exit_codes
from websessions.commands.jobs import Job, add_job_parser
from websessions.settings import Settings, get_settings


def _print_result(result) -> None:
    reasons = ", ".join(f"{reason}: {n}" for reason, n in result.reasons.most_common()) or "none"
    print(f"accepted {result.accepted}, dead-lettered {result.dead_lettered} ({reasons})")


def _ingest(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from websessions.ingest import publish_lines

    settings = get_settings()
    if args.format == "combined":
        return _ingest_access_log(args, settings)
    if args.follow or args.host:
        print("error: --follow and --host are for --format combined", file=sys.stderr)
        return exit_codes.USAGE
    try:
        handle = open(args.file, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    with handle, Progress(transient=True) as progress:
        task = progress.add_task(f"publishing {args.file}", total=None)
        result = publish_lines(settings, handle, progress=lambda n: progress.advance(task, n))
    _print_result(result)
    return exit_codes.OK


def _ingest_access_log(args: argparse.Namespace, settings: Settings) -> int:
    """``ingest --format combined FILE [--host H] [--follow]``: an access log, once or followed until stopped."""
    from rich.progress import Progress

    from websessions.commands.jobs import stop_event
    from websessions.log_tail import AlreadyFollowed, LogFollower, ingest_log_file

    if args.follow:
        stop = stop_event()
        follower = LogFollower(settings, args.file, args.host)
        try:
            result = follower.run(stop)
        except AlreadyFollowed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exit_codes.FAILED
        print(f"followed {args.file} through {follower.rotations} rotations (position: {follower.state_file})")
    else:
        with Progress(transient=True) as progress:
            task = progress.add_task(f"publishing {args.file}", total=None)
            result = ingest_log_file(settings, args.file, args.host, progress=lambda n: progress.advance(task, n))
    _print_result(result)
    return exit_codes.OK


def _collect(settings: Settings, args: argparse.Namespace) -> int:
    from websessions.collector import serve

    serve(settings, port=args.port)
    return exit_codes.OK


COLLECTOR = Job(
    "collector", "collector", _collect, run_args=lambda args: ["--port", str(args.port)] if args.port else []
)


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
        return exit_codes.USAGE
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
        return exit_codes.USAGE
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
    return exit_codes.OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``generate``, ``ingest`` and ``collect``."""
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

    ingest = sub.add_parser(
        "ingest", help="publish a JSON-lines file or an access log to Kafka (invalid lines dead-lettered)"
    )
    ingest.add_argument("file")
    ingest.add_argument("--format", choices=["jsonl", "combined"], default="jsonl", help="combined: an access log")
    ingest.add_argument("--host", help="combined: the host of lines without a virtual-host field")
    ingest.add_argument("--follow", action="store_true", help="combined: tail the log across rotation until stopped")
    ingest.set_defaults(func=_ingest)

    collect = add_job_parser(
        sub, "collect", COLLECTOR, "the HTTP beacon collector: in the foreground (run, the default) or supervised",
        default="run",
    )  # fmt: skip
    collect.add_argument("--port", type=int, default=None, help="run: listen here (default: collector_port)")
