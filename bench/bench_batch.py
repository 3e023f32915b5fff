"""Batch-layer benchmark: the Spark batch of one day end to end, against the reference sessionizer and DuckDB.

    # the stack must be up (Postgres, HDFS, Hive): websessions stack up hive
    .venv/bin/python bench/bench_batch.py --events 1000000 5000000 10000000

For each size N, a day of N events (seeded, generated here rather than by ``websessions.simulator``:
exactly N events, quickly, with a known share of duplicates) is written once as canonical JSON lines
in the lander's layout on LOCAL DISK (``bench/out/batch_<N>/web_events/dt=2026-11-20/part-*.jsonl`` +
``_COMPLETE``; git-ignored) and reused.
Then, each in a fresh process, timed from the outside:

- **spark**: :func:`batch.sessions_job.run_day` with ``raw_events_dir=file://...`` and a private Hive
  database ``bench_batch``: Spark start, read, validate, dedupe, sessionize, stats and history, all
  eleven Hive partitions written to HDFS and the day replaced in Postgres — the whole nightly job;
- **reference**: ``websessions.events.validate`` of every line, then ``websessions.sessionizer.sessionize``
  (the oracle; all in memory), sessions starting on the day kept;
- **spark-cluster**: the same job on the Spark standalone cluster of ``websessions stack up --cluster``
  (``spark://127.0.0.1:7077``, one worker: 1 core, a 1g executor; the driver in this process);
- **duckdb**: the same sessions in DuckDB SQL (explicit JSON columns, dedupe, lag + running sum,
  aggregates), into an in-memory table — sessions only, no stats, history or loads.

All three must find the same number of sessions and events. Prints a markdown table (and the Spark
job's phases) for ``docs/benchmarks.md``. DuckDB is a bench-only dependency:
``.venv/bin/pip install -c constraints.txt -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DAY = "2026-11-20"
DAY_START_MS = 1_795_132_800_000  # 2026-11-20T00:00:00Z
HOSTS = ("bootcamp.techcreator.io", "www.dataexpert.io", "zachwilson.techcreator.io", "lulu.techcreator.io",
         "zachwilson.tech")  # fmt: skip
SECTIONS = ("blog", "courses", "pricing", "docs", "community")
PAGES = ("/", *(f"/{s}/{i}" for s in SECTIONS for i in range(12)), "/login", "/signup?plan=pro")
REFERRERS = ('"https://www.google.com/"', '"https://news.ycombinator.com/"', '"https://t.co/x"', "null", "null")
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)", "curl/8.5.0")
GEOS = ('{"country":"NL","region":null,"city":"Amsterdam"}', '{"country":"US","region":"CA","city":null}',
        '{"country":"DE","region":null,"city":null}', "null")  # fmt: skip
PARTS = 8


def raw_dir(events: int) -> Path:
    return OUT / f"batch_{events}" / "web_events"


def generate_day(events: int, seed: int = 6) -> Path:
    """N canonical event lines of DAY: keys ~ N/25 (ip, host), sessions of ~5 events 1-240 s apart,
    sessions starting anywhere in the day, 0.5% resent duplicates, 3% errors."""
    root = raw_dir(events)
    day = root / f"dt={DAY}"
    if (day / "_COMPLETE").exists():
        return root
    day.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    keys = max(1, events // 25)
    outs = [open(day / f"part-{p:03d}-000000000000-000000000000.jsonl", "w", buffering=1 << 22) for p in range(PARTS)]  # noqa: SIM115
    written = n = 0
    while written < events:
        k = rng.randrange(keys)
        ip, host = f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}", HOSTS[k % len(HOSTS)]
        agent, geo, ref = AGENTS[k % 3], GEOS[k % 4], REFERRERS[rng.randrange(5)]
        out = outs[k % PARTS]
        t = DAY_START_MS + int(rng.random() * 86_400_000)
        for _ in range(1 + int(rng.expovariate(0.25))):
            if t >= DAY_START_MS + 86_400_000 or written >= events:
                break
            n += 1
            seconds, millis = divmod(t, 1000)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
            status = "404" if rng.random() < 0.02 else ("500" if rng.random() < 0.01 else "200")
            line = (
                f'{{"event_id":"e{n}","event_time":"{stamp}","ip":"{ip}","host":"{host}",'
                f'"url":"{PAGES[int(len(PAGES) * rng.random() ** 2)]}","referrer":{ref},"user_agent":"{agent}",'
                f'"headers":null,"event_type":"pageview","status":{status},"user_id":null,"geo":{geo},'
                f'"load_time_ms":null}}\n'
            )
            out.write(line)
            written += 1
            if rng.random() < 0.005 and written < events:
                out.write(line)
                written += 1
            t += 1000 + int(rng.random() * 239_000)
    for out in outs:
        out.close()
    (day / "_COMPLETE").write_text("{}")
    return root


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_spark(root: Path, cluster: bool = False) -> dict:
    from batch.sessions_job import run_day
    from websessions.settings import get_settings

    base = get_settings().in_cluster_mode() if cluster else get_settings()  # cluster: the stack's spark:// master
    settings = dataclasses.replace(base, raw_events_dir=root.as_uri(), hive_database="bench_batch")
    phases: list[tuple[float, str]] = []
    t0 = time.monotonic()
    result = run_day(settings, DAY, progress=lambda m: phases.append((time.monotonic() - t0, m)))
    return {
        "sessions": result.sessions,
        "events": result.session_events,
        "duplicates": result.duplicates,
        "postgres": result.postgres_path,
        "phases": phases,
        "in_job_seconds": time.monotonic() - t0,
    }


def measure_reference(root: Path) -> dict:
    from websessions.events import Rejection, validate
    from websessions.sessionizer import sessionize
    from websessions.sessions import SessionRule

    events = []
    for path in sorted((root / f"dt={DAY}").glob("*.jsonl")):
        with open(path, "rb", buffering=1 << 20) as lines:
            for line in lines:
                outcome = validate(line, now_ms=4_102_444_800_000)
                if not isinstance(outcome, Rejection):
                    events.append(outcome)
    stats: dict[str, int] = {}
    sessions = [s for s in sessionize(events, SessionRule(), stats) if s.dt == DAY]
    return {
        "sessions": len(sessions),
        "events": sum(s.events for s in sessions),
        "duplicates": stats["duplicates"],
        "peak_rss_mb": _peak_rss_mb(),
    }


DUCKDB_SQL = """
CREATE TABLE sessions AS
WITH raw AS (
    SELECT * FROM read_json('{glob}', format = 'newline_delimited', columns = {{
        event_id: 'VARCHAR', event_time: 'VARCHAR', ip: 'VARCHAR', host: 'VARCHAR', url: 'VARCHAR',
        referrer: 'VARCHAR', user_agent: 'VARCHAR', status: 'INTEGER',
        geo: 'STRUCT(country VARCHAR, region VARCHAR, city VARCHAR)'}})
), events AS (
    SELECT *, epoch_ms(strptime(event_time, '%Y-%m-%dT%H:%M:%S.%gZ')) AS t FROM raw
    QUALIFY row_number() OVER (PARTITION BY ip, host, event_id ORDER BY t, url) = 1
), flagged AS (
    SELECT *, CASE WHEN t - lag(t) OVER w > {timeout_ms} OR lag(t) OVER w IS NULL THEN 1 ELSE 0 END AS starts
    FROM events WINDOW w AS (PARTITION BY ip, host ORDER BY t, event_id)
), numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY ip, host ORDER BY t, event_id ROWS UNBOUNDED PRECEDING) AS seq
    FROM flagged
)
SELECT host, ip, min(t) AS start_ms, max(t) AS end_ms, count(*) AS events, count(DISTINCT url) AS pages,
       arg_min(url, (t, event_id)) AS first_url, arg_max(url, (t, event_id)) AS last_url,
       arg_min(referrer, (t, event_id)) AS referrer, count(*) FILTER (WHERE status >= 400) AS errors
