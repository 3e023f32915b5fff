"""The live view: what the speed layer knows right now, per monitored host.

One read model for `websessions live` and the dashboard's Live page, from the speed layer's stores
(HBase live metrics and sessions, the job's progress record). Its numbers, per host:

- **events/min** and **active users**: events and distinct ips in the newest minute of event time that
  has data within the last :data:`CURRENT_MINUTES` minutes (the current minute counts while it fills);
- **error rate**: errors / events over those last :data:`CURRENT_MINUTES` minutes;
- **open sessions**: sessions with a live view and no closed record yet;
- the per-minute series of the last ``window_min`` minutes.

The speed layer's own state says whether the numbers are current: ``running`` while the job reported
progress within :data:`STALE_AFTER_S`, else ``stopped`` since its last report (or ``never reported``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from websessions.settings import Settings
from websessions.stores.hbase_sessions import HBaseSessions, MinuteMetrics

CURRENT_MINUTES = 5
STALE_AFTER_S = 30.0


@dataclass(frozen=True)
class HostLive:
    """One monitored host's live numbers."""

    host: str
    minutes: list[MinuteMetrics]  # the window, oldest first
    open_sessions: int
    latest: MinuteMetrics | None  # its newest minute of metrics, inside the window or not
    now_minute: int

    @property
    def current(self) -> MinuteMetrics | None:
        """The newest minute within the last CURRENT_MINUTES minutes, if any."""
        recent = [m for m in self.minutes if m.minute > self.now_minute - CURRENT_MINUTES]
        return recent[-1] if recent else None

    @property
    def events_per_minute(self) -> int:
        return self.current.events if self.current else 0

    @property
    def active_users(self) -> int:
        return self.current.active_users if self.current else 0

    @property
    def error_rate(self) -> float:
        recent = [m for m in self.minutes if m.minute > self.now_minute - CURRENT_MINUTES]
        events = sum(m.events for m in recent)
        return sum(m.errors for m in recent) / events if events else 0.0


@dataclass(frozen=True)
class SpeedState:
    """The speed layer job's last progress report: ``state`` running, stopped or never reported."""

    state: str
    updated_at: float | None  # seconds since the epoch of the last report
    job_status: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    job_id: str = ""

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.updated_at is None:
            return "speed layer: never reported progress here (not started?)"
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.updated_at))
        if self.state == "running":
            return f"speed layer: running, last progress {now - self.updated_at:.0f}s ago"
        return f"speed layer: stopped since {since} ({now - self.updated_at:.0f}s without progress)"


COUNTERS = ("records", "late", "invalid", "undecodable", "sessions_closed", "open_sessions", "source_lag", "updates")


def speed_state(settings: Settings, now: float | None = None) -> SpeedState:
    """The speed layer's state from its progress record (``streaming.runner.read_stats``)."""
    from streaming.runner import read_stats

    now = time.time() if now is None else now
    stats = read_stats(settings)
    if not stats or "updated_at" not in stats:
        return SpeedState("never reported", None)
    updated = float(stats["updated_at"])
    state = "running" if now - updated <= STALE_AFTER_S else "stopped"
    counters = {k: int(stats[k]) for k in COUNTERS if isinstance(stats.get(k), int | float)}
    return SpeedState(state, updated, str(stats.get("job_status", "")), counters, str(stats.get("job_id") or ""))


@dataclass(frozen=True)
class LiveView:
    """Every monitored host's live numbers at ``as_of_ms``, and the speed layer's state."""

    as_of_ms: int
    window_min: int
    hosts: list[HostLive]
    speed: SpeedState

    @property
    def empty(self) -> bool:
        """No host has a minute of metrics in the window."""
        return not any(h.minutes for h in self.hosts)

    @property
    def newest_minute(self) -> MinuteMetrics | None:
        latest = [h.latest for h in self.hosts if h.latest is not None]
        return max(latest, key=lambda m: m.minute) if latest else None


def monitored_hosts(settings: Settings) -> list[str]:
    """The hosts the report and the live view follow (``settings.report_hosts``)."""
    return [h for h in settings.report_hosts.split(",") if h]


def live_view(settings: Settings, host: str | None = None, window_min: int = 60, now_ms: int | None = None) -> LiveView:
    """The live view of ``host`` (or of every monitored host) over the last ``window_min`` minutes."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    now_minute = now_ms // 60_000
    hosts = [host] if host else monitored_hosts(settings)
    with HBaseSessions(settings) as store:
        open_counts = store.open_session_counts()
        out = [
            HostLive(
                h,
                [m for m in store.minute_metrics(h, now_minute - window_min + 1) if m.minute <= now_minute],
                open_counts.get(h, 0),
                store.latest_minute(h),
                now_minute,
            )
            for h in hosts
        ]
    return LiveView(now_ms, window_min, out, speed_state(settings, now_ms / 1000))
