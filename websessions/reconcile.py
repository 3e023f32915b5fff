"""Speed vs batch for day D: which sessions both layers saw, which only one, and event-count drift.

The speed view is HBase's sessions that start on D; the batch view is Postgres' ``sessions`` of D
(the truth). Sessions match by ``session_id`` (host, ip, start). Per host the result is stored in
Postgres ``reconciliation`` (one row per day and host, replaced on rerun). A day whose mismatch
ratio — (speed-only + batch-only + matched with a different event count) / batch sessions — is
over ``settings.reconcile_max_mismatch_ratio`` fails with the numbers that broke it. Once a day is
reconciled, ``domain_report`` serves the batch view for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from websessions.sessions import Session
from websessions.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS reconciliation (
    dt date NOT NULL,
    host text NOT NULL,
    matched integer NOT NULL,
    speed_only integer NOT NULL,
    batch_only integer NOT NULL,
    event_count_diffs integer NOT NULL,
    speed_events bigint NOT NULL,
    batch_events bigint NOT NULL,
    mismatch_ratio double precision NOT NULL,
    passed boolean NOT NULL,
    reconciled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dt, host)
);
"""


@dataclass(frozen=True)
class HostReconciliation:
    host: str
    matched: int = 0
    speed_only: int = 0
    batch_only: int = 0
    event_count_diffs: int = 0
    speed_events: int = 0
    batch_events: int = 0

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


def check(results: dict[str, HostReconciliation], max_ratio: float) -> list[str]:
    """The hosts over the threshold, each as a sentence that says why."""
    return [
        f"{r.host}: mismatch ratio {r.mismatch_ratio:.3f} > {max_ratio} "
        f"(speed-only {r.speed_only}, batch-only {r.batch_only}, event-count differences {r.event_count_diffs}, "
        f"matched {r.matched})"
        for r in results.values()
        if r.mismatch_ratio > max_ratio
    ]


def store(settings: Settings, dt: str, results: dict[str, HostReconciliation], max_ratio: float) -> None:
    """Replace day ``dt``'s rows of ``reconciliation`` in one transaction."""
    from websessions.clients import postgres

    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
        cur.execute("DELETE FROM reconciliation WHERE dt = %s", (dt,))
        for r in results.values():
            row = asdict(r)
            cur.execute(
                "INSERT INTO reconciliation (dt, host, matched, speed_only, batch_only, event_count_diffs,"
                " speed_events, batch_events, mismatch_ratio, passed)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    dt, r.host, row["matched"], row["speed_only"], row["batch_only"], row["event_count_diffs"],
                    row["speed_events"], row["batch_events"], r.mismatch_ratio, r.mismatch_ratio <= max_ratio,
                ),
            )  # fmt: skip
        conn.commit()


def reconcile_day(settings: Settings, dt: str, fail: bool = True) -> dict[str, HostReconciliation]:
    """Compare the layers for ``dt``, store the result, and fail over the threshold (if ``fail``)."""
    from websessions.stores.hbase_sessions import HBaseSessions
    from websessions.stores.postgres_sessions import sessions_of_day

    with HBaseSessions(settings) as store_:
        speed = store_.sessions_of_day(dt)
    batch = sessions_of_day(settings, dt)
    results = compare(speed, batch)
    max_ratio = settings.reconcile_max_mismatch_ratio
    store(settings, dt, results, max_ratio)
    problems = check(results, max_ratio)
    if fail and problems:
        raise ReconciliationFailed(f"reconciliation of {dt} failed: " + "; ".join(problems))
    return results
