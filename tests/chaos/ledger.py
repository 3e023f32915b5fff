"""The chaos suite's traffic and checker: what was acknowledged, what is in HDFS, and the invariants.

Modelled on a produce-consume-validate test: every event carries a unique ``event_id``; the checker
reads every part file of a private dataset (raw, late and quarantine areas) and compares with the ids
Kafka acknowledged: lost = acknowledged but nowhere, duplicated = landed more than once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field

from websessions.clients import hdfs
from websessions.ingest import publish_lines
from websessions.raw_layout import data_roots, parse_part_name
from websessions.settings import Settings


def event_lines(n: int, dt: str = "2026-11-20", start: int = 0, tag: str = "e") -> list[str]:
    """``n`` valid events of day ``dt`` with ids ``<tag>-<dt>-<i>``, spread over the day and 50 users."""
    lines = []
    for i in range(start, start + n):
        s = (i * 7) % 86_400
        lines.append(
            json.dumps(
                {
                    "event_time": f"{dt}T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{i % 1000:03d}Z",
                    "ip": f"10.9.{i % 50}.{i % 5 + 1}",
                    "host": ("www.dataexpert.io", "zachwilson.tech")[i % 2],
                    "url": f"/page-{i % 30}",
                    "event_id": f"{tag}-{dt}-{i}",
                }
            )
        )
    return lines


def publish(settings: Settings, lines: list[str]) -> set[str]:
    """Publish and return the ids Kafka acknowledged (``publish_lines`` raises unless it acknowledged all)."""
    result = publish_lines(settings, lines)
    assert result.dead_lettered == 0
    return {json.loads(line)["event_id"] for line in lines}


@dataclass
class Landed:
    events: Counter = field(default_factory=Counter)  # event id -> times found in the raw and late areas
    late: int = 0
    quarantined: Counter = field(default_factory=Counter)  # (partition, offset) -> times
    reasons: Counter = field(default_factory=Counter)
    files: set[str] = field(default_factory=set)


def read_landed(settings: Settings) -> Landed:
    """Everything of the dataset in HDFS, by event id (quarantine lines by partition and offset)."""
    fs = hdfs.webhdfs(settings)
    landed = Landed()
    raw, late, quarantine = data_roots(settings)
    for root in (raw, late, quarantine):
        if fs.status(root, strict=False) is None:
            continue
        for day in fs.list(root):
            if not day.startswith("dt="):
                continue
            for name in fs.list(f"{root}/{day}"):
                if not parse_part_name(name):
                    continue
                path = f"{root}/{day}/{name}"
                landed.files.add(path)
                with fs.read(path) as reader:
                    for line in reader.read().splitlines():
                        if not line.strip():
                            continue
                        record = json.loads(line)
                        if root == quarantine:
                            landed.quarantined[(record["partition"], record["offset"])] += 1
                            landed.reasons[record["reason"]] += 1
                        else:
                            landed.events[record["event_id"]] += 1
                            landed.late += root == late
    return landed


@dataclass
class Verdict:
    acknowledged: int
    lost: int
    duplicated: int
    quarantined: int

    def assert_clean(self) -> None:
        assert (self.lost, self.duplicated) == (0, 0), self


def check(settings: Settings, acknowledged: set[str], poison: int = 0) -> Verdict:
    """acknowledged = landed + late (+ ``poison`` records quarantined, each once); nothing else."""
    landed = read_landed(settings)
    lost = len(acknowledged - set(landed.events))
    duplicated = sum(n - 1 for n in landed.events.values() if n > 1) + sum(
        n - 1 for n in landed.quarantined.values() if n > 1
    )
    unexpected = set(landed.events) - acknowledged
    assert not unexpected, f"landed events nobody acknowledged: {sorted(unexpected)[:5]}"
    assert len(landed.quarantined) == poison, (len(landed.quarantined), poison, landed.reasons)
    return Verdict(len(acknowledged) + poison, lost, duplicated, len(landed.quarantined))


def lander_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "websessions.cli", "land", "run", *args]


def lander_env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {**os.environ, **settings.as_env()}
    env.update({f"WEBSESSIONS_{k.upper()}": v for k, v in overrides.items()})
    return env


def run_lander(settings: Settings, idle_exit_s: float = 3.0, batch_max: int = 500, timeout_s: float = 120, **env):
    """Run a lander until it has been idle ``idle_exit_s`` (or it dies); returns the completed process."""
    return subprocess.run(
        lander_cmd("--idle-exit", str(idle_exit_s), "--batch-max", str(batch_max)),
        env=lander_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
