"""Late data closes the loop: a day whose late area grew is recomputed through Airflow, with the reason.

When the lander lands events of a completed day D in the late area, it emits an Airflow **asset event**
on :data:`LATE_EVENTS_ASSET` (``extra``: the day, how many late events, and the run settings of its
dataset). The DAG ``web_sessions_late_data`` is scheduled on that asset: each of its runs takes the
asset events queued since the last one, sums them per day (:func:`days_to_recompute`) and re-runs
``web_sessions_nightly`` for each day, the run's note saying why ("12 late events landed for
2026-11-20"). The nightly run of D reads D's raw and late areas, so Postgres, Hive, the reconciliation
and the report of D are refreshed.

If Airflow cannot be reached, or ``web_sessions_late_data`` is paused (Airflow would drop the events), the
notices are kept and sent after a later batch (and logged); events
later than ``days_late_allowed`` days after their day never reach the late area: the lander quarantines
them (reason ``too_late``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

from websessions.settings import Settings, load_settings

log = logging.getLogger(__name__)

LATE_EVENTS_ASSET = "websessions_late_events"  # the asset's name (and URI scheme-less identity)
LATE_EVENTS_URI = "websessions://raw/late"
LATE_DATA_DAG = "web_sessions_late_data"


def dataset_overrides(settings: Settings) -> dict[str, str]:
    """The run settings (``websessions.nightly.RUN_SETTINGS``) where ``settings`` differ from the deployment's
    defaults: what a nightly run needs to recompute this dataset."""
    from websessions.nightly import RUN_SETTINGS

    defaults = load_settings(env={}, create_secrets=False)
    return {name: str(getattr(settings, name)) for name in RUN_SETTINGS
            if getattr(settings, name) != getattr(defaults, name)}  # fmt: skip


class LateNotifier:
    """Collects late events per day and sends them to Airflow as asset events (kept until sent)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pending: dict[str, int] = defaultdict(int)
        self.sent = 0
        self._api = None
        self._asset_id: int | None = None

    def add(self, dt: str, late_events: int) -> None:
        self.pending[dt] += late_events

    def flush(self) -> int:
        """Send the pending notices; returns how many days were notified (0 if Airflow is unreachable)."""
        if not self.pending:
            return 0
        from websessions.clients.airflow import AirflowApi

        try:
            if self._api is None:
                self._api = AirflowApi(self.settings)
            if self._asset_id is None:
                self._asset_id = self._api.asset_id(LATE_EVENTS_URI)
            if self._api.is_paused(LATE_DATA_DAG):  # Airflow drops asset events for a paused DAG: keep them
                log.warning("%s is paused: late events %s are kept until it is unpaused", LATE_DATA_DAG,
                            dict(self.pending))  # fmt: skip
                return 0
            overrides = dataset_overrides(self.settings)
            for dt in sorted(self.pending):
                extra = {"dt": dt, "late_events": self.pending[dt], "settings": overrides}
                self._api.emit_asset_event(self._asset_id, extra)
                log.info("notified Airflow: %d late events landed for %s", self.pending[dt], dt)
                del self.pending[dt]
                self.sent += 1
        except Exception as exc:  # noqa: BLE001 - Airflow down must not stop landing; retried next batch
            self._api = None
            log.warning("could not notify Airflow of late events %s (%s); retrying with the next batch",
                        dict(self.pending), exc)  # fmt: skip
            return 0
        return self.sent


def days_to_recompute(extras: Iterable[Mapping]) -> list[dict]:
    """The asset events' ``extra`` summed per (day, dataset): one entry per day to recompute, with its reason."""
    totals: dict[tuple[str, tuple], int] = defaultdict(int)
    for extra in extras:
        if not extra or "dt" not in extra:
            continue
        key = (str(extra["dt"]), tuple(sorted((extra.get("settings") or {}).items())))
        totals[key] += int(extra.get("late_events", 0))
    days = []
    for (dt, settings), n in sorted(totals.items()):
        reason = f"{n} late event{'' if n == 1 else 's'} landed for {dt}"
        days.append({"dt": dt, "late_events": n, "settings": dict(settings), "reason": reason})
    return days


NIGHTLY = "web_sessions_nightly"


def trigger_recompute(day: Mapping) -> str:
    """Run ``web_sessions_nightly`` for ``day["dt"]`` again, its note the reason; returns the run id."""
    from websessions.clients.airflow import AirflowApi
    from websessions.settings import get_settings

    conf = {"settings": dict(day["settings"])} if day.get("settings") else {}
    run_id = AirflowApi(get_settings()).trigger(NIGHTLY, conf=conf, day=day["dt"], note=day["reason"])
    log.info("%s: recomputing through %s run %s", day["reason"], NIGHTLY, run_id)
    return run_id


def recompute_finished(run: Mapping) -> bool:
    """True once the run ``run["run_id"]`` succeeded; raises if it failed."""
    from websessions.clients.airflow import AirflowApi
    from websessions.settings import get_settings

    state = AirflowApi(get_settings()).request("GET", f"/api/v2/dags/{NIGHTLY}/dagRuns/{run['run_id']}")["state"]
    if state == "failed":
        raise RuntimeError(f"{NIGHTLY} run {run['run_id']} of {run['dt']} failed ({run['reason']})")
    return state == "success"
