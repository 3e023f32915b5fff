"""Collector benchmark: the previous server (threads, ``http.server``) and the uvicorn one, side by side.

Each server runs as its own process on a private pair of topics of the local Kafka (``websessions
stack up kafka`` first), answering only once Kafka acknowledged every event. The previous server is
loaded from git history at run time (``git show d895cf9:websessions/collector.py`` into a temporary
module; no copy is kept in the repository). For each server: requests/s with one event per POST
and events/s with 100 events per POST (NDJSON), p50/p99 latency, the server's peak RSS and CPU,
with 32 keep-alive clients plus 200 idle sockets held open (reopened when a server closes them).

The load comes from ``--load-processes`` processes of asyncio clients on uvloop (one request in
flight per connection, no pipelining); their CPU is printed too, to show they are not the limit.

    .venv/bin/python bench/bench_collector.py --duration 15
    .venv/bin/python bench/bench_collector.py --servers new --workers 2 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import requests
from bench_ingest import make_lines  # this directory is on sys.path when run as a script
from confluent_kafka.admin import NewTopic

from websessions.clients import kafka
from websessions.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
OLD_COMMIT = "d895cf9"
CLIENTS = 32
IDLE_SOCKETS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def requests_for(events_per_request: int, count: int = 64) -> list[bytes]:
    """``count`` distinct raw HTTP/1.1 POSTs of ``events_per_request`` events each."""
    lines = make_lines(count * events_per_request)  # realistically sized events (~350 bytes)
    out = []
    for r in range(count):
        events = lines[r * events_per_request : (r + 1) * events_per_request]
        media = b"application/json" if events_per_request == 1 else b"application/x-ndjson"
        body = "\n".join(events).encode()
        head = b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        out.append(head % (media, len(body)) + body)
    return out


# --- the load generator: one process, ``connections`` keep-alive clients ---------------------------


async def _client(port: int, reqs: list[bytes], warm_until: float, end: float, out: dict) -> None:
    """One keep-alive connection, one request in flight; a dropped connection is counted and reopened."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = hash(asyncio.current_task()) % len(reqs)
    latencies, statuses = out["latencies"], out["statuses"]
    while True:
        t0 = time.perf_counter()
        if t0 >= end:
            break
        writer.write(reqs[i % len(reqs)])
        i += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            at = lowered.find(b"content-length:")
            length = int(lowered[at + 15 : lowered.find(b"\r\n", at)]) if at >= 0 else 0
            if length:
                await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError):
            out["dropped"] += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        t1 = time.perf_counter()
        if t0 >= warm_until:
            status = int(head[9:12])
            latencies.append(t1 - t0)
            statuses[status] = statuses.get(status, 0) + 1
        if b"connection: close" in lowered:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def _load_process(port: int, reqs: list[bytes], connections: int, warm_s: float, duration_s: float, queue) -> None:
    import uvloop

    out: dict = {"latencies": [], "statuses": {}, "dropped": 0}
    cpu0 = time.process_time()

    async def main() -> None:
        start = time.perf_counter()
        warm_until, end = start + warm_s, start + warm_s + duration_s
        await asyncio.gather(*(_client(port, reqs, warm_until, end, out) for _ in range(connections)))

    uvloop.run(main())
    out["cpu_s"] = time.process_time() - cpu0
    queue.put(out)


def generate_load(port: int, reqs: list[bytes], processes: int, warm_s: float, duration_s: float) -> dict:
    queue = multiprocessing.get_context("fork").Queue()
    share = [CLIENTS // processes + (1 if p < CLIENTS % processes else 0) for p in range(processes)]
    procs = [
        multiprocessing.get_context("fork").Process(
            target=_load_process, args=(port, reqs, n, warm_s, duration_s, queue), daemon=True
        )
        for n in share
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=warm_s + duration_s + 60) for _ in procs]
    for proc in procs:
        proc.join(10)
    latencies = sorted(x for r in results for x in r["latencies"])
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "latencies": latencies,
        "statuses": statuses,
        "dropped": sum(r["dropped"] for r in results),
        "load_cpu_s": sum(r["cpu_s"] for r in results),
    }


# --- 200 idle sockets, reopened whenever the server closes one ----------------------------------------


class IdleSockets(threading.Thread):
    def __init__(self, port: int, count: int):
        super().__init__(daemon=True)
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.reopened = 0
        self.socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]

    def run(self) -> None:
        import selectors

        selector = selectors.DefaultSelector()
        for sock in self.socks:
            selector.register(sock, selectors.EVENT_READ)
        while not self.stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                selector.unregister(key.fileobj)
                key.fileobj.close()
                try:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                except OSError:
                    continue
                selector.register(sock, selectors.EVENT_READ)
                self.reopened += 1
        for key in list(selector.get_map().values()):
            key.fileobj.close()


