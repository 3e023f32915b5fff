"""Domain-core benchmark: EDGAR mode and the reference sessionizer, throughput and peak memory.

    python bench/bench_core.py --lines 5000000            # both, at 1M and 5M lines
    python bench/bench_core.py --lines 5000000 --only edgar

Inputs are generated (deterministically, seeded) into ``bench/out/`` (git-ignored) and reused when
present. Each measurement runs in a fresh subprocess so that generation does not count: it reports
wall time, lines per second and peak RSS (``VmHWM``). Running the same work at 1M lines and at the
full size shows whether memory stays flat in the input size. Prints a markdown table.
"""

from __future__ import annotations

import argparse
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
EDGAR_HEADER = "ip,date,time,zone,cik,accession,extention,code,size,idx,norefer,noagent,find,crawler,browser\n"
EDGAR_PERIOD_S = 60
LINES_PER_SECOND = 100  # EDGAR logs have on the order of a hundred requests per second
ACTIVE_IPS = 20_000  # ips active at any moment; the population drifts so that new ips keep coming
EVENTS_PER_SECOND = 50
ACTIVE_KEYS = 5_000


def _octets(i: int) -> str:
    return f"{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def generate_edgar(path: Path, lines: int, seed: int = 3) -> None:
    """An EDGAR-format log: ~100 requests per second, a drifting population of ips (Zipf-like reuse)."""
    rng = random.Random(seed)
    start = 1_498_780_800  # 2017-06-30 00:00:00 UTC
    suffixes = ["jja", "jfd", "hbc", "jie", "aag", "abc", "bbe", "ffd"]
    rest = ",0.0,1608552.0,0001047469-17-004337,-index.htm,200.0,80251.0,1.0,0.0,0.0,9.0,0.0,\n"
    with open(path, "w", buffering=1 << 20) as out:
        out.write(EDGAR_HEADER)
        batch: list[str] = []
        second = -1
        stamp = ""
        for n in range(lines):
            if n % LINES_PER_SECOND == 0:
                second += 1
                stamp = time.strftime("%Y-%m-%d,%H:%M:%S", time.gmtime(start + second))
            drift = second // 600 * 2_000  # every 10 minutes a tenth of the population is replaced
            i = drift + int(ACTIVE_IPS * rng.random() ** 2)
            batch.append(f"{_octets(i)}.{suffixes[i % 8]},{stamp}{rest}")
            if len(batch) == 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))


def generate_events(path: Path, lines: int, seed: int = 5) -> None:
    """Web events (JSON lines) in arrival order: ~50 per second, mildly out of order, 1% duplicates."""
    rng = random.Random(seed)
    start_ms = 1_795_000_000_000
    hosts = ["www.dataexpert.io", "zachwilson.tech", "admin.zachwilson.tech"]
    pages = [f"/blog/post-{i}" for i in range(200)]
    previous = ""
    with open(path, "w", buffering=1 << 20) as out:
        batch: list[str] = []
        for n in range(lines):
            if previous and rng.random() < 0.01:
                batch.append(previous)
                continue
            t = start_ms + n * 1000 // EVENTS_PER_SECOND - int(rng.random() * 20_000)
            drift = n // (EVENTS_PER_SECOND * 600) * 500
            key = drift + int(ACTIVE_KEYS * rng.random() ** 2)
            seconds, millis = divmod(t, 1000)
            event = {
                "event_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z",
                "ip": f"10.{_octets(key)}",
                "host": hosts[key % 3],
                "url": pages[int(200 * rng.random() ** 3)],
                "referrer": "https://www.google.com/",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                "event_id": f"e{n}",
            }
            if rng.random() < 0.02:
                event["status"] = 404
            previous = json.dumps(event) + "\n"
            batch.append(previous)
            if len(batch) == 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_edgar(log: Path) -> dict:
    from websessions.edgar import sessionize_file

    period_file = OUT / "inactivity_period.txt"
    period_file.write_text(f"{EDGAR_PERIOD_S}\n")
    t0 = time.perf_counter()
    stats = sessionize_file(log, period_file, OUT / f"{log.stem}.sessionization.txt")
    seconds = time.perf_counter() - t0
    return {"lines": stats.requests, "seconds": seconds, "sessions": stats.sessions, "peak_rss_mb": _peak_rss_mb()}


def measure_reference(events_path: Path) -> dict:
    from websessions.events import Rejection, validate
    from websessions.sessionizer import Sessionizer
    from websessions.sessions import SessionRule

    sessionizer = Sessionizer(SessionRule(allowed_lateness_ms=60_000))
    rejected = 0
    t0 = time.perf_counter()
    with (
        open(events_path, "rb", buffering=1 << 20) as lines,
        open(OUT / f"{events_path.stem}.sessions.jsonl", "w", buffering=1 << 20) as out,
    ):
        for line in lines:
            outcome = validate(line, now_ms=2_000_000_000_000)
            if isinstance(outcome, Rejection):
                rejected += 1
                continue
            for session in sessionizer.feed(outcome):
                out.write(json.dumps(session.to_dict()) + "\n")
        for session in sessionizer.flush():
            out.write(json.dumps(session.to_dict()) + "\n")
    seconds = time.perf_counter() - t0
    stats = sessionizer.stats()
    return {
        "lines": stats["events_in"] + rejected,
        "seconds": seconds,
        "sessions": stats["sessions_out"],
        "late": stats["late"],
        "duplicates": stats["duplicates"],
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_measurement(kind: str, path: Path) -> dict:
    """Measure in a fresh interpreter (so neither generation nor a previous run counts)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--measure", kind, "--input", str(path)]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000_000, help="the full size (also run at 1M)")
    parser.add_argument("--only", choices=["edgar", "reference"], default=None)
    parser.add_argument("--measure", choices=["edgar", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, str(ROOT))
        measure = measure_edgar if args.measure == "edgar" else measure_reference
        print(json.dumps(measure(args.input)))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    sizes = sorted({min(1_000_000, args.lines), args.lines})
    kinds = [args.only] if args.only else ["edgar", "reference"]
    rows = []
    for kind in kinds:
        for size in sizes:
            suffix = "csv" if kind == "edgar" else "jsonl"
            path = OUT / f"{kind}_{size}.{suffix}"
            if not path.exists():
                print(f"generating {path} ...", file=sys.stderr)
                (generate_edgar if kind == "edgar" else generate_events)(path, size)
            print(f"measuring {kind} on {size} lines ...", file=sys.stderr)
            result = run_measurement(kind, path)
            rows.append((kind, size, result))

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}")
    print()
    print("| mode | input lines | seconds | lines/s | sessions | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind, size, r in rows:
        label = "EDGAR (`websessions edgar`)" if kind == "edgar" else "reference sessionizer (parse + stream)"
        print(
            f"| {label} | {size:,} | {r['seconds']:.1f} | {r['lines'] / r['seconds']:,.0f} | "
            f"{r['sessions']:,} | {r['peak_rss_mb']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
