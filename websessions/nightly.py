"""The work of the nightly recomputation's steps (the DAG ``web_sessions_nightly`` only orchestrates).

Each step is idempotent and keyed by the day ``dt`` (the DAG run's data interval), never by "now".
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from websessions.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: The settings a run may point elsewhere through its conf, ``{"settings": {name: value}}``: where the
#: day's data is read and written (a private dataset, e.g. a test's), never hosts or credentials.
RUN_SETTINGS = ("raw_events_dir", "hive_database", "hbase_table_sessions", "hbase_table_live_metrics", "postgres_db")


def run_overrides(conf: Mapping | None) -> dict[str, str]:
    """The run's ``conf["settings"]``, checked against :data:`RUN_SETTINGS`."""
    overrides = dict((conf or {}).get("settings") or {})
    unknown = sorted(set(overrides) - set(RUN_SETTINGS))
    if unknown:
        raise ValueError(f"a run may override only {', '.join(RUN_SETTINGS)}; not {', '.join(unknown)}")
    return {k: str(v) for k, v in overrides.items()}


def run_settings(conf: Mapping | None) -> Settings:
    """The settings of a DAG run: the deployment's, with the run's overrides."""
    return dataclasses.replace(get_settings(), **run_overrides(conf))


def spark_submit_conf(conf: Mapping | None, dt: str) -> dict[str, str]:
    """The ``--conf`` options of the run's Spark submit of day ``dt`` (:func:`batch.submit.submit_conf`)."""
    from batch.submit import submit_conf

    return submit_conf(run_settings(conf), dt)


def spark_submit_env(conf: Mapping | None) -> dict[str, str]:
    """The environment of the run's Spark submit: its dataset overrides (:func:`batch.submit.submit_env`)."""
    from batch.submit import submit_env

    return submit_env(run_overrides(conf))


def raw_day_state(settings: Settings, dt: str, catch_up_started: date | None = None) -> str:
    """``complete`` once the lander marked raw day ``dt`` complete; ``empty`` when ``dt`` has no raw
    data at all while a later day is already complete (the watermark passed it: no event can still
    come), or when this is a catch-up run (``catch_up_started``: the day its scheduled run started)
    more than ``days_late_allowed + 1`` days after ``dt`` (a day before the lander's first data: a
    fresh deployment's catch-up must not wait hours for each; an event of it arriving now would be
    late anyway, and a rerun of the day picks it up); ``waiting`` otherwise (logged with what it
    waits for)."""
    from websessions.clients import hdfs
    from websessions.lander import COMPLETE_MARKER, day_dir

    fs = hdfs.webhdfs(settings)
    marker = f"{day_dir(settings.raw_events_dir, dt)}/{COMPLETE_MARKER}"
    if fs.status(marker, strict=False) is not None:
        return "complete"
    if fs.status(day_dir(settings.raw_events_dir, dt), strict=False) is None:
        root = settings.raw_events_dir
        later = sorted(d for d in (fs.list(root) if fs.status(root, strict=False) else []) if d > f"dt={dt}")
        if any(fs.status(f"{root}/{d}/{COMPLETE_MARKER}", strict=False) for d in later):
            return "empty"
        if catch_up_started and (catch_up_started - date.fromisoformat(dt)).days > settings.days_late_allowed + 1:
            return "empty"
    log.info(
        "raw day %s is not complete yet: waiting for %s%s (written by the lander once the event-time "
        "watermark passes the end of the day + %ss; check `websessions land status`)",
        dt, settings.hdfs_url, marker, settings.allowed_lateness_s,
    )  # fmt: skip
    return "waiting"


def sensor_state(conf: Mapping | None, dt: str, run_type: str, started: datetime | None) -> str:
    """:func:`raw_day_state` for a DAG run: its dataset, and for a scheduled run the day it started."""
    catch_up_started = started.date() if run_type == "scheduled" and started is not None else None
    return raw_day_state(run_settings(conf), dt, catch_up_started)


def register_hive_partitions(settings: Settings, dt: str) -> list[str]:
    """Re-sync the partitions of the day's Hive tables through HiveServer2 and check ``web_sessions`` has D."""
    from batch.hive_sql import database
    from websessions.clients import hive

    table = f"{database(settings)}.web_sessions"
    with hive.connect(settings) as conn:
        cur = conn.cursor()
        cur.execute(f"MSCK REPAIR TABLE {table}")
        cur.execute(f"SHOW PARTITIONS {table}")
        partitions = [row[0] for row in cur.fetchall()]
    if f"dt={dt}" not in partitions:
        recent = partitions[-5:]
        raise RuntimeError(f"Hive web_sessions has no partition dt={dt} after the batch (latest: {recent})")
    return partitions


def check_export(settings: Settings, dt: str) -> int:
    """Postgres ``sessions`` of D must hold exactly the sessions of Hive's ``web_sessions`` partition D."""
    from batch.hive_sql import database
    from websessions.clients import hive, postgres

    with hive.connect(settings) as conn:
        cur = conn.cursor()
        day = date.fromisoformat(dt).isoformat()  # validated: it is interpolated into the query
        table = f"{database(settings)}.web_sessions"
        cur.execute(f"SELECT count(*), coalesce(sum(events), 0) FROM {table} WHERE dt = '{day}'")
        hive_sessions, hive_events = cur.fetchone()
    with postgres.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(events), 0) FROM sessions WHERE dt = %s", (dt,))
        pg_sessions, pg_events = cur.fetchone()
    if (int(hive_sessions), int(hive_events)) != (int(pg_sessions), int(pg_events)):
        raise RuntimeError(
            f"export check of {dt} failed: Hive has {hive_sessions} sessions / {hive_events} events, "
            f"Postgres has {pg_sessions} / {pg_events}"
        )
    return int(pg_sessions)


def refresh_report(settings: Settings, dt: str) -> dict[str, int]:
    """Refresh the speed layer's sessions of D-1, D and D+1 into Postgres (D-1: if its batch failed, the
    report serves it from the speed layer, now complete)."""
    from websessions.report import refresh_speed_sessions
    from websessions.stores.hbase_sessions import HBaseSessions

    refreshed = {}
    with HBaseSessions(settings) as store:
        for offset in (-1, 0, 1):
            day = (date.fromisoformat(dt) + timedelta(days=offset)).isoformat()
            refreshed[day] = refresh_speed_sessions(settings, day, store.sessions_of_day(day))
    return refreshed
