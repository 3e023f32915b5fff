"""History: the domain report over a date range, per day from its serving layer, and the batch top lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from websessions.dashboard import history_analytics, reads
from websessions.dashboard.tables import download
from websessions.live_view import monitored_hosts
from websessions.settings import get_settings
from websessions.stores.hive_history import TOP_LISTS

ALL = "all hosts"
DAILY_MEASURES = {
    "sessions": "sessions per day",
    "avg_events_per_session": "average events per session",
    "avg_duration_s": "average session duration (s)",
    "bounce_rate": "bounce rate (sessions of one event)",
}


def _filters() -> tuple[str, str, str | None, bool]:
    """The date range and host; ``?from=YYYY-MM-DD&to=...&host=...`` in the URL preset them (shareable links)."""
    today = datetime.now(UTC).date()
    params = st.query_params
    default = (
        date.fromisoformat(params.get("from", (today - timedelta(days=6)).isoformat())),
        date.fromisoformat(params.get("to", today.isoformat())),
    )
    hosts = [ALL, *monitored_hosts(get_settings())]
    left, right = st.columns([2, 1])
    picked = left.date_input("days (UTC)", default, key="history_days")
    start, end = (picked[0], picked[-1]) if isinstance(picked, tuple | list) and picked else default
    wanted = params.get("host", ALL)
    host = right.selectbox("host", hosts, index=hosts.index(wanted) if wanted in hosts else 0, key="history_host")
    no_bots = st.checkbox("exclude bots from the report (known on batch-served days)", key="history_no_bots")
    return start.isoformat(), end.isoformat(), None if host == ALL else host, no_bots


def _report(dt_from: str, dt_to: str, host: str | None, no_bots: bool) -> None:
    rows = reads.domain_report(dt_from, dt_to, host, no_bots)
    st.subheader(f"Domain report {dt_from} .. {dt_to}" + (" (bots excluded)" if no_bots else ""))
    frame = pd.DataFrame([r.as_dict() for r in rows])
    if frame.empty:
        st.info("No sessions in this range.")
        return
    st.table(frame.round(3))
    download(frame, "domain_report.csv", "the report")


def _daily(dt_from: str, dt_to: str, host: str | None, no_bots: bool) -> None:
    rows = reads.daily_report(dt_from, dt_to, host, no_bots)
    st.subheader("Per day")
    layers = reads.day_layers(dt_from, dt_to)
    if layers:
        st.table(pd.DataFrame([{"day": d.dt, "layer": d.layer, "why": d.note} for d in layers]))
    if not rows:
        st.info("No day of this range has sessions in either layer.")
        return
    frame = pd.DataFrame([{"day": r.dt, **r.row.as_dict()} for r in rows])
    with st.container(key="daily-table"):
        st.table(frame[["day", "host", "layer", "sessions", "avg_events_per_session", "avg_duration_s",
                        "bounce_rate", "unique_ips"]].round(3))  # fmt: skip
    download(frame, "daily_report.csv", "the report per day")
    measure = st.radio("chart", list(DAILY_MEASURES), format_func=DAILY_MEASURES.get, horizontal=True,
                       key="daily_measure")  # fmt: skip
    title = DAILY_MEASURES[measure]
    st.caption(title + (" — the Tech Creator hosts together and each" if not host else ""))
    st.bar_chart(frame.pivot_table(index="day", columns="host", values=measure), stack=False)
    download(frame[["day", "host", "layer", measure]], f"{measure}_per_day.csv", title)


def _top_lists(dt_from: str, dt_to: str, host: str | None) -> None:
    st.subheader("Top lists (batch layer, Hive)")
    results = reads.tops(dt_from, dt_to, host)
    for kind, spec in TOP_LISTS.items():
        result = results[kind]
        st.caption(f"{kind}: {spec.description}")
        frame = pd.DataFrame(result.rows, columns=result.columns)
        if frame.empty:
            st.info(f"No {kind} in the batch tables for this range (has the nightly batch run?).")
            continue
        with st.container(key=f"top-{kind}"):
            st.table(frame)
        download(frame, f"top_{kind}.csv", f"top {kind}")


def render() -> None:
    st.title("History")
    dt_from, dt_to, host, no_bots = _filters()
    report, tops, analytics = st.tabs(["Report", "Top lists", "Agents, actions, performance"])
    with report:
        _report(dt_from, dt_to, host, no_bots)
        _daily(dt_from, dt_to, host, no_bots)
        history_analytics.hourly(dt_from, dt_to, host)
    with tops:
        _top_lists(dt_from, dt_to, host)
        history_analytics.recommendations(dt_from, dt_to, host)
    with analytics:
        history_analytics.agents_and_actions(dt_from, dt_to, host)
        history_analytics.performance_and_sessions(dt_to, host)
