"""Speed-layer benchmark: Kafka -> the job -> HBase, the current path and the previous one in the same run.

Runs against the real local stack (``websessions stack up kafka hbase`` first) on private topics, HBase
tables and checkpoint directories, removed afterwards. Each path runs in a process of its own (its own
PyFlink JVM, so neither inherits the other's JIT warm-up), one after the other:

- ``new``: the runner's job (:class:`streaming.runner.FlinkJob`, :func:`streaming.sessions_job.submit_to_hbase`):
  the DataStream path, Kafka source with the Jackson decoder -> the classifier -> the session operator -> the
  JVM HBase sink (``streaming/java-hbase``), no SQL, no update topic, no Python writer, no Thrift.
- ``sql``: the same operator and sink behind the SQL source (JSON format, SQL classification, Table/DataStream
  conversions, the SQL union of the results: :func:`streaming.sessions_job.kafka_updates`), the runner's job
  before the DataStream path.
- ``old``: the path before issue 18: the same job writing an upsert-Kafka update topic
  (:func:`streaming.sessions_job.build`) that the Python writer (:class:`streaming.hbase_sink.SpeedSink`)
  writes to HBase through Thrift.

Per path:

1. **Sustained throughput**: ``--events`` events (a seeded web workload, see :func:`workload`) are
   written to the topic first; then the job starts and the clock runs from its first record read until
   the job has read them all and every resulting update is in HBase.
2. **CPU per event** of each process (the job's JVM, Kafka, HBase, and for the old path the writer,
   which is this process), from ``/proc`` over the backlog phase; HBase mutations per event; the job
   JVM's GC time (``jstat``).
3. **Latency** at half the path's end-to-end rate: live events (event time = now) for 30 s of warm-up
   and ``--latency-seconds`` measured; every 50th is the only event of a fresh user, and its latency is
   the HBase write time of its live row (the cell's timestamp) minus its event time.

    .venv/bin/python bench/bench_speed.py --events 300000 --latency-seconds 30

Prints the run's results as markdown (docs/benchmarks.md's speed section is edited by hand).
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import multiprocessing
import os
import queue
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

import psutil  # noqa: E402
from confluent_kafka import TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

from streaming import sessions_job  # noqa: E402
from streaming.hbase_sink import SpeedSink, sink_group_id  # noqa: E402
from streaming.runner import FlinkJob, checkpoint_root, speed_dir  # noqa: E402
from websessions.clients import kafka  # noqa: E402
from websessions.events import format_time_ms, parse_time_ms  # noqa: E402
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
SECTION = "## Speed layer (issue 18)"
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


class UpdateTopicJob:
    """The previous path: the job into the upsert-Kafka update topic, the Python writer from there into HBase."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.result = None
        self.writer = SpeedSink(settings)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.writer.run, args=(self.stop, None, 1.0), daemon=True)

    def start(self) -> None:
        from websessions.platform.artifacts import classpath

        s = self.settings
        t_env = sessions_job.stream_table_environment()
        jars = [*classpath(s, "flink-connectors"), sessions_job.operator_jar(s)]
        sessions_job.configure(t_env, s, jars, checkpoint_root(s))
        self.result = sessions_job.build(t_env, s, sessions_job.source_group_id(s)).execute()
        self.thread.start()

    def records(self, store: HBaseSessions) -> int:
        self.writer.refresh_source_stats()
        return self.writer.stats.records

    def written(self, store: HBaseSessions) -> tuple[int, float]:
        """(updates written, when the last batch was): the writer's counters."""
        lag = committed_lag(self.settings, self.settings.kafka_topic_session_updates, sink_group_id(self.settings))
        return self.writer.stats.updates - lag, self.writer.stats.last_flush_at

    def mutations(self, store: HBaseSessions) -> int:
        st = self.writer.stats
        return st.sessions_closed * 2 + st.open_puts + st.open_deletes + st.metric_puts + st.late

    def cancel(self) -> None:
        self.stop.set()
        self.thread.join(60)
        self.result.get_job_client().cancel().result()


