"""The shared session vectors: the cases the reference sessionizer, Flink and Spark must all pass.

One directory per case: ``case.json`` (description and the case's rule: ``timeout_s``,
``allowed_lateness_s``, ``max_session_days``), ``events.jsonl`` (raw events, in arrival order; none is
late under the case's rule) and ``expected_sessions.jsonl`` (one record per session, sorted by host, ip,
start; the fields are :data:`VECTOR_FIELDS`, every field of the session record). The files are written
by ``make_vectors.py`` from sessions built by construction, never by running an implementation.

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

from websessions.sessions import SessionRule

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
    "user_agent",
    "geo",
    "errors",
    "status",
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
    max_session_days: int
    path: Path

    @property
    def rule(self) -> SessionRule:
        """The case's rule (the vector's rule goes with the vector)."""
        return SessionRule(
            timeout_ms=self.timeout_s * 1000,
            allowed_lateness_ms=self.allowed_lateness_s * 1000,
            max_session_days=self.max_session_days,
        )

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
                max_session_days=meta["max_session_days"],
                path=directory,
            )
        )
    return cases


def every_field(session: dict[str, Any]) -> dict[str, Any]:
    """A session record (e.g. ``Session.to_dict()``) reduced to the fields the vectors fix: all of them."""
    return {name: session[name] for name in VECTOR_FIELDS}


def comparable(session: dict[str, Any]) -> dict[str, Any]:
    """Every field but ``status``: a live (open) record compares equal to the closed one it becomes."""
    return {name: session[name] for name in VECTOR_FIELDS if name != "status"}


def sort_key(record: dict[str, Any]) -> tuple[str, str, str]:
    """The order of ``expected_sessions.jsonl``: host, ip, start."""
    return (record["host"], record["ip"], record["start"])
