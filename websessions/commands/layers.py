"""The pipeline's layers: ``land`` (Kafka -> HDFS, supervised), ``audit``, ``speed`` (the PyFlink speed layer,
supervised), ``batch`` (Spark, day D) and ``reconcile`` (speed vs batch)."""

from __future__ import annotations

import argparse
import sys
import time

from websessions.commands import exit_codes
from websessions.commands.jobs import Job, JobStatus, add_job_parser, stop_event
from websessions.settings import Settings, get_settings


def counters_text(counters: dict[str, int]) -> str:
    """A read model's counters as ``name value, ...``."""
    return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counters.items()) or "no counters"


def _land(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from websessions.lander import RawLander, lander_stats_path
    from websessions.lander_lease import Fenced, LeaseHeld

    stop = stop_event()
    lander = RawLander(settings, batch_max=args.batch_max)
    try:
        stats = lander.run(stop, idle_exit_s=args.idle_exit, stats_path=lander_stats_path(settings))
    except (LeaseHeld, Fenced) as exc:
        print(f"error: lander: {exc}", file=sys.stderr)
        return exit_codes.FAILED
    print(json.dumps(stats.__dict__))
    return exit_codes.OK


def _lander_status(settings: Settings) -> JobStatus:
    from websessions.pipeline_state import lander_state

    state = lander_state(settings)
    if state.updated_at is None:
        return JobStatus(details=[f"never reported here; last complete day {state.last_complete_day or 'none'}"])
    lag = "" if state.lag is None else f"; {state.lag} events not landed yet"
    return JobStatus(
        details=[
            f"last report {time.time() - state.updated_at:.0f}s ago: {counters_text(state.counters)}{lag};"
            f" last complete day {state.last_complete_day or 'none'}"
        ]
    )


LANDER = Job("lander", "lander", _land, _lander_status, run_args=lambda args: ["--batch-max", str(args.batch_max)])


def _speed(settings: Settings, args: argparse.Namespace) -> int:
    from streaming.runner import run_speed_layer

    stats = run_speed_layer(settings, stop_event())
    print(f"speed layer stopped: {stats}")
    return exit_codes.OK


def _speed_status(settings: Settings) -> JobStatus:
    from websessions.live_view import speed_state

    state = speed_state(settings)
    if state.updated_at is None:
        return JobStatus(details=[state.describe()])
    return JobStatus(
        f"; job {state.job_id or '-'} {state.job_status}", [state.describe(), counters_text(state.counters)]
    )


SPEED = Job("speed", "speed layer", _speed, _speed_status, stop_timeout_s=90.0)


def _audit(args: argparse.Namespace) -> int:
    from websessions.audit import audit_day

    report = audit_day(get_settings(), args.date)
    print(report.summary())
    return exit_codes.OK if report.balanced else exit_codes.FAILED


def _batch(args: argparse.Namespace) -> int:
    from datetime import date

    from rich.console import Console

    from batch.sessions_job import DayNotComplete, run_day

    try:
        dt = date.fromisoformat(args.date).isoformat()
    except ValueError:
        print(f"error: --date {args.date!r} is not a day like 2026-11-20", file=sys.stderr)
        return exit_codes.USAGE
    console = Console(stderr=True)
    try:
        with console.status(f"batch {dt}: starting") as status:

            def progress(message: str) -> None:
                console.log(message)
                status.update(f"batch {dt}: {message}")

            result = run_day(get_settings(), dt, force=args.force, progress=progress)
    except DayNotComplete as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    print(result.summary())
    return exit_codes.OK


def _reconcile(args: argparse.Namespace) -> int:
    """One comparison of the day: printed per host, then judged against the threshold (exit 1 over it)."""
    from websessions.reconcile import check, reconcile_day

    settings = get_settings()
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
        return exit_codes.FAILED
    return exit_codes.OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``land``, ``audit``, ``speed``, ``batch`` and ``reconcile``."""
    land = add_job_parser(sub, "land", LANDER, "the raw lander (Kafka -> HDFS, exactly once)")
    land.add_argument("--idle-exit", type=float, default=None, help="run: stop after this many idle seconds")
    land.add_argument("--batch-max", type=int, default=100_000, help="most events landed per batch")
    audit = sub.add_parser("audit", help="every input event of a day accounted for (exit 1: unbalanced)")
    audit.add_argument("--date", required=True)
    audit.set_defaults(func=_audit)

    add_job_parser(sub, "speed", SPEED, "the PyFlink speed layer (Kafka -> sessions in HBase)")
    batch = sub.add_parser("batch", help="recompute day D with Spark: sessions, stats, history into Hive and Postgres")
    batch.add_argument("--date", required=True, help="the UTC day (YYYY-MM-DD)")
    batch.add_argument("--force", action="store_true", help="run even if the lander has not marked the day complete")
    batch.set_defaults(func=_batch)
    reconcile = sub.add_parser("reconcile", help="speed vs batch for a day, stored in Postgres (exit 1: too different)")
    reconcile.add_argument("--date", required=True)
    reconcile.set_defaults(func=_reconcile)
