"""`websessions stack up | down | status | logs`: the local services, started in dependency order.

``up`` is idempotent: a service whose processes run and answer is left alone. A failed ``up``
stops what that call started, so it leaves no orphan processes, and raises a one-line
:class:`StackError` naming the service, the cause and the log file.
"""

from __future__ import annotations

import logging
import shutil
import time

from rich.console import Console
from rich.table import Table

from websessions.platform.artifacts import ArtifactError
from websessions.settings import Settings
from websessions.stack.process import ManagedProcess
from websessions.stack.registry import ALL_ORDER, CLUSTER_ORDER, build_service, build_services, default_order
from websessions.stack.service import Service, StackError, port_open, summarize_output, wait_until
from websessions.stack.supervisor import job_states

log = logging.getLogger(__name__)
console = Console(stderr=True)


def _managed(settings: Settings, service: Service) -> list[ManagedProcess]:
    return [
        ManagedProcess(name, settings.run_dir, settings.logs_dir, service.stop_signal, service.stop_timeout_s)
        for name in service.process_names
    ]


def _with_dependencies(settings: Settings, only: list[str] | None) -> list[str]:
    if not only:
        return list(default_order(settings))
    unknown = [name for name in only if name not in ALL_ORDER]
    if unknown:
        raise StackError(unknown[0], f"unknown service; known: {', '.join(ALL_ORDER)}")
    wanted: set[str] = set()
    pending = list(only)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(build_service(settings, name).depends_on)
    return [name for name in ALL_ORDER if name in wanted]


def up(settings: Settings, only: list[str] | None = None) -> list[ManagedProcess]:
    """Start the services (all, or ``only`` and their dependencies) and wait until each answers.

    Returns the processes this call started (empty when everything was already up).
    """
    names = _with_dependencies(settings, only)
    services = build_services(settings, names)
    for path in (settings.logs_dir, settings.run_dir, settings.data_dir, settings.conf_dir):
        path.mkdir(parents=True, exist_ok=True)
    started: list[ManagedProcess] = []
    begin = time.monotonic()
    try:
        for name in names:
            _start_service(settings, services[name], started)
    except BaseException:
        for proc in reversed(started):
            proc.stop()
        raise
    took = time.monotonic() - begin
    console.print(f"[green]stack up[/green]: {len(names)} services healthy in {took:.1f}s")
    return started


def _start_service(settings: Settings, service: Service, started: list[ManagedProcess]) -> None:
    procs = _managed(settings, service)
    running = [p for p in procs if p.pid() is not None]
    if len(running) == len(procs) and _healthy(service):
        # The idempotent set-up still runs, so a running stack gets what a newer checkout adds
        # (topics, directories, serving-schema migrations).
        service.after_start()
        console.print(f"  {service.name}: already up")
        return
    t0 = time.monotonic()
    try:
        _start_processes(settings, service, procs, started)
    except (StackError, ArtifactError) as exc:
        if isinstance(exc, StackError) and exc.service == service.name:
            raise
        cause = exc.cause if isinstance(exc, StackError) else str(exc)
        raise StackError(service.name, cause, procs[0].log_file if procs else None) from exc
    console.print(f"  {service.name}: up in {time.monotonic() - t0:.1f}s")


def _start_processes(
    settings: Settings, service: Service, procs: list[ManagedProcess], started: list[ManagedProcess]
) -> None:
    log_file = procs[0].log_file if procs else None
    if not any(proc.pid() for proc in procs):
        for port in service.ports():
            if port_open(settings.bind_host, port, timeout=0.3):
                raise StackError(service.name, f"port {port} is already taken by another process", log_file)
    with console.status(f"{service.name}: preparing"):
        service.prepare()
    specs = service.processes()
    if [spec.name for spec in specs] != [proc.name for proc in procs]:
        raise StackError(service.name, "processes() does not match process_names (a bug in the service)")
    for proc, spec in zip(procs, specs, strict=True):
        if proc.pid() is not None:
            continue
        with console.status(f"{service.name}: starting {spec.name}"):
            try:
                proc.start(spec)
            except FileNotFoundError as exc:
                raise StackError(service.name, f"cannot run {exc.filename}: not installed?", None) from exc
        started.append(proc)
    with console.status(f"{service.name}: waiting until it answers"):
        ok = wait_until(lambda: _healthy_or_dead(service, procs), service.start_timeout_s, 1.0)
        ok = ok and _all_alive(procs)
    if not ok:
        dead = [p for p in procs if p.pid() is None]
        if dead:
            cause = summarize_output(dead[0].log_tail(80))
            raise StackError(service.name, f"{dead[0].name} died during start: {cause}", dead[0].log_file)
        raise StackError(service.name, f"did not answer within {service.start_timeout_s:.0f}s", log_file)
    with console.status(f"{service.name}: setting up"):
        service.after_start()


