"""Anomalies in a host's traffic per minute: spikes, drops, error-rate spikes, silence. Pure: no I/O.

A :class:`HostDetector` is fed each *closed* minute of one host, in order (``events``, ``errors``; a
minute without a metrics row is fed as zeros) and returns the alerts that minute raises. The online
runner (:mod:`websessions.alerting`) feeds it the speed layer's metrics; the benchmark and the tests feed
it simulated minutes.

The baseline is the host's trailing minutes that were not anomalous (at most
``alerts_baseline_minutes``; an anomalous minute is left out, so an incident does not become its own
baseline, unless anomalies last a whole baseline: then the new level is accepted). Each minute is judged
over windows of 1, 3 and 5 minutes (``alerts_windows``): the sums of the last k observed minutes against
the k-minute sums of the baseline, by a robust z score ``(observed - median) / spread`` with
``spread = max(1.4826 * MAD, sqrt(median))`` — the MAD for the traffic's own spread (visitors read several
pages: counts vary more than Poisson's), the square root as a Poisson floor where the MAD of small counts
is 0. Short windows catch a large change in its first minute, longer ones a smaller or quieter one.

Drops have two more tests, for quiet sites, where an 80 % drop of a few users a minute stays within the
spread above: a count-aware one, the signed root of the Poisson deviance of the observed users against the
expected, ``sqrt(2 (o ln(o/e) - o + e))``, divided by ``sqrt(drop_dispersion)`` (a visitor is counted in
every minute he reads, so window sums vary more than Poisson's), and a *seasonal* expectation: the median,
over the host's last ``season_days`` days, of the same window's sum at the same minute of the day. A trailing
hour lags when the traffic grows in the morning; the same minute on past days does not, and it knows the
daily dips (a site's users falling at midnight are no incident). A drop must then be a drop against both,
and a spike a spike against both (the users coming back after the dip are no incident either).

Kinds (``KINDS``), each with a floor on the expected count so that quiet hours do not alert:

- ``spike``: observed ≥ ``spike_ratio`` × expected (and × the seasonal expectation) and z ≥ ``spike_z``;
- ``drop``: observed ≤ (1 − ``drop_ratio``) × expected — and × the seasonal expectation once the host has
  a day of history — and one of: −z ≥ ``drop_z``; the users' and the events' −z both ≥ ``drop_z_both``; the
  count z against the expected or against the seasonal expectation ≥ ``drop_count_z``;
- ``silence``: not one event over a window expected to hold ``silence_min_expected`` (it replaces
  ``drop`` for that minute);
- ``error_rate``: errors / events ≥ ``error_rate_min`` and ≥ ``error_ratio`` × the baseline's pooled rate,
  at least ``error_min_count`` errors, binomial z ≥ ``error_z``.

An alert is raised when a kind *starts* on a host (one alert per episode, keyed ``(host, minute, kind)``),
and again only after ``clear_minutes`` minutes without it. Its ``observed`` and ``expected`` are counts
per window (rates for ``error_rate``) and ``score`` the z score.

Why not a random-cut forest: the alerts must say which kind, observed against expected; a forest's
score says neither, and median/MAD per window is exact to explain and to test.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from statistics import median

from websessions.events import format_time_ms
from websessions.settings import Settings

SPIKE, DROP, SILENCE, ERROR_RATE = "spike", "drop", "silence", "error_rate"
KINDS = (SPIKE, DROP, ERROR_RATE, SILENCE)
MAD_TO_SIGMA = 1.4826
WINDOW_CORRELATION = 1.5
MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class Thresholds:
    """The detector's tunables (``settings.alerts_*``)."""

    baseline_minutes: int = 60
    min_baseline_minutes: int = 15
    windows: tuple[int, ...] = (1, 3, 5, 10)
    min_expected: float = 10.0
    spike_ratio: float = 3.0
    spike_z: float = 6.0
    drop_ratio: float = 0.6
    drop_z: float = 3.5
    drop_z_both: float = 3.0
    drop_count_z: float = 4.0
    drop_dispersion: float = 2.0
    season_days: int = 7
    silence_min_expected: float = 15.0
    silence_z: float = 3.0
    error_rate_min: float = 0.25
    error_ratio: float = 3.0
    error_z: float = 7.0
    error_min_count: int = 8
    clear_minutes: int = 2

    def __post_init__(self) -> None:
        if not self.windows or min(self.windows) < 1 or max(self.windows) > self.min_baseline_minutes:
            raise ValueError(f"alert windows {self.windows} must be 1..min_baseline_minutes minutes")
        if not 1 <= self.min_baseline_minutes <= self.baseline_minutes:
            raise ValueError("alerts_min_baseline_minutes must be between 1 and alerts_baseline_minutes")
        if not 0 < self.drop_ratio < 1:
            raise ValueError(f"alerts_drop_ratio must be between 0 and 1, not {self.drop_ratio}")
        if self.drop_dispersion < 1 or self.season_days < 0:
            raise ValueError("alerts_drop_dispersion must be at least 1 and alerts_season_days not negative")

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        windows = tuple(sorted({int(w) for w in settings.alerts_windows.split(",") if w.strip()}))
        return cls(
            baseline_minutes=settings.alerts_baseline_minutes,
            min_baseline_minutes=settings.alerts_min_baseline_minutes,
            windows=windows,
            min_expected=settings.alerts_min_expected,
            spike_ratio=settings.alerts_spike_ratio,
            spike_z=settings.alerts_spike_z,
            drop_ratio=settings.alerts_drop_ratio,
            drop_z=settings.alerts_drop_z,
            drop_z_both=settings.alerts_drop_z_both,
            drop_count_z=settings.alerts_drop_count_z,
            drop_dispersion=settings.alerts_drop_dispersion,
            season_days=settings.alerts_season_days,
            silence_min_expected=settings.alerts_silence_min_expected,
            silence_z=settings.alerts_silence_z,
            error_rate_min=settings.alerts_error_rate_min,
            error_ratio=settings.alerts_error_ratio,
            error_z=settings.alerts_error_z,
            error_min_count=settings.alerts_error_min_count,
            clear_minutes=settings.alerts_clear_minutes,
        )


