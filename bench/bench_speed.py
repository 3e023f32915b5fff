"""Speed-layer benchmark: Kafka -> the PyFlink job -> HBase, and a per-event Python job for comparison.

Runs against the real local stack (``websessions stack up kafka hbase`` first) on private topics, HBase
tables and checkpoint directory, removed afterwards. Three measurements:

1. **Sustained throughput**: ``--events`` events (a seeded web workload, see :func:`workload`) are
   written to the topic first; then the job starts and the clock runs from its first record read until
   (a) the job has read them all and (b) the HBase writer has written every update the job produced.
2. **Latency** at half the end-to-end rate: a separate process produces live events (event time = now)
   for 30 s of warm-up (the backlog's sessions close then) and ``--latency-seconds`` measured; every
   50th is the only event of a fresh user, and its latency is the time from its event time until the
   writer's HBase flush containing its session returned.
3. **Per-event Python** (the bootcamp approach): a PyFlink DataStream job over ``--python-events`` of the
   same events with a Python ``map`` (JSON parsing) and a Python ``KeyedProcessFunction`` (sessions in
   keyed state) per event, into a discarding sink; timed inside the Python workers.

    .venv/bin/python bench/bench_speed.py --events 2000000 --latency-seconds 60 --python-events 200000

Prints the run's results as markdown; docs/benchmarks.md's speed section combines several runs with
``bench_hbase_writer.py`` and ``bench_speed_branches.py``, so it is edited by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

from streaming.hbase_sink import SpeedSink, sink_group_id  # noqa: E402
from streaming.runner import FlinkJob, speed_dir  # noqa: E402
from websessions.clients import kafka  # noqa: E402
from websessions.events import format_time_ms  # noqa: E402
from websessions.settings import Settings, load_settings  # noqa: E402
from websessions.stores.hbase_sessions import HBaseSessions  # noqa: E402

HOSTS = (
    "bootcamp.techcreator.io",
    "www.dataexpert.io",
    "zachwilson.techcreator.io",
    "zachwilson.tech",
    "lulu.techcreator.io",
)
PAGES = tuple(f"/courses/data-engineering/lesson-{i}" for i in range(40)) + ("/", "/pricing", "/blog", "/login")
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
PROBE_HOST = "probe.bench"
SECTION = "## Speed layer (issue 5)"
WARMUP_S = 30  # live traffic before the latency probes count (see run_speed_layer_bench)


def event_json(t_ms: int, ip: str, host: str, url: str, event_id: str, status: int = 200) -> bytes:
    """An event in the canonical form the ingest path publishes."""
    record = {
        "event_id": event_id, "event_time": format_time_ms(t_ms), "ip": ip, "host": host, "url": url,
        "referrer": "https://www.google.com/", "user_agent": UA, "headers": None, "event_type": "pageview",
        "status": status, "user_id": None, "geo": {"country": "US", "region": "CA", "city": "San Francisco"},
        "load_time_ms": None,
    }  # fmt: skip
    return json.dumps(record, separators=(",", ":")).encode()


def workload(n: int, end_ms: int, seed: int = 7, events_per_s: int = 2000):
    """``n`` events in event-time order, all before ``end_ms``: sessions of 1-20 pageviews (mean ~8) from
    fresh users on five sites, 1-30 s apart, 2% errors, ``events_per_s`` per second of event time (so
    about 20,000 sessions are open at any time and 100,000 are in the operator state, closing ones
    included). Yields (key, value) in event-time order."""
    rng = random.Random(seed)
    sessions = n // 4 + 1  # more than enough (mean ~7 events each): the loop stops at n events
    last_start = end_ms - 15 * 60_000  # a session lasts at most 19 x 30 s: all events end before end_ms
    first_start = last_start - max(n * 1000 // events_per_s, 60_000)
    starts = sorted(rng.randrange(first_start, last_start) for _ in range(sessions))
    heap: list[tuple[int, int, int, int]] = []  # (time, session, events left, seq)
    produced = 0
    next_session = 0
    while produced < n:
        while next_session < sessions and (not heap or starts[next_session] <= heap[0][0]):
            heapq.heappush(heap, (starts[next_session], next_session, min(20, 1 + int(rng.expovariate(1 / 7))), 0))
            next_session += 1
        if not heap:
            break
        t, sid, left, seq = heapq.heappop(heap)
        ip = f"10.{sid >> 16 & 255}.{sid >> 8 & 255}.{sid & 255}"
        host = HOSTS[sid % len(HOSTS)]
        status = 404 if rng.random() < 0.02 else 200
        yield f"{ip}|{host}".encode(), event_json(t, ip, host, rng.choice(PAGES), f"b{sid}-{seq}", status)
        produced += 1
        if left > 1:
            heapq.heappush(heap, (t + rng.randrange(1000, 30_000), sid, left - 1, seq + 1))


def fill_topic(settings: Settings, topic: str, n: int, end_ms: int) -> float:
    producer = kafka.producer(settings, **{"queue.buffering.max.messages": 1_000_000, "linger.ms": 50})
    t0 = time.monotonic()
    produced = 0
    for key, value in workload(n, end_ms):
        produced += 1
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(300) == 0
    assert produced == n, f"the workload gave {produced} events, not {n}"
    return time.monotonic() - t0


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = kafka.consumer(settings, f"bench-probe-{uuid.uuid4().hex[:6]}")
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def committed_lag(settings: Settings, topic: str, group: str) -> int:
    ends = end_offsets(settings, topic)
    consumer = kafka.consumer(settings, group)
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
        return sum(ends[tp.partition] - max(tp.offset, 0) for tp in committed)
    finally:
        consumer.close()


class TimedSink(SpeedSink):
    """The writer, recording for each probe (a fresh user's only event) when its session reached HBase."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.latencies_ms: list[float] = []
        self.probes_after_ms = 0  # probes with an earlier event time (the warm-up) are not recorded

    def flush(self, store: HBaseSessions) -> None:
        probes = [s.end_ms for s in self._open.values() if s.host == PROBE_HOST and s.events == 1]
        super().flush(store)
        now = time.time() * 1000
        self.latencies_ms.extend(now - t for t in probes if t >= self.probes_after_ms)


def live_producer(settings: Settings, topic: str, rate: int, seconds: float, probe_every: int = 50) -> None:
    """Events at ``rate``/s with event time = now, for ``seconds`` (run in its own process)."""
    producer = kafka.producer(settings, **{"linger.ms": 5})
    rng = random.Random(11)
    users = 20_000
    sent = 0
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds:
        due = int(elapsed * rate) - sent
        for _ in range(min(due, 5000)):
            now = int(time.time() * 1000)
            if sent % probe_every == 0:
                ip, host = f"172.{sent >> 16 & 255}.{sent >> 8 & 255}.{sent & 255}", PROBE_HOST
            else:
                u = rng.randrange(users)
                ip, host = f"10.200.{u >> 8 & 255}.{u & 255}", HOSTS[u % len(HOSTS)]
            value = event_json(now, ip, host, rng.choice(PAGES), f"live-{sent}")
            try:
                producer.produce(topic, value=value, key=f"{ip}|{host}".encode())
            except BufferError:
                producer.poll(0.01)
                continue
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(60)


def run_speed_layer_bench(settings: Settings, n: int, latency_s: float) -> dict:
    job = FlinkJob(settings)
    sink = TimedSink(settings)
    stop = threading.Event()
    ticks: list[tuple[float, int]] = []

    def on_tick(s: SpeedSink) -> None:
        ticks.append((time.monotonic(), s.stats.records))

    thread = threading.Thread(target=sink.run, args=(stop, on_tick, 0.25), daemon=True)
    job_start = time.monotonic()
    job.start()
    thread.start()
    deadline = time.monotonic() + 3600
    last_report = 0.0
    while not ticks or ticks[-1][1] < n:
        assert time.monotonic() < deadline, "the job did not read every event within an hour"
        assert thread.is_alive(), "the HBase writer stopped"
        if time.monotonic() - last_report > 10:
            print(f"read {ticks[-1][1] if ticks else 0:,} of {n:,}; writer: {sink.stats.as_dict()}", file=sys.stderr)
            last_report = time.monotonic()
        time.sleep(0.25)
    first = next(t for t, records in ticks if records > 0)
    read_all = next(t for t, records in ticks if records >= n)
    while committed_lag(settings, settings.kafka_topic_session_updates, sink_group_id(settings)) > 0:
        time.sleep(0.25)
    written = time.monotonic()
    result = {
        "events": n,
        "job_start_s": first - job_start,
        "job_s": read_all - first,
        "end_to_end_s": written - first,
        "updates": sink.stats.updates,
        "sessions_closed": sink.stats.sessions_closed,
        "open_puts": sink.stats.open_puts,
        "metric_puts": sink.stats.metric_puts,
    }
    result["job_rate"] = n / result["job_s"]
    result["end_to_end_rate"] = n / result["end_to_end_s"]
    if latency_s > 0:
        # Live events move the watermark to now: the backlog's sessions all close in the first seconds
        # (a burst of closings and HBase writes). The first WARMUP_S of live traffic absorb that
        # burst and are not measured.
        rate = int(result["end_to_end_rate"] // 2)
        process = multiprocessing.get_context("spawn").Process(
            target=live_producer, args=(settings, settings.kafka_topic_events, rate, WARMUP_S + latency_s)
        )
        sink.latencies_ms.clear()
        sink.probes_after_ms = int(time.time() * 1000) + WARMUP_S * 1000
        process.start()
        process.join()
        time.sleep(5)
        chunks = [sink.latencies_ms[i : i + 100] for i in range(0, len(sink.latencies_ms), 100)]
        print("latency max per 100 probes (s):", [round(max(c) / 1000, 2) for c in chunks], file=sys.stderr)
        latencies = sorted(sink.latencies_ms)
        result.update(latency_rate=rate, latency_probes=len(latencies))
        if latencies:
            result.update(
                latency_p50_ms=statistics.median(latencies),
                latency_p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                latency_max_ms=latencies[-1],
            )
    stop.set()
    thread.join(60)
    job.cancel()
    return result


# -- the per-event Python comparison ------------------------------------------------------------------


def python_per_event_job(settings: Settings, topic: str, jars: list[Path], timing_dir: Path) -> None:
    """The bootcamp approach: every event through Python (parse, then sessionize in keyed state)."""
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource
    from pyflink.datastream.state import ValueStateDescriptor

    timeout_ms = settings.session_timeout_s * 1000

    class Sessionize(KeyedProcessFunction):
        def open(self, runtime_context) -> None:
            self.state = runtime_context.get_state(ValueStateDescriptor("session", Types.PICKLED_BYTE_ARRAY()))
            self.count = 0
            self.first = None
            self.path = timing_dir / f"worker-{os.getpid()}-{uuid.uuid4().hex[:6]}.json"

        def process_element(self, value, ctx):
            self.count += 1
            if self.first is None:
                self.first = time.time()
            t, event_id, url, error = value[1], value[2], value[3], value[4]
            session = self.state.value()
            if session is not None and t - session[1] > timeout_ms:
                yield json.dumps({"key": value[0], "start": session[0], "end": session[1], "events": len(session[2])})
                session = None
            if session is None:
                session = [t, t, set(), set(), 0]
            session[0], session[1] = min(session[0], t), max(session[1], t)
            if event_id not in session[2]:
                session[2].add(event_id)
                session[4] += error
            session[3].add(url)
            self.state.update(session)
            if self.count % 1000 == 0:
                self.path.write_text(json.dumps({"first": self.first, "last": time.time(), "count": self.count}))

        def close(self) -> None:
            if self.first is not None:
                self.path.write_text(json.dumps({"first": self.first, "last": time.time(), "count": self.count}))

    def parse(line: str):
        e = json.loads(line)
        t = int(time.mktime(time.strptime(e["event_time"][:19], "%Y-%m-%dT%H:%M:%S")) * 1000) + int(
            e["event_time"][20:23]
        )
        return f"{e['ip']}|{e['host']}", t, e["event_id"], e["url"], int((e.get("status") or 0) >= 400)

    env = StreamExecutionEnvironment.get_execution_environment()
    env.add_jars(*(jar.resolve().as_uri() for jar in jars))
    env.set_parallelism(settings.flink_parallelism)
    env.set_python_executable(sys.executable)  # the Python workers need this environment's pyflink
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap)
        .set_topics(topic)
        .set_group_id(f"bench-python-{uuid.uuid4().hex[:6]}")
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_bounded(KafkaOffsetsInitializer.latest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    row = Types.TUPLE([Types.STRING(), Types.LONG(), Types.STRING(), Types.STRING(), Types.INT()])
    stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "events")
    sessions = stream.map(parse, output_type=row).key_by(lambda r: r[0], key_type=Types.STRING())
    sessions.process(Sessionize(), output_type=Types.STRING()).filter(lambda s: False).print()
    env.execute("bench: per-event python")


def run_python_bench(settings: Settings, n: int, end_ms: int) -> dict:
    from websessions.stack.artifacts import classpath

    topic = f"{settings.kafka_topic_events}_py"
    admin = kafka.admin(settings)
    for future in admin.create_topics([NewTopic(topic, settings.kafka_partitions, 1)]).values():
        future.result()
    try:
        fill_topic(settings, topic, n, end_ms)
        timing_dir = Path(tempfile.mkdtemp(prefix="bench-speed-py-"))
        python_per_event_job(settings, topic, classpath(settings, "flink-connectors"), timing_dir)
        workers = [json.loads(p.read_text()) for p in timing_dir.glob("worker-*.json")]
        shutil.rmtree(timing_dir, ignore_errors=True)
        count = sum(w["count"] for w in workers)
        seconds = max(w["last"] for w in workers) - min(w["first"] for w in workers)
        return {"python_events": count, "python_s": seconds, "python_rate": count / seconds}
    finally:
        for future in admin.delete_topics([topic]).values():
            future.result()


def markdown(r: dict, args: argparse.Namespace) -> str:
    lines = [
        SECTION,
        "",
        "Command (the stack must be up: `websessions stack up kafka hbase`; private topics, tables and",
        "checkpoints are created and removed by the benchmark):",
        "",
        "```",
        f".venv/bin/python bench/bench_speed.py --events {args.events} --latency-seconds {args.latency_seconds:g}"
        f" --python-events {args.python_events}",
        "```",
        "",
        f"Machine: {os.cpu_count()} cores, shared with the other services of the stack (Kafka, HBase) and other",
        f"work; Flink parallelism {r['parallelism']}, job heap {r['heap']}. Measured {time.strftime('%Y-%m-%d')}.",
        "",
        "| measurement | value |",
        "| --- | ---: |",
        f"| events (backlog in Kafka, {r['events']:,}) read by the job | {r['job_rate']:,.0f} events/s |",
        f"| ... and every resulting update written to HBase (end to end) | {r['end_to_end_rate']:,.0f} events/s |",
        f"| job start (submit to first record) | {r['job_start_s']:.1f} s |",
        f"| updates written: closed sessions / open-session puts / metric puts | {r['sessions_closed']:,} / "
        f"{r['open_puts']:,} / {r['metric_puts']:,} |",
    ]
    if "latency_p50_ms" in r:
        lines += [
            f"| event -> HBase latency at {r['latency_rate']:,} events/s after {WARMUP_S} s of warm-up, "
            f"p50 ({r['latency_probes']:,} probes) |"
            f" {r['latency_p50_ms'] / 1000:.2f} s |",
            f"| ... p99 / max | {r['latency_p99_ms'] / 1000:.2f} s / {r['latency_max_ms'] / 1000:.2f} s |",
        ]
    if "python_rate" in r:
        lines += [
            f"| per-event Python job ({r['python_events']:,} events, no HBase) | {r['python_rate']:,.0f} events/s |",
            f"| ratio: the job (read rate) / per-event Python | {r['job_rate'] / r['python_rate']:.1f}x |",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--latency-seconds", type=float, default=60)
    parser.add_argument("--python-events", type=int, default=200_000)
    parser.add_argument("--heap", default="2g", help="the job JVM's heap")
    args = parser.parse_args()
    uid = uuid.uuid4().hex[:6]
    base = load_settings()
    settings = dataclasses.replace(
        base,
        kafka_topic_events=f"bench_speed_events_{uid}",
        kafka_topic_session_updates=f"bench_speed_updates_{uid}",
        hbase_table_sessions=f"bench_speed_sessions_{uid}",
        hbase_table_live_metrics=f"bench_speed_metrics_{uid}",
        speed_heap=args.heap,
    )
    admin = kafka.admin(settings)
    topics = [settings.kafka_topic_events, settings.kafka_topic_session_updates]
    for future in admin.create_topics([NewTopic(t, settings.kafka_partitions, 1) for t in topics]).values():
        future.result()
    end_ms = int(time.time() * 1000) - 60_000
    try:
        fill_s = fill_topic(settings, settings.kafka_topic_events, args.events, end_ms)
        print(f"{args.events} events written to Kafka in {fill_s:.0f}s", file=sys.stderr)
        result = run_speed_layer_bench(settings, args.events, args.latency_seconds)
        if args.python_events:
            result.update(run_python_bench(settings, args.python_events, end_ms))
    finally:
        for future in admin.delete_topics(topics).values():
            future.result()
        with HBaseSessions(settings) as store:
            store.drop_tables()
        shutil.rmtree(speed_dir(settings), ignore_errors=True)
    result.update(parallelism=settings.flink_parallelism, heap=settings.speed_heap)
    print(json.dumps(result, indent=1), file=sys.stderr)
    print(markdown(result, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
