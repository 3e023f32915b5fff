"""The long-running jobs (lander, speed layer, collector, alerts, dashboard) as one command shape.

``websessions <command> run`` runs the job in the foreground until SIGTERM or Ctrl-C; ``start`` runs that
same ``run`` detached under the supervisor (:class:`websessions.background.BackgroundJob`), which restarts
it if it dies; ``stop`` stops both; ``status`` says whether it runs (exit 3 if not) with the job's own
state from its read model.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from websessions.commands import exit_codes
from websessions.settings import Settings, get_settings

JOB_ACTIONS = ("start", "stop", "status", "run")
ACTIONS_HELP = (
    "start: run it in the background under the supervisor (restarted if it dies); stop: stop it;"
    " status: whether it runs and its last progress (exit 3 if not running);"
    " run: in the foreground until Ctrl-C or SIGTERM (what start supervises)"
)


@dataclass(frozen=True)
class JobStatus:
    """What ``status`` prints about a job besides running or not: ``suffix`` on the first line, ``details``
    below the supervisor's line; ``answers`` False makes a running job's status exit 3 (it does not serve)."""

    suffix: str = ""
    details: Sequence[str] = ()
    answers: bool = True


@dataclass(frozen=True)
class Job:
    """A supervised job: ``name`` of its pid file and log, ``label`` in messages, ``run`` its foreground
    body (returns the exit code), ``run_args`` the options ``start`` hands to ``run``."""

    name: str
    label: str
    run: Callable[[Settings, argparse.Namespace], int]
    status: Callable[[Settings], JobStatus] = lambda _settings: JobStatus()
    run_args: Callable[[argparse.Namespace], list[str]] = lambda _args: []
    after_start: Callable[[Settings, argparse.Namespace], int] | None = None
    stop_timeout_s: float = 60.0


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the foreground jobs stop cleanly on either."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def add_job_parser(
    sub: argparse._SubParsersAction,
    command: str,
    job: Job,
    help: str,
    default: str | None = None,
    other: Callable[[argparse.Namespace], int] | None = None,
    other_actions: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """Add ``command`` with the job actions (and ``other_actions``, handled by ``other``) as its first argument."""
    parser = sub.add_parser(command, help=help, description=help)
    parser.add_argument(
        "action",
        nargs="?" if default else None,
        default=default,
        choices=[*other_actions, *JOB_ACTIONS],
        help=ACTIONS_HELP + (f" (default: {default})" if default else ""),
    )

    def dispatch(args: argparse.Namespace) -> int:
        if args.action in JOB_ACTIONS:
            return job_action(job, command, args)
        assert other is not None
        return other(args)

    parser.set_defaults(func=dispatch)
    return parser


def job_action(job: Job, command: str, args: argparse.Namespace) -> int:
    """Carry out ``args.action`` for ``job``."""
    from websessions.background import BackgroundJob

    settings = get_settings()
    if args.action == "run":
        return job.run(settings, args)
    background = BackgroundJob(settings, job.name, [command, "run", *job.run_args(args)], job.stop_timeout_s)
    if args.action == "start":
        pid, started = background.start()
        log = background.process.log_file
        print(f"{job.label} {'started' if started else 'already running'} (pid {pid}, log {log})")
        return job.after_start(settings, args) if job.after_start else exit_codes.OK
    if args.action == "stop":
        print(f"{job.label} stopped" if background.stop() else f"{job.label} was not running")
        return exit_codes.OK
    pid = background.pid()
    state = job.status(settings)
    print(f"{job.label} {f'running (pid {pid})' if pid else 'stopped'}{state.suffix}")
    print(f"  {background.status_line()}")
    for line in state.details:
        print(f"  {line}")
    return exit_codes.OK if pid and state.answers else exit_codes.NOT_RUNNING