def _healthy_or_dead(service: Service, procs: list[ManagedProcess]) -> bool:
    """Stop waiting once the service answers, or as soon as one of its processes has died."""
    return not _all_alive(procs) or _healthy(service)


def _all_alive(procs: list[ManagedProcess]) -> bool:
    return all(p.pid() is not None for p in procs)


def _healthy(service: Service) -> bool:
    try:
        return service.healthy()
    except Exception:  # noqa: BLE001 - any probe failure means unhealthy
        return False


def down(settings: Settings, wipe: bool = False) -> None:
    """Stop every process the stack started (by pid), the clusters' too, in reverse order; ``wipe`` removes all data."""
    services = build_services(settings, ALL_ORDER)
    for name in reversed(ALL_ORDER):
        for proc in reversed(_managed(settings, services[name])):
            if proc.stop():
                console.print(f"  stopped {proc.name}")
    if wipe:
        for path in (settings.data_dir, settings.logs_dir, settings.run_dir, settings.conf_dir):
            shutil.rmtree(path, ignore_errors=True)
        console.print(f"wiped {settings.stack_dir}")


def status_rows(settings: Settings) -> list[dict]:
    """One row per service: name, ports, pids, healthy, detail (the clusters' in cluster mode or while they run)."""
    rows = []
    for name, service in build_services(settings, ALL_ORDER).items():
        pids = [p.pid() for p in _managed(settings, service)]
        if name in CLUSTER_ORDER and not settings.stack_cluster and not any(pids):
            continue
        running = all(pid is not None for pid in pids)
        rows.append(
            {
                "service": name,
                "ports": service.ports(),
                "pids": pids,
                "healthy": running and _healthy(service),
                "detail": service.describe(),
            }
        )
    return rows


def print_status(settings: Settings) -> bool:
    """Print the status table; True if every service is healthy."""
    table = Table(title="websessions stack")
    for column in ("service", "port", "pid", "healthy", "detail"):
        table.add_column(column)
    rows = status_rows(settings)
    for row in rows:
        table.add_row(
            row["service"],
            ",".join(map(str, row["ports"])),
            ",".join("-" if pid is None else str(pid) for pid in row["pids"]),
            "[green]yes[/green]" if row["healthy"] else "[red]no[/red]",
            row["detail"],
        )
    Console().print(table)
    print_jobs(settings)
    print_dashboard(settings)
    return all(row["healthy"] for row in rows)


def print_dashboard(settings: Settings) -> None:
    """Where the dashboard is, whether it answers, and its password (asked beyond 127.0.0.1)."""
    from websessions.dashboard import server

    state = "answers" if server.healthy(settings, timeout_s=1.0) else "not running (websessions dashboard)"
    Console().print(
        f"dashboard {server.url(settings)}: {state}; password {settings.dashboard_password}"
        " (asked when bound beyond 127.0.0.1)"
    )


def print_jobs(settings: Settings) -> None:
    """The supervised product jobs (lander, speed layer, collector): what runs, restarts, the last cause."""
    states = job_states(settings.run_dir)
    if not states:
        return
    table = Table(title="supervised jobs")
    for column in ("job", "supervisor pid", "child pid", "state", "restarts", "last cause"):
        table.add_column(column)
    for state in states:
        alive = state.supervisor_alive
        shown = state.state if alive else ("stopped" if state.state == "stopped" else "supervisor gone")
        colour = {"running": "green", "crash-loop": "red", "backing-off": "yellow"}.get(shown)
        cause = state.last_cause or "-"
        if state.last_error:
            cause += f" ({state.last_error})"
        table.add_row(
            state.name,
            str(state.supervisor_pid) if alive else "-",
            str(state.live_child_pid() or "-"),
            f"[{colour}]{shown}[/{colour}]" if colour else shown,
            str(state.restarts),
            cause,
        )
    Console().print(table)


def print_logs(settings: Settings, service_name: str, lines: int = 60) -> None:
    services = build_services(settings, ALL_ORDER)
    if service_name not in services:
        raise StackError(service_name, f"unknown service; known: {', '.join(ALL_ORDER)}")
    for proc in _managed(settings, services[service_name]):
        print(f"==> {proc.log_file} <==")
        print(proc.log_tail(lines))