@dataclass(frozen=True)
class Alert:
    """One anomaly: ``host`` in the closed ``minute`` (minutes since the epoch, UTC) was ``kind``."""

    host: str
    minute: int
    kind: str
    observed: float
    expected: float
    score: float
    window_minutes: int

    @property
    def at(self) -> str:
        """The minute as ``YYYY-MM-DDTHH:MM`` (UTC)."""
        return format_time_ms(self.minute * 60_000)[:16]

    @property
    def key(self) -> str:
        """``host|YYYY-MM-DDTHH:MM|kind``: the alert's identity (Kafka key, table key)."""
        return f"{self.host}|{self.at}|{self.kind}"

    def to_dict(self) -> dict:
        return {**asdict(self), "at": self.at}


@dataclass(frozen=True)
class _Finding:
    kind: str
    observed: float
    expected: float
    score: float
    window: int


def _location_spread(values: list[float]) -> tuple[float, float]:
    """(median, max(1.4826 * MAD, sqrt(median), 1)) of ``values``."""
    centre = median(values)
    mad = median(abs(v - centre) for v in values)
    return centre, max(MAD_TO_SIGMA * mad, math.sqrt(centre), 1.0)


def _window_location_spread(values: list[int], k: int, minute_spread: float) -> tuple[float, float]:
    """(median, spread) of the baseline's k-minute sums. The spread is the MAD's, but at most
    ``WINDOW_CORRELATION`` x sqrt(k) x the one-minute spread: over a baseline of an hour, the MAD of
    overlapping long sums mostly measures the hour's trend (a quiet site's outage hid in it); the factor
    allows for minutes that are not independent (a visitor stays for several)."""
    expected, spread = _location_spread(_window_sums(values, k))
    if k > 1:
        spread = min(spread, max(WINDOW_CORRELATION * math.sqrt(k) * minute_spread, math.sqrt(expected), 1.0))
    return expected, spread


def _count_z(observed: float, expected: float, dispersion: float) -> float:
    """How far ``observed`` lies below ``expected`` for counts: the signed root of the Poisson deviance
    (positive below), divided by ``sqrt(dispersion)``. Unlike ``(o - e) / sqrt(e)`` it is right for small
    counts: 2 users where 21 were expected score 5.3 (at dispersion 1), where the normal approximation says 4.1."""
    term = observed * math.log(observed / expected) if observed > 0 else 0.0
    root = math.sqrt(max(2.0 * (term - observed + expected), 0.0) / dispersion)
    return root if observed < expected else -root


class _Season:
    """A host's active users per minute over the last ``days`` days, as running totals in a ring: the sum of
    any window of at most ``longest`` minutes ending at the same minute of a past day in O(1)."""

    def __init__(self, days: int, longest: int):
        self.days = days
        self.size = days * MINUTES_PER_DAY + longest + 1
        self.totals = [0] * self.size  # totals[n % size]: the users of the first n minutes
        self.minutes = 0

    def add(self, users: int) -> None:
        total = self.totals[self.minutes % self.size] + users
        self.minutes += 1
        self.totals[self.minutes % self.size] = total

    def expected(self, k: int) -> float | None:
        """The median, over the past days on record, of the users in the k minutes that ended with this minute
        of the day (the newest minute added); None before a whole day is on record."""
        sums = []
        for d in range(1, self.days + 1):
            end = self.minutes - d * MINUTES_PER_DAY
            if end - k < 0:
                break
            sums.append(self.totals[end % self.size] - self.totals[(end - k) % self.size])
        return median(sums) if sums else None


