"""The dashboard's reads: the CLI's read models, cached server-side.

``st.cache_data`` keeps one result per argument tuple for every viewer of the process, so a page
open in many browsers queries HBase, Hive, Postgres and Airflow once per ``dashboard_cache_ttl_s``
(the audit, which scans Kafka, once per :data:`AUDIT_TTL_S`; Hive's top lists, which change nightly,
once per :data:`HISTORY_TTL_S`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from websessions import audit, live_top, live_view, pipeline_state, report
from websessions.analytics import LoadTimeRow
from websessions.sessions import Session
from websessions.settings import get_settings
from websessions.stores import hive_history, postgres_alerts, postgres_analytics
from websessions.stores.hbase_sessions import HBaseSessions

TTL_S = get_settings().dashboard_cache_ttl_s
AUDIT_TTL_S = 60
HISTORY_TTL_S = 60  # the batch tables change once a night


@st.cache_data(ttl=TTL_S, show_spinner=False)
def live(host: str | None) -> live_view.LiveView:
    return live_view.live_view(get_settings(), host)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def top_lists(host: str, minutes: int) -> live_top.TopLists:
    return live_top.live_top_lists(get_settings(), host, minutes)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def latest_sessions(host: str | None, limit: int = 20) -> list[Session]:
    with HBaseSessions(get_settings()) as store:
        return store.latest_sessions(host, limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def lookup(ip: str, host: str, limit: int = 10) -> list[Session]:
    with HBaseSessions(get_settings()) as store:
        return store.recent(ip, host, limit=limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def domain_report(dt_from: str, dt_to: str, host: str | None, exclude_bots: bool) -> list[report.ReportRow]:
    return report.domain_report(get_settings(), dt_from, dt_to, host, exclude_bots)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def daily_report(dt_from: str, dt_to: str, host: str | None, exclude_bots: bool) -> list[report.DailyReportRow]:
    return report.daily_report(get_settings(), dt_from, dt_to, host, exclude_bots)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def day_layers(dt_from: str, dt_to: str) -> list[report.DayLayer]:
    return report.day_layers(get_settings(), dt_from, dt_to)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def tops(dt_from: str, dt_to: str, host: str | None) -> dict[str, hive_history.TopRows]:
    return hive_history.top_all(get_settings(), dt_from, dt_to, host)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def services() -> list[pipeline_state.ServiceHealth]:
    return pipeline_state.service_health(get_settings())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def lander() -> pipeline_state.LanderState:
    return pipeline_state.lander_state(get_settings())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def speed() -> live_view.SpeedState:
    return live_view.speed_state(get_settings())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def nightly_runs(limit: int = 10) -> list[pipeline_state.NightlyRun]:
    return pipeline_state.nightly_runs(get_settings(), limit)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def reconciliation(dt_from: str, dt_to: str) -> list[pipeline_state.DayReconciliation]:
    return pipeline_state.reconciliation_days(get_settings(), dt_from, dt_to)


@st.cache_data(ttl=AUDIT_TTL_S, show_spinner=False)
def audits(days: tuple[str, ...]) -> list[audit.DayAudit]:
    return audit.audit_days(get_settings(), list(days))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def alerts(hours: int, host: str | None) -> list[postgres_alerts.StoredAlert]:
    since = datetime.now(UTC) - timedelta(hours=hours)
    return postgres_alerts.alerts_since(get_settings(), since, host=host, limit=200)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def hourly(dt_from: str, dt_to: str, host: str | None) -> list[postgres_analytics.HourPoint]:
    return postgres_analytics.hourly_series(get_settings(), dt_from, dt_to, host)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def agents(dt_from: str, dt_to: str, host: str | None) -> list[postgres_analytics.AgentShare]:
    return postgres_analytics.agent_shares(get_settings(), dt_from, dt_to, host)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def event_types(dt_from: str, dt_to: str, host: str | None) -> list[postgres_analytics.EventTypeCount]:
    return postgres_analytics.event_type_counts(get_settings(), dt_from, dt_to, host)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def load_times(dt: str, host: str | None) -> list[LoadTimeRow]:
    return postgres_analytics.load_times(get_settings(), dt, host, pages=True, limit=5)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def notable_sessions(dt: str, host: str | None, by: str) -> list[postgres_analytics.NotableSession]:
    return postgres_analytics.top_sessions(get_settings(), dt, 10, by=by, host=host)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def recommendations(host: str, url: str) -> list[postgres_analytics.Recommendation]:
    return postgres_analytics.recommendations(get_settings(), host, url)
