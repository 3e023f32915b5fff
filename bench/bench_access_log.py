"""Access-log parsing benchmark: combined-format lines/s into validated events, before Kafka.

The input is the simulator's access log (``generate --format combined``: five virtual hosts, real
browser and crawler agents, ~0.2% malformed lines), written once into ``bench/out/`` (git-ignored).
Each mode reads the file in 1 MiB blocks, splits lines with their byte offsets, decodes them and turns
each into a validated :class:`~websessions.events.Event` or a :class:`~websessions.events.Rejection`
(as ``websessions.log_tail.publish_block`` does before producing); ``+ JSON`` also serialises each event
as Kafka would receive it. ``2 processes`` splits the file at a line boundary near its middle.
No services are needed. Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python bench/bench_access_log.py --lines 1000000
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

from websessions.events import Rejection
from websessions.log_tail import CHUNK_BYTES, file_id_of, split_lines
from websessions.simulator import generate_day
from websessions.simulator.access_log import combined_lines

OUT = Path(__file__).resolve().parent / "out"
DAY = date(2026, 11, 20)


def sample(lines: int) -> Path:
    """The simulator's access log of about ``lines`` lines (events of a day, page views only)."""
    path = OUT / f"access-{lines}.log"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        events = int(lines / 0.885)  # page views are ~88.5% of simulated events
        with open(path, "w") as out:
            out.writelines(line + "\n" for line in combined_lines(generate_day(DAY, events, seed=11), vhost=True))
    return path


def parse_range(path: str, start: int, end: int, serialise: bool) -> tuple[int, int, float]:
    """Parse the lines of bytes [start, end) into events; returns (events, rejections, CPU seconds)."""
    from websessions.access_log import validate_line

    cpu = time.process_time()
    file_id = file_id_of(path)
    now_ms = int(time.time() * 1000)
    events = rejections = 0
    with open(path, "rb") as handle:
        handle.seek(start)
        offset, pending = start, b""
        while offset < end:
            chunk = handle.read(min(CHUNK_BYTES, end - offset))
            if not chunk:
                break
            block = pending + chunk
            cut = block.rfind(b"\n") + 1
            base = offset - len(pending)
            offset += len(chunk)
            pending = block[cut:]
            for at, raw in split_lines(block[:cut], base):
                outcome = validate_line(raw.decode("utf-8", "replace"), f"{file_id}:{at}", None, now_ms)
                if isinstance(outcome, Rejection):
                    rejections += 1
                else:
                    events += 1
                    if serialise:
                        outcome.to_bytes()
    return events, rejections, time.process_time() - cpu


def split_point(path: Path) -> int:
    """A line boundary near the middle of the file."""
    with open(path, "rb") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.readline()
        return handle.tell()


def run(path: Path, processes: int, serialise: bool) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds of the parsing processes, events, rejections) of one mode."""
    size = path.stat().st_size
    started = time.perf_counter()
    if processes == 1:
        parts = [parse_range(str(path), 0, size, serialise)]
    else:
        middle = split_point(path)
        with ProcessPoolExecutor(2) as pool:
            parts = list(pool.map(parse_range, [str(path)] * 2, [0, middle], [middle, size], [serialise] * 2))
    wall = time.perf_counter() - started
    return wall, sum(p[2] for p in parts), sum(p[0] for p in parts), sum(p[1] for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per mode")
    args = parser.parse_args()
    path = sample(args.lines)
    print(f"input: {path} ({path.stat().st_size / 1e6:.0f} MB), {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print("| mode | lines | events | dead letters | wall s | lines/s (wall) | CPU s | lines per CPU-second |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for processes, serialise, label in (
        (1, False, "1 process"),
        (1, True, "1 process + JSON"),
        (2, False, "2 processes"),
        (2, True, "2 processes + JSON"),
    ):
        wall, cpu, events, rejections = min(run(path, processes, serialise) for _ in range(args.repeat))
        lines = events + rejections
        print(
            f"| {label} | {lines:,} | {events:,} | {rejections:,} | {wall:.2f} | {lines / wall:,.0f} | {cpu:.2f} |"
            f" {lines / cpu:,.0f} |"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