def _window_sums(values: list[int], k: int) -> list[int]:
    if k == 1:
        return list(values)
    sums, running = [], sum(values[:k])
    sums.append(running)
    for i in range(k, len(values)):
        running += values[i] - values[i - k]
        sums.append(running)
    return sums


class HostDetector:
    """One host's state: :meth:`observe` each closed minute in order, get the alerts it raises."""

    def __init__(self, host: str, thresholds: Thresholds | None = None):
        self.host = host
        self.t = thresholds or Thresholds()
        # (events, errors, active users) of each minute
        self.baseline: deque[tuple[int, int, int]] = deque(maxlen=self.t.baseline_minutes)
        self.recent: deque[tuple[int, int, int]] = deque(maxlen=max(self.t.windows))
        self.season = _Season(self.t.season_days, max(self.t.windows))
        self.quiet_for: dict[str, int] = {}  # active kind -> minutes since it was last seen
        self.excluded = 0  # consecutive anomalous minutes left out of the baseline
        self.last_minute: int | None = None

    def observe(self, minute: int, events: int, errors: int, users: int) -> list[Alert]:
        """Judge ``minute`` (the next closed one; a skipped minute must be fed as zeros first): its events,
        events with an error status, and active users (distinct ips)."""
        self._advance(minute)
        self.recent.append((events, errors, users))
        self.season.add(users)
        findings = self._findings() if len(self.baseline) >= self.t.min_baseline_minutes else {}
        if SILENCE in self.quiet_for and DROP in findings:  # the traffic coming back after a silence
            findings[SILENCE] = findings.pop(DROP)
        alerts = []
        for kind in KINDS:
            finding = findings.get(kind)
            if finding is not None:
                if kind not in self.quiet_for:
                    alerts.append(
                        Alert(
                            self.host,
                            minute,
                            kind,
                            round(finding.observed, 6),
                            round(finding.expected, 6),
                            round(finding.score, 3),
                            finding.window,
                        )  # fmt: skip
                    )
                self.quiet_for[kind] = 0
            elif kind in self.quiet_for:
                self.quiet_for[kind] += 1
                if self.quiet_for[kind] >= self.t.clear_minutes:
                    del self.quiet_for[kind]
        if findings and self.excluded < self.t.baseline_minutes:
            self.excluded += 1
        else:
            self.excluded = 0
            self.baseline.append((events, errors, users))
        return alerts

    def remember(self, minute: int, users: int) -> None:
        """Record ``minute``'s active users for the seasonal expectation without judging it (the runner's
        replay of past days on start); minutes fed after it must follow it."""
        self._advance(minute)
        self.season.add(users)

    def _advance(self, minute: int) -> None:
        if self.last_minute is not None and minute <= self.last_minute:
            raise ValueError(f"{self.host}: minute {minute} fed after {self.last_minute}")
        self.last_minute = minute

    def _findings(self) -> dict[str, _Finding]:
        """The strongest finding of each kind over the windows (the first window that finds it, shortest first)."""
        found: dict[str, _Finding] = {}
        users = [u for _, _, u in self.baseline]
        events_of = [e for e, _, _ in self.baseline]
        one_minute = (_location_spread(users)[1], _location_spread(events_of)[1])
        recent = list(self.recent)
        for k in self.t.windows:
            if k > len(recent):
                break
            observed = sum(u for _, _, u in recent[-k:])
            expected, spread = _window_location_spread(users, k, one_minute[0])
            events = sum(e for e, _, _ in recent[-k:])
            errors = sum(x for _, x, _ in recent[-k:])
            events_expected, events_spread = _window_location_spread(events_of, k, one_minute[1])
            events_z = (events - events_expected) / events_spread
            seasonal = self.season.expected(k)
            for kind, finding in self._user_findings(k, observed, expected, spread, events_z, seasonal).items():
                found.setdefault(kind, finding)
            if ERROR_RATE not in found:
                finding = self._error_finding(k, events, errors)
                if finding is not None:
                    found[ERROR_RATE] = finding
        if SILENCE in found:
            found.pop(DROP, None)
        return found

    def _user_findings(
        self, k: int, observed: int, expected: float, spread: float, events_z: float, seasonal: float | None
    ) -> dict[str, _Finding]:
        """Spike, drop and silence, judged on active users: one crawler fetching a hundred pages in a minute
        is not a traffic spike, and its bursts would widen the spread of event counts so much that a quiet
        site's outage would hide in it. A drop a little short of ``drop_z`` in users counts when the events
        drop as much (both z at least ``drop_z_both``), or when the count z says so (against the trailing
        or the ``seasonal`` expectation, None without a day of history)."""
        t = self.t
        out = {}
        z = (observed - expected) / spread
        if observed == 0 and expected >= t.silence_min_expected and -z >= t.silence_z:
            out[SILENCE] = _Finding(SILENCE, 0, expected, -z, k)
        if expected < t.min_expected:
            return out
        drop = self._drop_finding(k, observed, expected, z, events_z, seasonal)
        if drop is not None:
            out[DROP] = drop
        if observed >= t.spike_ratio * max(expected, seasonal or 0.0) and z >= t.spike_z:
            out[SPIKE] = _Finding(SPIKE, observed, expected, z, k)
        return out

    def _drop_finding(
        self, k: int, observed: int, expected: float, z: float, events_z: float, seasonal: float | None
    ) -> _Finding | None:
        t = self.t
        keep = 1 - t.drop_ratio
        if observed > keep * expected or (seasonal is not None and observed > keep * seasonal):
            return None
        if -z >= t.drop_z or min(-z, -events_z) >= t.drop_z_both:
            return _Finding(DROP, observed, expected, -z, k)
        for base in (expected, seasonal):
            if base is not None and (count_z := _count_z(observed, base, t.drop_dispersion)) >= t.drop_count_z:
                return _Finding(DROP, observed, base, count_z, k)
        return None

    def _error_finding(self, k: int, events: int, errors: int) -> _Finding | None:
        t = self.t
        if events == 0 or errors < t.error_min_count:
            return None
        total = sum(e for e, _, _ in self.baseline)
        base_rate = sum(x for _, x, _ in self.baseline) / total if total else 0.0
        base_rate = min(max(base_rate, 0.005), 0.5)  # a floor: a clean baseline is not a zero-error promise
        rate = errors / events
        if rate < t.error_rate_min or rate < t.error_ratio * base_rate:
            return None
        z = (errors - events * base_rate) / math.sqrt(events * base_rate * (1 - base_rate))
        return _Finding(ERROR_RATE, rate, base_rate, z, k) if z >= t.error_z else None


