"""What the live top lists cost the speed job: its throughput with them off and on, in one run.

The job's own path, without Kafka, HBase or checkpoints (they cost the same with or without the lists, so
they would only dilute the difference): the seeded workload of ``bench_speed.py`` in a JSON-lines file
(``bench/out/speed_events_<N>.jsonl``, git-ignored) through the whole job into a discarding sink, once with
``settings.speed_top_lists`` off and once on, alternating for ``--rounds`` rounds; each run is a process of
its own (a fresh JVM); its wall-clock time and the CPU time of its processes (the job's JVM included) count
from the job's submission to its end. On a machine shared with other work, CPU per event is the steadier
measure: the wall clock follows the load. ``--path stream`` is the job of ``websessions
speed start`` (the DataStream path, :func:`streaming.sessions_job.stream_updates`), ``--path sql`` the SQL
path (:func:`streaming.sessions_job.speed_updates`).

    .venv/bin/python bench/bench_speed_top_lists.py --events 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_speed_branches import events_file  # noqa: E402

from streaming import sessions_job  # noqa: E402
from websessions.sessions import SessionRule  # noqa: E402
from websessions.settings import load_settings  # noqa: E402

MAX_COST = 0.15  # the top lists may cost at most this share of the throughput (issue 17)


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its children so far: the job's JVM is a child."""
    me = psutil.Process()
    return sum(sum(p.cpu_times()[:2]) for p in [me, *me.children(recursive=True)])


def run(path_kind: str, top: bool, events: Path) -> tuple[float, float]:
    """Seconds and CPU seconds for the job over ``events`` into a discarding sink (the job's start included)."""
    from pyflink.java_gateway import get_gateway

    from websessions.platform.artifacts import classpath

    settings = load_settings(create_secrets=False)
    rule = SessionRule.from_settings(settings)
    top_max = settings.speed_top_max_items_per_minute if top else None
    t_env = sessions_job.stream_table_environment()
    jars = [*classpath(settings, "flink-connectors"), sessions_job.operator_jar(settings)]
    sessions_job.configure(t_env, settings, jars=jars, checkpoint_dir=None)
    if path_kind == "stream":
        stream = sessions_job.file_events(t_env, events, rule)
        caps = sessions_job.StateCaps.from_settings(settings)
        updates = sessions_job.stream_updates(
            stream, rule, settings.speed_emit_interval_ms, caps, kafka_metadata=False, top_max_items=top_max
        )
        sink = get_gateway().jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink()
        started, cpu = time.monotonic(), cpu_seconds()
        sessions_job.execute_stream(t_env, updates, sink, "bench top lists").get_job_execution_result().result()
        return time.monotonic() - started, cpu_seconds() - cpu
    raw = sessions_job.file_source(t_env, events, rule)
    updates = sessions_job.speed_updates(
        raw, rule, settings.speed_emit_interval_ms, kafka_metadata=False, top_max_items=top_max
    )
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in sessions_job.UPDATE_COLUMNS)
    t_env.execute_sql(f"CREATE TEMPORARY TABLE discard ({columns}) WITH ('connector' = 'blackhole')")
    started, cpu = time.monotonic(), cpu_seconds()
    updates.execute_insert("discard").wait()
    return time.monotonic() - started, cpu_seconds() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", choices=["stream", "sql"], default="stream")
    parser.add_argument("--child", choices=["off", "on"], help=argparse.SUPPRESS)  # one measured run
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(*run(args.path, args.child == "on", args.input))
        return 0
    events = events_file(args.events)
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    print("| round | top lists | seconds | events/s | CPU s | CPU µs per event |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for round_ in range(1, args.rounds + 1):
        for variant in ("off", "on"):  # alternating: a change in the machine's load hits both alike
            child = [sys.executable, __file__, "--path", args.path, "--input", str(events), "--child", variant]
            out = subprocess.run(child, capture_output=True, text=True, check=True).stdout
            wall, used = map(float, out.split()[-2:])
            seconds[variant].append(wall)
            cpu[variant].append(used)
            print(f"| {round_} | {variant} | {wall:.1f} | {args.events / wall:,.0f} | {used:.1f} "
                  f"| {used / args.events * 1e6:.1f} |", flush=True)  # fmt: skip
    for name, measured in (("wall clock", seconds), ("CPU", cpu)):
        off, on = (args.events / statistics.median(measured[v]) for v in ("off", "on"))
        cost = 1 - on / off
        verdict = "within" if cost <= MAX_COST else "OVER"
        print(f"median by {name}: off {off:,.0f} events/s, on {on:,.0f} events/s: the top lists cost {cost:.1%} "
              f"({verdict} the {MAX_COST:.0%} budget)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