class SqlFlinkJob(FlinkJob):
    """The runner's job with the SQL source and classification (the ``sql`` path)."""

    def _submit(self, t_env, jars: list[Path], root: Path):
        s = self.settings
        sessions_job.configure(t_env, s, jars, root)
        updates = sessions_job.kafka_updates(t_env, s, sessions_job.source_group_id(s))
        return sessions_job.execute_to_hbase(updates, sessions_job.hbase_sink(s), sessions_job.job_name(s))


class DirectJob:
    """The runner's job (or :class:`SqlFlinkJob`), writing HBase from the JVM; its progress read from HBase."""

    def __init__(self, settings: Settings, job: type[FlinkJob] = FlinkJob):
        self.job = job(settings)

    def start(self) -> None:
        self.job.start()

    def records(self, store: HBaseSessions) -> int:
        sources, _ = store.retrying(store.speed_progress, "progress")
        return sum(r["records"] for r in sources.values())

    def written(self, store: HBaseSessions) -> tuple[int, float]:
        _, sinks = store.retrying(store.speed_progress, "progress")
        updates = sum(s["updates"] for s in sinks.values())
        return updates, max((s["flushed_at_ms"] for s in sinks.values()), default=0) / 1000

    def mutations(self, store: HBaseSessions) -> int:
        _, sinks = store.retrying(store.speed_progress, "progress")
        names = ("sessions_closed", "sessions_closed", "open_puts", "open_deletes", "metric_puts", "late_puts")
        return sum(s[n] for s in sinks.values() for n in names)

    def cancel(self) -> None:
        self.job.cancel()