# --- the servers ------------------------------------------------------------------------------------


def old_collector_module(tmp: Path) -> Path:
    """The previous collector, from git history, as a module file in ``tmp``."""
    source = subprocess.run(
        ["git", "show", f"{OLD_COMMIT}:websessions/collector.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    path = tmp / "old_collector.py"
    path.write_text(source)
    return path


def start_server(kind: str, settings: Settings, tmp: Path, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **settings.as_env(), **env_extra}
    if kind == "old":
        code = (
            f"import sys; sys.path.insert(0, {str(tmp)!r}); import old_collector;"
            " from websessions.settings import load_settings;"
            f" old_collector.serve(load_settings(), port={settings.collector_port})"
        )
        argv = [sys.executable, "-c", code]
    else:
        argv = [sys.executable, "-m", "websessions.cli", "collect", "--port", str(settings.collector_port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{settings.collector_port}/health", timeout=2).status_code == 200:
                return proc
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"the {kind} collector did not start")
        time.sleep(0.2)


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def measure(kind: str, settings: Settings, tmp: Path, events_per_request: int, args, env_extra) -> dict:
    proc = start_server(kind, settings, tmp, env_extra)
    try:
        idle = IdleSockets(settings.collector_port, IDLE_SOCKETS)
        idle.start()
        peak_rss = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_rss
            while not stop.is_set():
                peak_rss = max(peak_rss, sum(p.memory_info().rss for p in _tree(proc.pid)))
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        reqs = requests_for(events_per_request)
        cpu0 = sum(sum(p.cpu_times()[:2]) for p in _tree(proc.pid))
        t0 = time.monotonic()
        load = generate_load(settings.collector_port, reqs, args.load_processes, args.warmup, args.duration)
        wall = time.monotonic() - t0
        cpu = sum(sum(p.cpu_times()[:2]) for p in _tree(proc.pid)) - cpu0
        stop.set()
        idle.stop.set()
        idle.join(5)
    finally:
        proc.terminate()
        proc.wait(30)
    lat = load["latencies"]
    ok = sum(n for status, n in load["statuses"].items() if 200 <= status < 300)
    return {
        "server": kind,
        "events_per_request": events_per_request,
        "requests_s": ok / args.duration,
        "events_s": ok * events_per_request / args.duration,
        "p50_ms": lat[len(lat) // 2] * 1000 if lat else float("nan"),
        "p99_ms": lat[int(len(lat) * 0.99)] * 1000 if lat else float("nan"),
        "statuses": load["statuses"],
        "dropped": load["dropped"],
        "rss_mb": peak_rss / 2**20,
        "server_cpu": cpu / wall,
        "load_cpu": load["load_cpu_s"] / wall,
        "idle_reopened": idle.reopened,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--servers", default="old,new")
    parser.add_argument("--batches", default="1,100", help="events per request, comma-separated")
    parser.add_argument("--workers", type=int, default=1, help="new server: worker processes (SO_REUSEPORT)")
    parser.add_argument("--linger-ms", type=int, default=None, help="new server: librdkafka linger.ms")
    parser.add_argument("--load-processes", type=int, default=2)
    args = parser.parse_args()

    base = load_settings()
    uid = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        base, kafka_topic_events=f"bench_collector_{uid}", kafka_topic_dlq=f"bench_collector_dlq_{uid}"
    )
    admin = kafka.admin(settings)
    topics = [settings.kafka_topic_events, settings.kafka_topic_dlq]
    for future in admin.create_topics([NewTopic(t, settings.kafka_partitions, 1) for t in topics]).values():
        future.result()
    env_extra = {"WEBSESSIONS_COLLECTOR_WORKERS": str(args.workers)}
    if args.linger_ms is not None:
        env_extra["WEBSESSIONS_COLLECTOR_LINGER_MS"] = str(args.linger_ms)
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            old_collector_module(Path(tmp))
            for batch in (int(b) for b in args.batches.split(",")):
                for kind in args.servers.split(","):
                    settings = dataclasses.replace(settings, collector_port=_free_port())
                    row = measure(kind, settings, Path(tmp), batch, args, env_extra if kind == "new" else {})
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        for future in admin.delete_topics(topics).values():
            future.result()
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print()
    print("| server | events/request | requests/s | events/s | p50 ms | p99 ms | peak RSS MB | server CPU | load CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['server']} | {r['events_per_request']} | {r['requests_s']:,.0f} | {r['events_s']:,.0f}"
            f" | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['rss_mb']:.0f} | {r['server_cpu']:.2f}"
            f" | {r['load_cpu']:.2f} |"
        )


if __name__ == "__main__":
    main()
