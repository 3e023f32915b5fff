"""Raw areas for batch tests: canonical event lines in the lander's layout (``dt=YYYY-MM-DD/part-*.jsonl``).

Events go through :func:`websessions.events.validate` first, as the lander's input does, so what the
batch reads is what it reads in production: canonical JSON lines. Lines that are not valid events
can be written as they are (``raw_lines``) to test the batch's own checks.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from websessions.events import Event, Rejection, validate

NOW_MS = 4_102_444_800_000  # 2100-01-01: no test event is "in the future"


def canonical(raw: dict[str, Any] | str) -> Event:
    outcome = validate(raw, now_ms=NOW_MS)
    assert not isinstance(outcome, Rejection), outcome
    return outcome


def write_day_files(root: Path, events: Iterable[Event], part: str = "part-000-000000000000-000000000000") -> list[str]:
    """Write canonical lines under ``root/dt=<event day>/``; returns the days written."""
    by_day: dict[str, list[str]] = defaultdict(list)
    for event in events:
        by_day[event.dt].append(event.to_json())
    for day, lines in by_day.items():
        directory = root / f"dt={day}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{part}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(by_day)


def write_raw_lines(root: Path, dt: str, lines: Iterable[str | dict], name: str = "part-999-000000000000-000000000000"):
    """Lines as they are (dicts as JSON) into ``root/dt=<dt>/``."""
    directory = root / f"dt={dt}"
    directory.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines)
    (directory / f"{name}.jsonl").write_text(text, encoding="utf-8")


def write_arrival_files(root: Path, events: list[Event], partition: int = 0) -> list[str]:
    """Events in ARRIVAL order as one Kafka partition landed by the lander: a file per run of consecutive
    events of one day, named ``part-<partition>-<first offset>-<last offset>.jsonl`` by the events'
    positions (their offsets), lines in offset order. Returns the days written."""
    days: set[str] = set()
    run: list[Event] = []
    first = 0
    for offset, event in enumerate([*events, None]):
        if run and (event is None or event.dt != run[0].dt):
            directory = root / f"dt={run[0].dt}"
            directory.mkdir(parents=True, exist_ok=True)
            name = f"part-{partition:03d}-{first:012d}-{first + len(run) - 1:012d}.jsonl"
            (directory / name).write_text("".join(e.to_json() + "\n" for e in run), encoding="utf-8")
            days.add(run[0].dt)
            run = []
        if event is not None:
            if not run:
                first = offset
            run.append(event)
    return sorted(days)
