"""The speed layer's job over the shared vectors, in a local Flink in this process (no services).

Each case's events, in arrival order, become a JSON-lines file read by the job's own source definition
(same JSON decoding, event-time column and watermark) with the case's rule; all cases run as one job
(one pipeline per case, unioned) to pay the job start once. At the end of a bounded input Flink's
watermark jumps to the end of time, which closes every session. The live view is emitted on every
event (emit interval 0).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from tests.vectors.loader import Case
from websessions.events import Event, validate
from websessions.platform.artifacts import classpath


def canonical_events(case: Case) -> list[Event]:
    """The case's events as the ingest path puts them on Kafka (validated, canonical), in arrival order."""
    events = []
    for raw in case.events:
        outcome = validate(json.dumps(raw))
        assert isinstance(outcome, Event), outcome
        events.append(outcome)
    return events


def run_cases(cases: list[Case], directory: Path) -> dict[str, list[dict]]:
    """case name -> the job's update rows (:data:`streaming.sessions_job.UPDATE_COLUMNS`) in emission order."""
    from pyflink.common import RowKind

    from streaming import sessions_job
    from websessions.settings import load_settings

    settings = load_settings(create_secrets=False)
    t_env = sessions_job.stream_table_environment()
    sessions_job.configure(
        t_env,
        settings,
        jars=[*classpath(settings, "flink-connectors"), sessions_job.operator_jar(settings)],
        checkpoint_dir=None,
    )
    t_env.get_config().set("parallelism.default", "1")
    per_case = []
    for i, case in enumerate(cases):
        path = directory / f"{case.name}.jsonl"
        path.write_text("".join(e.to_json() + "\n" for e in canonical_events(case)), encoding="utf-8")
        raw = sessions_job.file_source(t_env, path, case.rule, name=f"events_{i}")
        updates = sessions_job.speed_updates(raw, case.rule, emit_interval_ms=0, kafka_metadata=False)
        per_case.append(sessions_job._sql(updates, f"SELECT '{case.name}' AS case_name, * FROM {updates}"))
    union = per_case[0]
    for table in per_case[1:]:
        union = union.union_all(table)
    names = ["case_name"] + [name for name, _ in sessions_job.UPDATE_COLUMNS]
    emitted: dict[str, list[dict]] = defaultdict(list)
    with union.execute().collect() as rows:
        for row in rows:
            if row.get_row_kind() == RowKind.UPDATE_BEFORE:  # the metric sums retract their previous value
                continue
            assert row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER)
            record = dict(zip(names, row, strict=True))
            emitted[record["case_name"]].append(record)
    return dict(emitted)
