"""The History page's analytics of the batch layer (Postgres): hourly trend, recommendations, agents and
bots, actions, load times and the day's notable sessions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from websessions.dashboard import reads
from websessions.dashboard.tables import download, sessions_frame

HOURLY_MEASURES = ("events", "sessions_started", "active_users", "errors")


def hourly(dt_from: str, dt_to: str, host: str | None) -> None:
    st.subheader("Hourly trend")
    points = reads.hourly(dt_from, dt_to, host)
    if not points:
        st.info("No hourly series for this range (has the nightly batch run?).")
        return
    frame = pd.DataFrame([p.__dict__ for p in points])
    frame["hour"] = pd.to_datetime(frame["hour"])
    measure = st.radio("measure", HOURLY_MEASURES, horizontal=True, key="hourly_measure")
    st.line_chart(frame.pivot_table(index="hour", columns="host", values=measure, fill_value=0))
    download(frame, "hourly.csv", "the hourly series")


def recommendations(dt_from: str, dt_to: str, host: str | None) -> None:
    st.subheader("Visitors of this page also viewed")
    if not host:
        st.info("Pick a host to see its pages' recommendations.")
        return
    pages = [row[1] for row in reads.tops(dt_from, dt_to, host)["pages"].rows]
    if not pages:
        st.info("No pages of this host in the batch tables for this range.")
        return
    page = st.selectbox("page (its top pages)", pages, key="recommend_page")
    found = reads.recommendations(host, page)
    if not found:
        st.info(f"No co-visited pages for {page}.")
        return
    frame = pd.DataFrame([{"rank": r.rank, "also viewed": r.also_viewed, "sessions": r.sessions, "day": r.dt}
                          for r in found])  # fmt: skip
    with st.container(key="recommendations"):
        st.table(frame)
    download(frame, "recommendations.csv", "the recommendations")


def agents_and_actions(dt_from: str, dt_to: str, host: str | None) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Agents and bots")
        shares = reads.agents(dt_from, dt_to, host)
        if shares:
            frame = pd.DataFrame([{"host": a.host, "browser": a.agent.browser_family, "os": a.agent.os_family,
                                   "device": a.agent.device_class, "bot": a.agent.is_bot, "sessions": a.sessions,
                                   "events": a.events} for a in shares])  # fmt: skip
            by_host = frame.groupby("host").apply(
                lambda g: g.loc[g["bot"], "sessions"].sum() / g["sessions"].sum(), include_groups=False
            )
            st.caption("bot share of sessions: " + ", ".join(f"{h} {v:.1%}" for h, v in by_host.items()))
            st.bar_chart(frame.pivot_table(index="device", columns="host", values="sessions", aggfunc="sum"))
            download(frame, "agents.csv", "agents")
        else:
            st.info("No agent classes for this range.")
    with right:
        st.subheader("Actions (event types)")
        counts = reads.event_types(dt_from, dt_to, host)
        if counts:
            frame = pd.DataFrame([c.__dict__ for c in counts])
            st.bar_chart(frame.pivot_table(index="event_type", columns="host", values="events", aggfunc="sum"))
            download(frame, "event_types.csv", "event types")
        else:
            st.info("No event types for this range.")


def performance_and_sessions(dt: str, host: str | None) -> None:
    st.subheader(f"Load times on {dt} (nearest-rank percentiles, ms)")
    times = reads.load_times(dt, host)
    if times:
        frame = pd.DataFrame([{"host": t.host, "page": t.page or "(all pages)", "samples": t.samples,
                               "p50": t.p50_ms, "p95": t.p95_ms, "p99": t.p99_ms} for t in times])  # fmt: skip
        st.table(frame)
        download(frame, "load_times.csv", "load times")
    else:
        st.info(f"No load times for {dt}.")
    st.subheader(f"Notable sessions of {dt}")
    by = st.radio("by", ("events", "duration"), horizontal=True, key="notable_by")
    notable = reads.notable_sessions(dt, host, by)
    if notable:
        frame = sessions_frame([n.session for n in notable])
        frame.insert(2, "bot", ["bot" if n.is_bot else "" for n in notable])
        st.table(frame)
        download(frame, "notable_sessions.csv", "notable sessions")
    else:
        st.info(f"No batch sessions on {dt}.")
