"""The speed layer's per-session state is capped (``speed_max_ids_per_session``,
``speed_max_urls_per_session``): an endless session with unique urls keeps a bounded set of urls and
event times, and the record stays exact where ``docs/sessions.md`` says it does (no services: a local
Flink running the real operator over a bounded file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaming import sessions_job
from streaming.updates import session_of_update
from tests.batch.rawfiles import canonical
from websessions.platform.artifacts import classpath
from websessions.sessionizer import sessionize
from websessions.sessions import SessionRule

pytest.importorskip("pyflink")

T0 = 1_795_168_800_000  # 2026-11-20T10:00:00.000Z
EVENTS = 20_000
CAP = 50
RULE = SessionRule(timeout_ms=300_000, allowed_lateness_ms=600_000)


def endless_session():
    """One key, 20,000 events 100 ms apart (one 33-minute session), each with its own id and url; a copy
    of a kept event (the 11th, sent after the 21st) and a copy of an event beyond the id cap (sent 100 s
    after it, after the last event) follow their originals."""
    events = [
        canonical({"event_time": _iso(T0 + i * 100), "ip": "198.51.100.200", "host": "bot.example",
                   "url": f"/page/{i}", "event_id": f"bot-{i}", "status": 500 if i % 1000 == 0 else 200})
        for i in range(EVENTS)
    ]  # fmt: skip
    kept_copy = canonical({**_raw(events[10]), "url": "/copy-of-a-kept-event"})
    lost_copy = canonical({**_raw(events[19_001]), "url": "/copy-of-an-event-beyond-the-cap"})
    return [*events[:21], kept_copy, *events[21:], lost_copy]


def _iso(ms: int) -> str:
    from websessions.events import format_time_ms

    return format_time_ms(ms)


def _raw(event) -> dict:
    return {k: v for k, v in event.to_dict().items() if v is not None}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    from websessions.settings import load_settings

    settings = load_settings(create_secrets=False)
    path = Path(tmp_path_factory.mktemp("bounded")) / "events.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in endless_session()), encoding="utf-8")
    t_env = sessions_job.stream_table_environment()
    sessions_job.configure(
        t_env,
        settings,
        jars=[*classpath(settings, "flink-connectors"), sessions_job.operator_jar(settings)],
        checkpoint_dir=None,
    )
    t_env.get_config().set("parallelism.default", "1")
    raw = sessions_job.file_source(t_env, path, RULE, name="endless")
    caps = sessions_job.StateCaps(max_ids_per_session=CAP, max_urls_per_session=CAP)
    updates = sessions_job.speed_updates(raw, RULE, emit_interval_ms=0, kafka_metadata=False, caps=caps)
    names = [name for name, _ in sessions_job.UPDATE_COLUMNS]
    with updates.execute().collect() as result:
        return [dict(zip(names, row, strict=True)) for row in result if row[1] in ("open", "session")]


def test_the_url_set_of_an_endless_session_never_exceeds_the_cap(rows: list[dict]) -> None:
    live = [r for r in rows if r["kind"] == "open"]
    assert len(live) >= EVENTS  # a live row per event: the set was observed all along
    assert max(r["pages"] for r in live) == CAP
    assert [r["pages"] for r in live[:CAP]] == list(range(1, CAP + 1))  # exact below the cap


def test_beyond_the_caps_events_count_exactly_and_only_lost_copies_count_again(rows: list[dict]) -> None:
    (closed,) = [session_of_update(r) for r in rows if r["kind"] == "session"]
    (truth,) = sessionize(endless_session(), RULE)  # the batch: no cap
    assert truth.events == EVENTS and truth.pages == EVENTS
    # The copy of a kept event is recognised; the copy of an event whose id was not kept counts again.
    assert closed.events == EVENTS + 1
    assert closed.pages == CAP  # min(distinct urls, cap)
    exact = ("session_id", "start", "end", "duration_s", "first_url", "last_url", "referrer", "user_agent", "geo",
             "errors", "status", "dt")  # fmt: skip
    assert {k: closed.to_dict()[k] for k in exact} == {k: truth.to_dict()[k] for k in exact}