FROM numbered
GROUP BY host, ip, seq
HAVING min(t) >= {day_start} AND min(t) < {day_end}
"""


def measure_duckdb(root: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    sql = DUCKDB_SQL.format(glob=f"{root}/dt={DAY}/*.jsonl", timeout_ms=300_000, day_start=DAY_START_MS,
                            day_end=DAY_START_MS + 86_400_000)  # fmt: skip
    con.execute(sql)
    sessions, events = con.execute("SELECT count(*), sum(events) FROM sessions").fetchone()
    return {"sessions": sessions, "events": int(events), "peak_rss_mb": _peak_rss_mb(), "duckdb": duckdb.__version__}


MEASURES = {
    "spark": measure_spark,
    "spark-cluster": lambda root: measure_spark(root, cluster=True),
    "reference": measure_reference,
    "duckdb": measure_duckdb,
}


def run_measurement(kind: str, root: Path) -> dict:
    """One measurement in a fresh interpreter, wall time taken from the outside."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--measure", kind, "--input", str(root)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    parser.add_argument("--only", choices=sorted(MEASURES), nargs="+", default=["spark", "reference", "duckdb"])
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(MEASURES[args.measure](args.input)))
        return 0

    rows = []
    for size in args.events:
        t0 = time.perf_counter()
        root = generate_day(size)
        print(f"{size:,} events in {root} ({time.perf_counter() - t0:.0f}s to generate or find)", file=sys.stderr)
        results = {}
        for kind in args.only:
            print(f"measuring {kind} on {size:,} events ...", file=sys.stderr)
            results[kind] = run_measurement(kind, root)
            print(f"  {kind}: {results[kind]['seconds']:.1f}s {json.dumps(results[kind])}", file=sys.stderr)
        found = {(r["sessions"], r["events"]) for r in results.values()}
        if len(found) != 1:
            raise SystemExit(f"the engines disagree on {size:,} events: {results}")
        rows.append((size, results))

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}")
    print()
    print("| events | sessions | engine | seconds | events/s | vs reference | peak RSS (MB) |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for size, results in rows:
        reference = results.get("reference", {}).get("seconds")
        for kind, r in results.items():
            ratio = f"{reference / r['seconds']:.1f}x" if reference else "-"
            rss = f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-"
            print(f"| {size:,} | {r['sessions']:,} | {kind} | {r['seconds']:.1f} | {size / r['seconds']:,.0f} | "
                  f"{ratio} | {rss} |")  # fmt: skip
    for size, results in rows:
        for kind in ("spark", "spark-cluster"):
            if kind in results:
                phases = ", ".join(f"{t:.0f}s {m}" for t, m in results[kind]["phases"])
                print(f"\n{kind} phases at {size:,} ({results[kind]['postgres']}): {phases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
