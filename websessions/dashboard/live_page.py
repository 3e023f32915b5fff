"""Live: per monitored host, what the speed layer counts now and over the last hour; recent sessions; lookup."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from websessions.dashboard import reads
from websessions.dashboard.tables import css_key, download, sessions_frame
from websessions.live_top import WINDOWS_MIN
from websessions.live_view import CURRENT_MINUTES, LiveView, monitored_hosts
from websessions.settings import get_settings

ALERT_HOURS = 24


def _status(view: LiveView) -> None:
    text = view.speed.describe(view.as_of_ms / 1000)
    (st.success if view.speed.state == "running" else st.warning)(text, icon=None)
    if view.empty:
        newest = view.newest_minute
        since = f"; the newest minute with events is {newest.at} UTC ({newest.host})" if newest else ""
        st.info(f"No events in the last {view.window_min} minutes{since}.")


def _tiles(view: LiveView) -> None:
    for h in view.hosts:
        with st.container(border=True, key=f"live-{css_key(h.host)}"):
            name, users, epm, errors, open_ = st.columns([2, 1, 1, 1, 1])
            name.markdown(f"**{h.host}**")
            name.caption(f"newest minute {h.latest.at} UTC" if h.latest else "no metrics yet")
            users.metric("active users", h.active_users)
            epm.metric("events/min", h.events_per_minute)
            errors.metric(f"error rate ({CURRENT_MINUTES} min)", f"{h.error_rate:.1%}")
            open_.metric("open sessions", h.open_sessions)


def _series(view: LiveView) -> None:
    rows = [
        {"minute": pd.Timestamp(m.minute * 60_000, unit="ms"), "host": h.host, "events": m.events,
         "active users": m.active_users, "error rate": m.error_rate}
        for h in view.hosts for m in h.minutes
    ]  # fmt: skip
    if not rows:
        return  # said above: no events in the window, never a blank chart
    frame = pd.DataFrame(rows)
    st.subheader(f"Last {view.window_min} minutes")
    last = view.as_of_ms // 60_000
    # Every minute of the window, 0 where a host had no events (a line, not scattered points).
    minutes = pd.to_datetime([(last - n) * 60_000 for n in range(view.window_min - 1, -1, -1)], unit="ms")
    hosts = [h.host for h in view.hosts]
    measure = st.radio("per minute", ("events", "active users", "error rate"), horizontal=True, key="live_measure")
    series = frame.pivot_table(index="minute", columns="host", values=measure, fill_value=0)
    st.line_chart(series.reindex(index=minutes, columns=hosts, fill_value=0))
    download(frame, "live_minutes.csv", "the last hour per minute")


def _top_lists(view: LiveView) -> None:
    """Per host of the view, its top pages and referrers of the last 5 or 60 minutes (websessions live --top)."""
    if view.empty:
        return
    minutes = st.radio("Top pages / Top referrers, last", WINDOWS_MIN, index=len(WINDOWS_MIN) - 1, horizontal=True,
                       format_func=lambda m: f"{m} minutes", key="live_top_minutes")  # fmt: skip
    for h in view.hosts:
        lists = reads.top_lists(h.host, minutes)
        with st.container(key=f"top-{css_key(h.host)}"):
            pages, referrers = st.columns(2)
            for column, which, unit in ((pages, "pages", "views"), (referrers, "referrers", "sessions")):
                column.markdown(f"**{h.host}: top {which}**")
                rows = lists.of(which)
                if rows:
                    column.table(pd.DataFrame(rows, columns=[which[:-1], unit]))
                else:
                    column.caption(f"no {which} in the last {minutes} minutes")


def _alerts(host: str | None) -> None:
    st.subheader(f"Alerts (last {ALERT_HOURS} hours)")
    found = reads.alerts(ALERT_HOURS, host)
    if not found:
        st.caption("No alert: no spike, drop, silence or error-rate anomaly detected (websessions alerts).")
        return
    rows = [{"minute (UTC)": a.alert.at, "host": a.alert.host, "kind": a.alert.kind, "observed": a.alert.observed,
             "expected": a.alert.expected, "score": round(a.alert.score, 1)} for a in found]  # fmt: skip
    with st.container(key="alerts"):
        st.table(pd.DataFrame(rows))


@st.fragment(run_every=get_settings().dashboard_refresh_s)
def live_numbers(host: str | None) -> None:
    view = reads.live(host)
    st.caption(f"as of {time.strftime('%H:%M:%S', time.gmtime(view.as_of_ms / 1000))} UTC, refreshed every "
               f"{get_settings().dashboard_refresh_s}s")  # fmt: skip
    _status(view)
    _tiles(view)
    _alerts(host)
    _series(view)
    _top_lists(view)
    st.subheader("Most recent sessions")
    sessions = reads.latest_sessions(host)
    if sessions:
        st.table(sessions_frame(sessions))
    else:
        st.info("No sessions in the speed layer's store" + (f" for {host}." if host else "."))


def _lookup() -> None:
    st.subheader("Look up a user")
    with st.form("lookup"):
        ip_col, host_col = st.columns(2)
        ip = ip_col.text_input("ip")
        host = host_col.selectbox("host", monitored_hosts(get_settings()), key="lookup_host")
        submitted = st.form_submit_button("Find sessions")
    if submitted and ip.strip():
        sessions = reads.lookup(ip.strip(), host)
        if sessions:
            st.caption(f"recent sessions of {ip.strip()} on {host}, newest first")
            st.table(sessions_frame(sessions))
        else:
            st.info(f"No sessions of {ip.strip()} on {host} in the speed layer's store.")


def render() -> None:
    st.title("Live traffic")
    choice = st.selectbox("host", ["all monitored hosts", *monitored_hosts(get_settings())], key="live_host")
    live_numbers(None if choice == "all monitored hosts" else choice)
    _lookup()
