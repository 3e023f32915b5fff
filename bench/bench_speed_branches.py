"""Where the speed job's time goes: its result branches on a file source into a discarding sink.

No Kafka, HBase or checkpoints: the seeded workload of ``bench_speed.py`` is written once to
``bench/out/speed_events_<N>.jsonl`` (git-ignored), then the chosen branches of
:func:`streaming.sessions_job.speed_updates` (``source`` = decoding and classification only,
``session`` = the operator's session rows, ``metric`` = its minute rows summed per host, joined by
``+``) run on the local Flink into a ``blackhole`` sink; the time includes the job's start. The
operator runs in ``metric`` too (it is what produces the minutes), its session rows then unused.

The DataStream path of ``websessions speed start`` (``SpeedStream``, :func:`streaming.sessions_job.stream_updates`):
``stream-read`` (the file source and the Jackson decoder), ``stream-decode`` (and the classifier) and ``stream``
(the whole job: sessions and metrics as update rows; the file has no partitions, so no counters or late rows,
as ``session+metric``), into Flink's discarding sink.

    .venv/bin/python bench/bench_speed_branches.py --events 1000000 source session metric session+metric
    .venv/bin/python bench/bench_speed_branches.py --events 1000000 stream-read stream-decode stream session+metric
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_speed import workload  # noqa: E402

from streaming import sessions_job  # noqa: E402
from websessions.sessions import SessionRule  # noqa: E402
from websessions.settings import load_settings  # noqa: E402


def events_file(n: int) -> Path:
    path = ROOT / "bench" / "out" / f"speed_events_{n}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            for _, value in workload(n, int(time.time() * 1000)):
                out.write(value + b"\n")
    return path


def run_stream(variant: str, path: Path) -> float:
    from pyflink.java_gateway import get_gateway

    from websessions.platform.artifacts import classpath

    settings = load_settings(create_secrets=False)
    rule = SessionRule.from_settings(settings)
    t_env = sessions_job.stream_table_environment()
    jars = [*classpath(settings, "flink-connectors"), sessions_job.operator_jar(settings)]
    sessions_job.configure(t_env, settings, jars=jars, checkpoint_dir=None)
    events = sessions_job.file_events(t_env, path, rule)
    caps = sessions_job.StateCaps.from_settings(settings)
    stream = sessions_job.get_java_class(sessions_job.STREAM_CLASS)
    if variant == "stream-read":
        result = events
    elif variant == "stream-decode":
        classifier = sessions_job.get_java_class("websessions.speed.EventClassifier")(settings.speed_emit_interval_ms)
        result = events.transform("classify", stream.INPUT_TYPE_INFO, classifier)
    else:
        result = stream.updates(
            events, rule.timeout_ms, settings.speed_emit_interval_ms, caps.max_ids_per_session,
            caps.max_urls_per_session, sessions_job.METRIC_STATE_S * 1000, False, "",
        )  # fmt: skip
    sink = get_gateway().jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink()
    started = time.monotonic()
    sessions_job.execute_stream(t_env, result, sink, f"bench {variant}").get_job_execution_result().result()
    return time.monotonic() - started


def run(variant: str, path: Path) -> float:
    if variant.startswith("stream"):
        return run_stream(variant, path)
    settings = load_settings(create_secrets=False)
    rule = SessionRule.from_settings(settings)
    t_env = sessions_job.stream_table_environment()
    sessions_job.configure(t_env, settings, jars=[sessions_job.operator_jar(settings)], checkpoint_dir=None)
    raw = sessions_job.file_source(t_env, path, rule)
    events = sessions_job.accepted(sessions_job.shared(sessions_job.classify(raw)))
    wanted = variant.split("+")
    operator = (
        sessions_job.sessionize(events, rule, settings.speed_emit_interval_ms)
        if {"session", "metric"} & set(wanted)
        else None
    )
    branches = {
        "source": lambda: sessions_job._sql(events, f"SELECT 0 AS part, 0 AS offset_min, host FROM {events}"),
        "session": lambda: operator[0],
        "metric": lambda: sessions_job.live_metrics(operator[1]),
    }
    results = {name: branches[name]() for name in wanted}
    if "source" in results:  # not a result of the job: shaped as one for the sink
        results["late"] = results.pop("source")
    updates = sessions_job.as_updates(**results)
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in sessions_job.UPDATE_COLUMNS)
    t_env.execute_sql(f"CREATE TEMPORARY TABLE discard ({columns}) WITH ('connector' = 'blackhole')")
    started = time.monotonic()
    updates.execute_insert("discard").wait()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)  # a child measuring one variant
    parser.add_argument("variants", nargs="+", help="e.g. session, partial, session+partial+metric")
    args = parser.parse_args()
    if args.input:
        print(run(args.variants[0], args.input))
        return
    path = events_file(args.events)
    print("| branches | events | seconds | events/s |\n| --- | ---: | ---: | ---: |")
    for variant in args.variants:  # one process per variant: each a fresh JVM
        child = [sys.executable, __file__, "--input", str(path), variant]
        seconds = float(subprocess.run(child, capture_output=True, text=True, check=True).stdout.split()[-1])
        print(f"| {variant} | {args.events:,} | {seconds:.1f} | {args.events / seconds:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