class Detector:
    """The monitored hosts' detectors: :meth:`close_minute` with every host's counts of one minute."""

    def __init__(self, hosts: Iterable[str], thresholds: Thresholds | None = None):
        self.thresholds = thresholds or Thresholds()
        self.hosts = {host: HostDetector(host, self.thresholds) for host in hosts}

    def close_minute(self, minute: int, counts: Mapping[str, tuple[int, int, int]]) -> list[Alert]:
        """Feed ``minute`` to every host (``counts``: host -> (events, errors, active users); a host absent had
        none)."""
        alerts = []
        for host, detector in self.hosts.items():
            events, errors, users = counts.get(host, (0, 0, 0))
            alerts.extend(detector.observe(minute, events, errors, users))
        return alerts

    def remember(self, minute: int, counts: Mapping[str, tuple[int, int, int]]) -> None:
        """Record ``minute`` for every host's seasonal expectation, unjudged (see :meth:`HostDetector.remember`)."""
        for host, detector in self.hosts.items():
            detector.remember(minute, counts.get(host, (0, 0, 0))[2])


def minute_counts(lines: Iterable[str | bytes]) -> dict[int, dict[str, tuple[int, int, int]]]:
    """The reference of the speed layer's live metrics for JSON lines: minute -> host -> (events, errors,
    active users). Invalid lines are not counted (they are dead-lettered); copies of an event id of one
    ``(ip, host)`` count once; errors are events with status >= 400, active users distinct ips. Lateness is
    not modelled (the speed layer drops events more than the allowed lateness behind)."""
    from websessions.events import Event, validate

    seen: set[tuple[str, str, str]] = set()
    cells: dict[tuple[int, str], list] = {}
    for line in lines:
        event = validate(line)
        if not isinstance(event, Event) or (key := (event.ip, event.host, event.event_id)) in seen:
            continue
        seen.add(key)
        cell = cells.setdefault((event.event_time_ms // 60_000, event.host), [0, 0, set()])
        cell[0] += 1
        cell[1] += event.status is not None and event.status >= 400
        cell[2].add(event.ip)
    out: dict[int, dict[str, tuple[int, int, int]]] = {}
    for (minute, host), (events, errors, ips) in cells.items():
        out.setdefault(minute, {})[host] = (events, errors, len(ips))
    return out


def monitored_hosts(settings: Settings) -> list[str]:
    """``alerts_hosts``, or the report's hosts when it is empty."""
    raw = settings.alerts_hosts or settings.report_hosts
    return [host.strip() for host in raw.split(",") if host.strip()]
