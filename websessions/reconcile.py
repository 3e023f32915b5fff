"""Speed vs batch for day D: which sessions both layers saw, which only one, event-count drift, and why.

The speed view is HBase's sessions that start on D; the batch view is Postgres' ``sessions`` of D
(the truth). Sessions match by ``session_id`` (host, ip, start). Per host the result is stored in
Postgres ``reconciliation`` (one row per day and host, replaced on rerun) with its differences counted
per cause, and each difference in ``reconciliation_differences``. A day whose mismatch ratio —
(speed-only + batch-only + matched with a different event count) / batch sessions — is over
``settings.reconcile_max_mismatch_ratio`` fails with the numbers that broke it. Once a day is
reconciled, ``domain_report`` serves the batch view for it.

Every difference is attributed to a cause (:func:`attribute`), first that applies:

- ``open_session`` — the speed layer still holds the key's session open (it may still grow or merge);
- ``late_in_speed`` — the speed layer counted an event of the key late (recorded in HBase with its
  time) within the timeout of the differing sessions: batch, which has no lateness, sessionized it;
- ``quarantined`` — the session is longer than ``max_session_days``: batch quarantines it;
- ``dedupe`` — the speed session has more events than batch's (a copy counted twice);
- ``unknown`` — none of these: a defect to investigate (zero on a clean day, asserted by the tests).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

from websessions.sessions import OPEN, Session, SessionRule
from websessions.settings import Settings

CAUSES = ("open_session", "late_in_speed", "quarantined", "dedupe", "unknown")


@dataclass(frozen=True)
class Difference:
    """One session the layers disagree on: ``kind`` speed_only, batch_only or event_count; its ``cause``."""

    host: str
    ip: str
    session_id: str
    kind: str
    cause: str
    speed_events: int | None = None
    batch_events: int | None = None


@dataclass(frozen=True)
class HostReconciliation:
    host: str
    matched: int = 0
    speed_only: int = 0
    batch_only: int = 0
    event_count_diffs: int = 0
    speed_events: int = 0
    batch_events: int = 0
    causes: dict[str, int] = field(default_factory=dict)

    @property
    def mismatches(self) -> int:
        return self.speed_only + self.batch_only + self.event_count_diffs

    @property
    def mismatch_ratio(self) -> float:
        batch_sessions = self.matched + self.batch_only
        if batch_sessions == 0:
            return 0.0 if self.speed_only == 0 else 1.0
        return self.mismatches / batch_sessions


class ReconciliationFailed(RuntimeError):
    pass


def compare(speed: Iterable[Session], batch: Iterable[Session]) -> dict[str, HostReconciliation]:
    """Per host: sessions matched by id, seen by one layer only, and matched with other event counts."""
    speed_by_id = {s.session_id: s for s in speed}
    batch_by_id = {s.session_id: s for s in batch}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sid, s in speed_by_id.items():
        c = counts[s.host]
        c["speed_events"] += s.events
        other = batch_by_id.get(sid)
        if other is None:
            c["speed_only"] += 1
        else:
            c["matched"] += 1
            c["event_count_diffs"] += other.events != s.events
    for sid, b in batch_by_id.items():
        c = counts[b.host]
        c["batch_events"] += b.events
        if sid not in speed_by_id:
            c["batch_only"] += 1
    return {host: HostReconciliation(host, **c) for host, c in sorted(counts.items())}


def differences(speed: Iterable[Session], batch: Iterable[Session]) -> list[tuple[str, Session | None, Session | None]]:
    """The sessions the layers disagree on: (kind, speed session, batch session)."""
    speed_by_id = {s.session_id: s for s in speed}
    batch_by_id = {s.session_id: s for s in batch}
    found = []
    for sid, s in sorted(speed_by_id.items()):
        b = batch_by_id.get(sid)
        if b is None:
            found.append(("speed_only", s, None))
        elif b.events != s.events:
            found.append(("event_count", s, b))
    found += [("batch_only", None, b) for sid, b in sorted(batch_by_id.items()) if sid not in speed_by_id]
    return found


def attribute(
    speed: Iterable[Session],
    batch: Iterable[Session],
    late: Iterable[tuple[str, str, int]],
    rule: SessionRule,
) -> list[Difference]:
    """Each difference with its cause (the module docstring lists them, in the order they are tried).

    ``late``: (host, ip, event time ms) of the events the speed layer counted late.
    """
    speed = list(speed)
    open_by_key: dict[tuple[str, str], list[Session]] = defaultdict(list)
    for s in speed:
        if s.status == OPEN:
            open_by_key[(s.host, s.ip)].append(s)
    late_by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for host, ip, t in late:
        late_by_key[(host, ip)].append(t)
    timeout = rule.timeout_ms

    def near(sessions: list[Session], times: list[int]) -> bool:
        return any(x.start_ms - timeout <= t <= x.end_ms + timeout for x in sessions for t in times)

    result = []
    for kind, s, b in differences(speed, batch):
        mine = [x for x in (s, b) if x is not None]
        key = (mine[0].host, mine[0].ip)
        if (s is not None and s.status == OPEN) or near(open_by_key.get(key, []), [x.start_ms for x in mine]):
            cause = "open_session"
        elif near(mine, late_by_key.get(key, [])):
            cause = "late_in_speed"
        elif s is not None and b is None and rule.is_overlong(s):
            cause = "quarantined"
        elif s is not None and b is not None and s.events > b.events:
            cause = "dedupe"
        else:
            cause = "unknown"
        result.append(Difference(key[0], key[1], mine[0].session_id, kind, cause,
                                 s.events if s else None, b.events if b else None))  # fmt: skip
    return result


def with_causes(results: dict[str, HostReconciliation], diffs: list[Difference]) -> dict[str, HostReconciliation]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in diffs:
        counts[d.host][d.cause] += 1
    return {host: replace(r, causes=dict(counts.get(host, {}))) for host, r in results.items()}


def check(results: dict[str, HostReconciliation], max_ratio: float) -> list[str]:
    """The hosts over the threshold, each as a sentence that says why."""
    return [
        f"{r.host}: mismatch ratio {r.mismatch_ratio:.3f} > {max_ratio} "
        f"(speed-only {r.speed_only}, batch-only {r.batch_only}, event-count differences {r.event_count_diffs}, "
        f"matched {r.matched})"
        for r in results.values()
        if r.mismatch_ratio > max_ratio
    ]


def store(
    settings: Settings,
    dt: str,
    results: dict[str, HostReconciliation],
    max_ratio: float,
    diffs: Iterable[Difference] = (),
) -> None:
    """Replace day ``dt``'s rows of ``reconciliation`` and ``reconciliation_differences`` in one transaction."""
    import json

    from websessions.db_migrations import serving_connection

    with serving_connection(settings) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM reconciliation WHERE dt = %s", (dt,))
        cur.execute("DELETE FROM reconciliation_differences WHERE dt = %s", (dt,))
        for r in results.values():
            row = asdict(r)
            cur.execute(
                "INSERT INTO reconciliation (dt, host, matched, speed_only, batch_only, event_count_diffs,"
                " speed_events, batch_events, mismatch_ratio, passed, causes)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    dt, r.host, row["matched"], row["speed_only"], row["batch_only"], row["event_count_diffs"],
                    row["speed_events"], row["batch_events"], r.mismatch_ratio, r.mismatch_ratio <= max_ratio,
                    json.dumps(r.causes),
                ),
            )  # fmt: skip
        cur.executemany(
            "INSERT INTO reconciliation_differences (dt, host, ip, session_id, kind, cause, speed_events,"
            " batch_events) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(dt, d.host, d.ip, d.session_id, d.kind, d.cause, d.speed_events, d.batch_events) for d in diffs],
        )
        conn.commit()


def reconcile_day(settings: Settings, dt: str, fail: bool = True) -> dict[str, HostReconciliation]:
    """Compare the layers for ``dt``, store the result, and fail over the threshold (if ``fail``)."""
    from websessions.stores.hbase_sessions import HBaseSessions
    from websessions.stores.postgres_sessions import sessions_of_day

    with HBaseSessions(settings) as store_:
        speed = store_.sessions_of_day(dt)
        late = store_.late_events_near(dt)
    batch = sessions_of_day(settings, dt)
    diffs = attribute(speed, batch, late, SessionRule.from_settings(settings))
    results = with_causes(compare(speed, batch), diffs)
    max_ratio = settings.reconcile_max_mismatch_ratio
    store(settings, dt, results, max_ratio, diffs)
    problems = check(results, max_ratio)
    if fail and problems:
        raise ReconciliationFailed(f"reconciliation of {dt} failed: " + "; ".join(problems))
    return results
