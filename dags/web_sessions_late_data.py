"""Late data closes the loop: recompute each day whose late area grew, through `web_sessions_nightly`.

Scheduled on the asset `websessions_late_events`: the raw lander emits one asset event per day and batch
in which it landed late events of a completed day (`extra`: the day, how many, the dataset's run
settings). A run takes every event queued since the previous run:

1. **days_to_recompute** — the events summed per day ("12 late events landed for 2026-11-20").
2. **recompute_day** (one mapped task per day, named by its reason) — re-runs `web_sessions_nightly` for
   the day through the API (Airflow keeps one run per logical date: the day's run is cleared and runs
   again, its note giving the reason): Spark reads the day's raw and late areas; Hive, Postgres, the
   reconciliation and the report of the day are refreshed.
3. **recomputed** (a sensor per day, in reschedule mode so that waiting holds no worker slot) — done when
   that run succeeded; fails if it failed.

Events later than `days_late_allowed` days never get here: the lander quarantines them (`too_late`).
See `websessions.late_data`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, task
from airflow.sdk.bases.sensor import PokeReturnValue

from websessions.late_data import LATE_EVENTS_ASSET, LATE_EVENTS_URI

LATE_EVENTS = Asset(name=LATE_EVENTS_ASSET, uri=LATE_EVENTS_URI)


@task
def days_to_recompute(triggering_asset_events=None) -> list[dict]:
    """The days to recompute, with their reasons, from the asset events that triggered this run."""
    from websessions.late_data import days_to_recompute as summed

    extras = [event.extra for events in (triggering_asset_events or {}).values() for event in events]
    return summed(extras)


@task(map_index_template="{{ day['reason'] }}")
def recompute_day(day: dict) -> dict:
    """Re-run `web_sessions_nightly` for the day through the API; its note is the reason."""
    from websessions.late_data import trigger_recompute

    return {**day, "run_id": trigger_recompute(day)}


@task.sensor(poke_interval=15, timeout=2 * 3600, mode="reschedule", map_index_template="{{ run['reason'] }}")
def recomputed(run: dict) -> PokeReturnValue:
    """Done when the day's nightly run succeeded (fails if it failed). Rescheduled between pokes, so
    waiting holds no worker slot the nightly run's own tasks need."""
    from websessions.late_data import recompute_finished

    return PokeReturnValue(is_done=recompute_finished(run))


with DAG(
    dag_id="web_sessions_late_data",
    schedule=[LATE_EVENTS],
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,  # the lander's notices must be acted on without anyone unpausing it
    doc_md=__doc__,
    tags=["websessions", "batch", "late-data"],
    default_args={"owner": "websessions", "retries": 2, "retry_delay": timedelta(seconds=30)},
):
    recomputed.expand(run=recompute_day.expand(day=days_to_recompute()))
