"""The speed layer's HBase write path alone: update rows -> the writer -> Thrift -> HBase.

No Kafka and no Flink: ``--updates`` open-session update rows, as the job emits them (JSON), are
applied by :class:`streaming.hbase_sink.SpeedSink` and flushed in batches of ``--batch`` into private
tables (removed afterwards). Reports updates per second and the CPU each part spends per update: the
writer (this process) and the HBase JVMs (master + region server, Thrift server), read from ``/proc``.
What this path costs bounds the events per second the live view can follow, since a live user's events
are further apart than the emission interval: about one update per event.

    .venv/bin/python bench/bench_hbase_writer.py --updates 200000
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streaming.hbase_sink import SpeedSink  # noqa: E402
from websessions.events import format_time_ms  # noqa: E402
from websessions.settings import load_settings  # noqa: E402
from websessions.stores.hbase_sessions import HBaseSessions  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its direct children (a service may be a wrapper around its JVM)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return total


def update_row(i: int, t0: int) -> bytes:
    start = t0 + i * 7
    return orjson.dumps(
        {
            "ukey": f"session|www.dataexpert.io|10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}|{format_time_ms(start)}",
            "kind": "open", "host": "www.dataexpert.io", "ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
            "t_start": format_time_ms(start), "t_end": format_time_ms(start + 42_000), "events": 5, "pages": 4,
            "errors": 0, "first_url": "/courses/data-engineering/lesson-3", "last_url": "/pricing",
            "referrer": "https://www.google.com/", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0",
            "geo": '{"country":"US","region":"CA","city":"San Francisco"}',
        }
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000, help="updates per flush (the writer's 0.2 s round)")
    args = parser.parse_args()
    uid = uuid.uuid4().hex[:6]
    settings = dataclasses.replace(
        load_settings(), hbase_table_sessions=f"bench_writer_{uid}", hbase_table_live_metrics=f"bench_writer_m_{uid}"
    )
    pids = {
        name: int((settings.run_dir / f"{name}.pid").read_text().split()[0])
        for name in ("hbase-master", "hbase-thrift")
    }
    rows = [update_row(i, int(time.time() * 1000) - 3_600_000) for i in range(args.updates)]
    sink = SpeedSink(settings)
    with HBaseSessions(settings) as store:
        store.ensure_table()
        try:
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            cpu0, wall0 = time.process_time(), time.monotonic()
            for offset in range(0, len(rows), args.batch):
                for message in rows[offset : offset + args.batch]:
                    sink.apply(message)
                sink.flush(store)
            wall = time.monotonic() - wall0
            writer_cpu = time.process_time() - cpu0
            servers = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        finally:
            store.drop_tables()
    n = args.updates
    print("| updates | seconds | updates/s | writer CPU µs/update | HBase µs/update | Thrift µs/update |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {n:,} | {wall:.1f} | {n / wall:,.0f} | {writer_cpu / n * 1e6:.0f} | "
        f"{servers['hbase-master'] / n * 1e6:.0f} | {servers['hbase-thrift'] / n * 1e6:.0f} |"
    )


if __name__ == "__main__":
    main()