def service_processes(settings: Settings) -> dict[str, list[psutil.Process]]:
    """The stack's Kafka and HBase processes (each pid file's process and its children)."""
    out = {}
    for name, files in (("kafka", ["kafka"]), ("hbase", ["hbase-master", "hbase-thrift"])):
        procs = []
        for file in files:
            pid = int((settings.run_dir / f"{file}.pid").read_text().split()[0])
            root = psutil.Process(pid)
            procs += [root, *root.children(recursive=True)]
        out[name] = procs
    return out


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def gc_seconds(pid: int) -> float | None:
    """Total GC time of a JVM (``jstat -gcutil``'s GCT column)."""
    import subprocess

    out = subprocess.run(["jstat", "-gcutil", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    try:
        header = out[: len(out) // 2]
        return float(out[len(header) + header.index("GCT")])
    except (ValueError, IndexError):
        return None


def probe_latencies_ms(store: HBaseSessions, after_ms: int) -> list[float]:
    """Each probe's live row: its write time in HBase (the cell timestamp) minus its event time."""
    out = []
    rows = store.sessions_table.scan(row_prefix=f"{PROBE_HOST}|".encode(), columns=[b"o:record", b"s:record"],
                                     include_timestamp=True)  # fmt: skip
    for _, columns in rows:
        value, written = columns.get(b"o:record") or columns[b"s:record"]
        record = json.loads(value)
        end = parse_time_ms(record["end"])
        if end >= after_ms and record["events"] == 1:
            out.append(written - end)
    return out


def run_path(path: str, settings: Settings, n: int, latency_s: float) -> dict:
    """One path over a backlog of ``n`` events, then the latency phase."""
    jobs = {"new": lambda: DirectJob(settings), "sql": lambda: DirectJob(settings, SqlFlinkJob)}
    job = jobs[path]() if path in jobs else UpdateTopicJob(settings)
    me = psutil.Process()
    services = service_processes(settings)
    with HBaseSessions(settings) as store:
        store.ensure_table()
        job_start = time.monotonic()
        job.start()
        jvm = [c for c in me.children(recursive=True) if "java" in c.name()]
        deadline = time.monotonic() + 3600
        first = None
        last_report = 0.0
        while (records := job.records(store)) < n:
            assert time.monotonic() < deadline, "the job did not read every event within an hour"
            if first is None and records > 0:
                first = time.monotonic()
                cpu0 = {"job": cpu_seconds(jvm), "writer": cpu_seconds([me]),
                        **{k: cpu_seconds(v) for k, v in services.items()}}  # fmt: skip
                gc0 = gc_seconds(jvm[0].pid) if jvm else None
            if time.monotonic() - last_report > 10:
                print(f"{path}: read {records:,} of {n:,}", file=sys.stderr)
                last_report = time.monotonic()
            time.sleep(0.2)
        read_all = time.monotonic()
        # Written: the sink's update count stops moving for 3 s (open rows wait for the emit interval).
        stable_since, last = time.monotonic(), job.written(store)
        while time.monotonic() - stable_since < 3:
            time.sleep(0.2)
            now = job.written(store)
            if now[0] != last[0]:
                stable_since, last = time.monotonic(), now
        written_at = time.monotonic() - (time.time() - last[1]) if last[1] else read_all
        written_at = max(written_at, read_all)
        cpu1 = {"job": cpu_seconds(jvm), "writer": cpu_seconds([me]),
                **{k: cpu_seconds(v) for k, v in services.items()}}  # fmt: skip
        gc1 = gc_seconds(jvm[0].pid) if jvm else None
        result = {
            "path": path,
            "events": n,
            "job_start_s": first - job_start,
            "job_s": read_all - first,
            "end_to_end_s": written_at - first,
            "updates": last[0],
            "hbase_mutations": job.mutations(store),
        }
        result["job_rate"] = n / result["job_s"]
        result["end_to_end_rate"] = n / result["end_to_end_s"]
        result["mutations_per_event"] = result["hbase_mutations"] / n
        elapsed = written_at - first
        for name in cpu0:
            if path != "old" and name == "writer":
                continue
            result[f"cpu_us_per_event_{name}"] = (cpu1[name] - cpu0[name]) / n * 1e6
        if gc0 is not None and gc1 is not None and elapsed:
            result["job_gc_share"] = (gc1 - gc0) / (written_at - first)
        if jvm:
            result["job_rss_mb"] = jvm[0].memory_info().rss / 2**20
        if latency_s > 0:
            rate = int(result["end_to_end_rate"] // 2)
            after_ms = int(time.time() * 1000) + WARMUP_S * 1000
            process = multiprocessing.get_context("spawn").Process(
                target=live_producer, args=(settings, settings.kafka_topic_events, rate, WARMUP_S + latency_s)
            )
            process.start()
            process.join()
            time.sleep(5)
            with HBaseSessions(settings) as fresh:  # the store's connection idled past the server's timeout
                latencies = sorted(probe_latencies_ms(fresh, after_ms))
            result.update(latency_rate=rate, latency_probes=len(latencies))
            if latencies:
                result.update(
                    latency_p50_ms=statistics.median(latencies),
                    latency_p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                    latency_max_ms=latencies[-1],
                )
        job.cancel()
    return result


def path_settings(base: Settings, path: str, uid: str, heap: str) -> Settings:
    return dataclasses.replace(
        base,
        kafka_topic_events=f"bench_speed_{path}_events_{uid}",
        kafka_topic_session_updates=f"bench_speed_{path}_updates_{uid}",
        hbase_table_sessions=f"bench_speed_{path}_sessions_{uid}",
        hbase_table_live_metrics=f"bench_speed_{path}_metrics_{uid}",
        speed_heap=heap,
    )


def bench_path(path: str, settings: Settings, n: int, latency_s: float, end_ms: int, out) -> None:
    """One path in this (spawned) process: fill its topic, run it, clean up; the result onto ``out``."""
    os.environ["JVM_ARGS"] = f"-Xmx{settings.speed_heap} -XX:+UseSerialGC"
    admin = kafka.admin(settings)
    topics = [settings.kafka_topic_events, settings.kafka_topic_session_updates]
    for future in admin.create_topics([NewTopic(t, settings.kafka_partitions, 1) for t in topics]).values():
        future.result()
    try:
        fill_s = fill_topic(settings, settings.kafka_topic_events, n, end_ms)
        print(f"{path}: {n} events written to Kafka in {fill_s:.0f}s", file=sys.stderr)
        out.put(run_path(path, settings, n, latency_s))
    finally:
        for future in admin.delete_topics(topics).values():
            future.result()
        with HBaseSessions(settings) as store:
            store.drop_tables()
        shutil.rmtree(speed_dir(settings), ignore_errors=True)


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
    from websessions.platform.artifacts import classpath

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


ROWS = (
    ("events read by the job (Kafka backlog)", lambda r: f"{r['job_rate']:,.0f} events/s"),
    ("... and every resulting update in HBase (end to end)", lambda r: f"{r['end_to_end_rate']:,.0f} events/s"),
    ("job start (submit to first record)", lambda r: f"{r['job_start_s']:.1f} s"),
    ("updates written", lambda r: f"{r['updates']:,}"),
    ("HBase mutations per event", lambda r: f"{r['mutations_per_event']:.2f}"),
    ("CPU µs per event: job JVM", lambda r: f"{r['cpu_us_per_event_job']:.1f}"),
    ("... Python writer", lambda r: f"{r['cpu_us_per_event_writer']:.1f}" if "cpu_us_per_event_writer" in r else "–"),
    ("... Kafka", lambda r: f"{r['cpu_us_per_event_kafka']:.1f}"),
    ("... HBase (+ Thrift)", lambda r: f"{r['cpu_us_per_event_hbase']:.1f}"),
    ("job JVM: GC share of the run / resident MB",
     lambda r: f"{r.get('job_gc_share', 0):.0%} / {r.get('job_rss_mb', 0):,.0f}"),
    ("latency probes at half the rate (events/s)",
     lambda r: f"{r['latency_probes']:,} ({r['latency_rate']:,})" if "latency_rate" in r else "–"),
    ("latency p50 / p99 / max",
     lambda r: " / ".join(f"{r[k] / 1000:.2f}" for k in ("latency_p50_ms", "latency_p99_ms", "latency_max_ms")) + " s"
     if "latency_p50_ms" in r else "–"),
)  # fmt: skip


def markdown(results: list[dict], args: argparse.Namespace) -> str:
    paths = " ".join(args.paths)
    lines = [
        SECTION,
        "",
        "```",
        f".venv/bin/python bench/bench_speed.py --events {args.events} --latency-seconds {args.latency_seconds:g}"
        f" --paths {paths}",
        "```",
        "",
        f"Machine: {os.cpu_count()} cores, shared with the other services of the stack and other work; Flink",
        f"parallelism {results[0]['parallelism']}, job heap {results[0]['heap']}.",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC.",
        "",
        "| measurement | " + " | ".join(f"{r['path']} path" for r in results) + " |",
        "| --- |" + " ---: |" * len(results),
    ]
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--paths", nargs="+", choices=["new", "sql", "old"], default=["new", "sql", "old"])
    parser.add_argument("--heap", default="1g", help="the job JVM's heap")
    args = parser.parse_args()
    uid = uuid.uuid4().hex[:6]
    base = load_settings()
    end_ms = int(time.time() * 1000) - 60_000
    results = []
    context = multiprocessing.get_context("spawn")
    for path in args.paths:
        settings = path_settings(base, path, uid, args.heap)
        out = context.Queue()
        process = context.Process(
            target=bench_path, args=(path, settings, args.events, args.latency_seconds, end_ms, out)
        )
        process.start()
        while True:
            try:
                result = out.get(timeout=5)
                break
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError(f"the {path} path's benchmark died (exit code {process.exitcode})") from None
        process.join(120)
        result.update(parallelism=settings.flink_parallelism, heap=settings.speed_heap)
        print(json.dumps(result, indent=1), file=sys.stderr)
        results.append(result)
    print(markdown(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
