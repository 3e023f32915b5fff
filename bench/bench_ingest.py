"""Ingestion benchmark: ingest events/s into Kafka, lander events/s into HDFS, collector requests/s.

Runs against the real local stack (``websessions stack up kafka hdfs`` first), on a private topic
and HDFS directory that it removes afterwards. Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python bench/bench_ingest.py --events 500000 --requests 5000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from confluent_kafka.admin import NewTopic

from websessions.background import BackgroundJob
from websessions.clients import hdfs, kafka
from websessions.ingest import publish_lines
from websessions.lander import RawLander
from websessions.settings import load_settings

HOSTS = ("bootcamp.techcreator.io", "www.dataexpert.io", "zachwilson.techcreator.io", "zachwilson.tech")


def make_lines(n: int, dt: str = "2026-11-20") -> list[str]:
    """Realistically sized events (~350 bytes), spread over the day."""
    lines = []
    for i in range(n):
        user = (i * 7919) % max(n // 12, 1)  # ~12 events per visitor, interleaved over the day
        s = (i * 86_400) // n
        lines.append(
            json.dumps(
                {
                    "event_time": f"{dt}T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{i % 1000:03d}Z",
                    "ip": f"10.{user % 200}.{user // 200 % 250}.{user % 7 + 1}",
                    "host": HOSTS[i % len(HOSTS)],
                    "url": f"/courses/data-engineering/lesson-{i % 30}",
                    "referrer": "https://www.google.com/search?q=data+engineering",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
                    "event_id": f"bench-{i}",
                    "status": 200,
                    "geo": {"country": "US", "region": "CA", "city": "San Francisco"},
                }
            )
        )
    return lines


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    base = load_settings()
    uid = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        base,
        kafka_topic_events=f"bench_events_{uid}",
        kafka_topic_dlq=f"bench_dlq_{uid}",
        raw_events_dir=f"/bench/{uid}/raw/web_events",
        collector_port=_free_port(),
    )
    admin = kafka.admin(settings)
    topics = [NewTopic(t, base.kafka_partitions, 1) for t in (settings.kafka_topic_events, settings.kafka_topic_dlq)]
    for future in admin.create_topics(topics).values():
        future.result()
    results = {}
    try:
        lines = make_lines(args.events)
        t0 = time.perf_counter()
        result = publish_lines(settings, lines)
        took = time.perf_counter() - t0
        assert result.accepted == args.events, result
        results["ingest (validate + produce, acks=all)"] = (args.events, took)

        t0 = time.perf_counter()
        stats = RawLander(settings).run(threading.Event(), idle_exit_s=3.0)
        took = time.perf_counter() - t0 - 3.0
        assert stats.landed == args.events, stats
        results["lander (Kafka -> HDFS, exactly once)"] = (args.events, took)

        job = BackgroundJob(settings, f"bench-collector-{uid}", ["collect"])
        job.start()
        url = f"http://{settings.collector_host}:{settings.collector_port}"
        for _ in range(100):
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        sample = lines[: args.requests]
        local = threading.local()

        def post(line: str) -> int:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            headers = {"Content-Type": "application/json"}
            return local.session.post(f"{url}/events", data=line, headers=headers, timeout=10).status_code

        try:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                statuses = list(pool.map(post, sample))
            took = time.perf_counter() - t0
        finally:
            job.stop()
        assert statuses.count(202) == len(sample), set(statuses)
        results[f"collector (1 event per POST, {args.clients} keep-alive clients)"] = (len(sample), took)
    finally:
        for future in admin.delete_topics([t.topic for t in topics]).values():
            future.result()
        hdfs.webhdfs(settings).delete(f"/bench/{uid}", recursive=True)

    print("| stage | events | seconds | events/s |")
    print("| --- | ---: | ---: | ---: |")
    for stage, (n, took) in results.items():
        print(f"| {stage} | {n:,} | {took:.1f} | {n / took:,.0f} |")


if __name__ == "__main__":
    main()
