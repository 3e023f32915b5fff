"""The shared session vectors: the cases the reference sessionizer, Flink and Spark must all pass.

One directory per case: ``case.json`` (description, ``timeout_s``, ``allowed_lateness_s``),
``events.jsonl`` (raw events, in arrival order) and ``expected_sessions.jsonl`` (one record per
session, sorted by host, ip, start; the fields are :data:`VECTOR_FIELDS`). The files are written by
``make_vectors.py`` from sessions built by construction, never by running an implementation.

    from tests.vectors.loader import load_cases, comparable
    for case in load_cases():
        got = sorted((comparable(s) for s in my_sessions(case.events, case.timeout_s)), key=sort_key)
        assert got == case.expected
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent
VECTOR_FIELDS = (
    "session_id",
    "host",
    "ip",
    "start",
    "end",
    "duration_s",
    "events",
    "pages",
    "first_url",
    "last_url",
    "referrer",
    "errors",
    "dt",
)


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    events: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    timeout_s: int
    allowed_lateness_s: int
    path: Path

    @property
    def events_path(self) -> Path:
        """The raw events file, for jobs that read files (e.g. a Spark batch over a directory)."""
        return self.path / "events.jsonl"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_cases() -> list[Case]:
    """Every case, by name."""
    cases = []
    for directory in sorted(p for p in VECTORS_DIR.iterdir() if (p / "case.json").is_file()):
        meta = json.loads((directory / "case.json").read_text(encoding="utf-8"))
        cases.append(
            Case(
                name=directory.name,
                description=meta["description"],
                events=_jsonl(directory / "events.jsonl"),
                expected=_jsonl(directory / "expected_sessions.jsonl"),
                timeout_s=meta["timeout_s"],
                allowed_lateness_s=meta["allowed_lateness_s"],
                path=directory,
            )
        )
    return cases


def comparable(session: dict[str, Any]) -> dict[str, Any]:
    """A session record (e.g. ``Session.to_dict()``) reduced to the fields the vectors fix."""
    return {name: session[name] for name in VECTOR_FIELDS}


def sort_key(record: dict[str, Any]) -> tuple[str, str, str]:
    """The order of ``expected_sessions.jsonl``: host, ip, start."""
    return (record["host"], record["ip"], record["start"])
