"""Pipeline: is it healthy and complete — services, lander, speed layer, nightly runs, reconciliation, audit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from websessions.dashboard import reads

AUDIT_DAYS = 3


def _since(epoch_s: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch_s)) if epoch_s else "never"


def _services() -> None:
    st.subheader("Services")
    health = reads.services()
    rows = [{"service": h.name, "healthy": "yes" if h.healthy else "NO", "detail": h.detail} for h in health]
    st.container(key="services").table(pd.DataFrame(rows))


def _layers() -> None:
    lander, speed = reads.lander(), reads.speed()
    left, right = st.columns(2)
    with left:
        st.subheader("Raw lander")
        # The lander reports when it lands a batch: a quiet topic and a stopped lander look alike here.
        state = ("landing" if lander.running() else
                 f"idle or stopped: last report {_since(lander.updated_at)}")  # fmt: skip
        st.markdown(f"**{state}** · last complete day **{lander.last_complete_day or 'none'}**")
        a, b, c = st.columns(3)
        a.metric("lag (events)", "-" if lander.lag is None else lander.lag)
        b.metric("landed", lander.counters.get("landed", 0))
        c.metric("late", lander.counters.get("late", 0))
        st.caption(f"quarantined {lander.counters.get('quarantined', 0)} · gaps {lander.counters.get('gaps', 0)}"
                   " (counters of the lander's current run)")  # fmt: skip
    with right:
        st.subheader("Speed layer")
        st.markdown(f"**{speed.describe()}** {speed.job_status}")
        a, b, c = st.columns(3)
        a.metric("source lag (events)", speed.counters.get("source_lag", "-"))
        b.metric("events read", speed.counters.get("records", 0))
        c.metric("sessions closed", speed.counters.get("sessions_closed", 0))
        st.caption(" · ".join(f"{name} {speed.counters.get(key, 0)}" for name, key in
                              (("late", "late"), ("invalid", "invalid"), ("undecodable", "undecodable"),
                               ("open", "open_sessions"))))  # fmt: skip


def _nightly() -> None:
    st.subheader("Nightly runs (web_sessions_nightly)")
    runs = reads.nightly_runs()
    if not runs:
        st.info("No nightly run yet.")
        return
    lines = ["| day | state | started | ended | run |", "|---|---|---|---|---|"]
    for r in runs:
        state = {"success": "success", "failed": "**FAILED**"}.get(r.state, r.state)
        run_id = r.run_id.replace("_", "\\_")  # literal underscores, not emphasis
        lines.append(f"| {r.day} | {state} | {r.started or ''} | {r.ended or ''} | [{run_id}]({r.url}) |")
    with st.container(key="nightly-runs"):
        st.markdown("\n".join(lines))


def _completeness() -> None:
    today = datetime.now(UTC).date()
    st.subheader("Reconciliation per day")
    rows = reads.reconciliation((today - timedelta(days=13)).isoformat(), today.isoformat())
    if rows:
        st.table(pd.DataFrame([{"day": r.dt, "host": r.host, "matched": r.matched, "speed-only": r.speed_only,
                                "batch-only": r.batch_only, "event-count diffs": r.event_count_diffs,
                                "mismatch": f"{r.mismatch_ratio:.3f}", "passed": "yes" if r.passed else "NO",
                                "causes": ", ".join(f"{k} {v}" for k, v in sorted(r.causes.items()))}
                               for r in rows]))  # fmt: skip
    else:
        st.info("Nothing reconciled in the last two weeks.")
    st.subheader("Audit per day: produced = landed + late + quarantined")
    days = tuple((today - timedelta(days=n)).isoformat() for n in range(AUDIT_DAYS))
    audits = reads.audits(days)
    with st.container(key="audit"):
        st.table(pd.DataFrame([{"day": a.dt, "produced": a.produced, "landed": a.landed, "late": a.late,
                                "quarantined": a.quarantined, "dead-lettered": a.dead_lettered,
                                "gap": sum(a.gaps.values()), "difference": a.difference,
                                "balanced": "yes" if a.balanced else "NO",
                                "complete": "yes" if a.complete else "not yet"} for a in audits]))  # fmt: skip
    st.caption("dead-lettered: events rejected before Kafka's events topic (not in 'produced'); the audit scans "
               f"Kafka and is cached {reads.AUDIT_TTL_S}s.")  # fmt: skip


def render() -> None:
    st.title("Pipeline")
    _services()
    _layers()
    _nightly()
    _completeness()
