"""The anomaly detector (websessions.anomalies) on simulated traffic, and the simulator's incidents."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from itertools import takewhile

import pytest

from websessions.anomalies import (
    DROP,
    ERROR_RATE,
    SILENCE,
    SPIKE,
    Alert,
    Detector,
    HostDetector,
    Thresholds,
    _count_z,
    minute_counts,
)
from websessions.settings import load_settings
from websessions.simulator import DEFAULT_HOSTS, live_schedule
from websessions.simulator.incidents import ALERT_KIND, Incident, inject, parse_at
from websessions.stores.postgres_alerts import parse_since

START_MS = 1_796_000_400_000  # a minute boundary (2026-11-30T01:00Z, a quiet hour)
MINUTE_MS = 60_000


def live_lines(minutes: int, rate: float = 5.0, seed: int = 3) -> list[str]:
    """``minutes`` of live traffic from START_MS at ``rate`` events/s (about 300 a minute in all)."""
    end = START_MS + minutes * MINUTE_MS
    return [line for _, line in takewhile(lambda x: x[0] < end, live_schedule(rate, seed, START_MS))]


def detect(lines, hosts=DEFAULT_HOSTS, thresholds: Thresholds | None = None) -> list[Alert]:
    counts = minute_counts(lines)
    detector = Detector(hosts, thresholds)
    first, last = min(counts), max(counts)
    return [a for m in range(first, last + 1) for a in detector.close_minute(m, counts.get(m, {}))]


@pytest.fixture(scope="module")
def ninety_minutes() -> list[str]:
    return live_lines(90)


def test_a_clean_hour_and_a_half_of_simulated_traffic_raises_no_alert(ninety_minutes) -> None:
    counts = minute_counts(ninety_minutes)
    assert len(counts) == 90 and all(len(hosts) == len(DEFAULT_HOSTS) for hosts in counts.values())
    assert detect(ninety_minutes) == []


@pytest.mark.parametrize(
    ("kind", "host"),
    [("error-burst", "bootcamp.techcreator.io"), ("drop", "www.dataexpert.io"), ("silence", "zachwilson.tech")],
)
def test_each_injected_incident_is_alerted_within_two_minutes_with_its_host_and_kind(ninety_minutes, kind, host):
    start = START_MS + 70 * MINUTE_MS
    lines = list(inject(ninety_minutes, [Incident(kind, host, start, duration_s=600)]))
    alerts = detect(lines)
    assert alerts, f"no alert for {kind} on {host}"
    first = alerts[0]
    assert (first.host, first.kind) == (host, ALERT_KIND[kind])
    assert 0 <= first.minute - start // MINUTE_MS <= 2
    # One alert per episode, none for the other hosts or kinds.
    assert [(a.host, a.kind) for a in alerts] == [(host, ALERT_KIND[kind])]
    if kind == "error-burst":
        assert first.observed >= 0.3 and first.expected < 0.05
    elif kind == "drop":
        assert first.observed <= 0.4 * first.expected
    else:
        assert first.observed == 0 and first.expected >= 10


def host_minutes(detector: HostDetector, counts: list[tuple[int, int, int]], first_minute: int = 0) -> list[Alert]:
    return [a for i, c in enumerate(counts) for a in detector.observe(first_minute + i, *c)]


def test_a_spike_of_users_is_alerted_but_one_crawler_fetching_hundreds_of_pages_is_not() -> None:
    steady = [(60 + i % 7, 1, 30 + i % 5) for i in range(30)]
    crawler = host_minutes(HostDetector("h.example"), [*steady, (460, 1, 31), *steady[:5]])
    assert crawler == []
    spike = host_minutes(HostDetector("h.example"), [*steady, (400, 2, 200), *steady[:5]])
    assert [(a.kind, a.minute, a.observed, a.window_minutes) for a in spike] == [(SPIKE, 30, 200, 1)]


def test_a_lasting_anomaly_is_one_alert_and_a_new_one_after_it_cleared_is_another() -> None:
    steady = [(60 + i % 7, 1, 30 + i % 5) for i in range(30)]
    silent = [(0, 0, 0)] * 5
    alerts = host_minutes(HostDetector("h.example"), [*steady, *silent, *steady[:10], *silent])
    assert [(a.kind, a.minute) for a in alerts] == [(SILENCE, 30), (SILENCE, 45)]


def test_nothing_is_judged_before_the_minimum_baseline_nor_below_the_expected_floor() -> None:
    t = Thresholds(min_baseline_minutes=15)
    early = host_minutes(HostDetector("h.example", t), [(60, 1, 30)] * 14 + [(0, 0, 0)])
    assert early == []
    short = Thresholds(min_baseline_minutes=15, windows=(1, 3))
    quiet = host_minutes(HostDetector("h.example", short), [(4, 0, 3)] * 30 + [(0, 0, 0)] * 3 + [(1, 0, 1)] * 5)
    assert quiet == []  # 3 users a minute: 3 minutes expect 9, below silence_min_expected and min_expected
    longer = host_minutes(HostDetector("h.example", t), [(4, 0, 3)] * 30 + [(0, 0, 0)] * 3 + [(1, 0, 1)] * 5)
    assert [(a.kind, a.window_minutes) for a in longer] == [(DROP, 5)]  # 5 minutes expect 15 users, see 2


def test_a_slow_drop_is_found_by_the_longer_windows() -> None:
    steady = [(30 + i % 3, 0, 12 + i % 3) for i in range(30)]
    low = [(12, 0, 5)] * 10  # 60 % fewer users: z below the threshold in one minute
    alerts = host_minutes(HostDetector("h.example"), [*steady, *low])
    assert [(a.kind, a.window_minutes > 1) for a in alerts] == [(DROP, True)]


def small_site(days: int, drop_at: int | None = None) -> list[tuple[int, int, int]]:
    """A quiet site's minutes: 5 to 9 users by time of day, give or take 5 from minute to minute, a few more
    every 35 minutes; from ``drop_at`` for 10 minutes only 30 % of them (an 80 % drop of events)."""
    out = []
    for m in range(days * 1440):
        users = round(7 + 2 * math.sin(2 * math.pi * m / 1440)) + (m * 7) % 11 - 5 + (4 if (m // 7) % 5 == 0 else 0)
        if drop_at is not None and drop_at <= m < drop_at + 10:
            users = round(0.3 * users)
        out.append((2 * users + m % 3, 0, users))
    return out


def test_the_count_z_is_the_poisson_deviance_below_the_expected() -> None:
    assert _count_z(2, 21, 1.0) == pytest.approx(5.347, abs=1e-3)  # the normal approximation says 4.15
    assert _count_z(2, 21, 2.0) == pytest.approx(5.347 / math.sqrt(2), abs=1e-3)
    assert _count_z(0, 8, 1.0) == pytest.approx(4.0)
    assert _count_z(21, 21, 1.0) == 0 and _count_z(30, 21, 1.0) < 0


def test_a_small_sites_80_percent_drop_at_night_is_found_in_minutes_and_its_clean_days_raise_nothing() -> None:
    assert host_minutes(HostDetector("small.example"), small_site(3)) == []
    at = 2 * 1440 + 1300  # the third night: about 6 users a minute
    alerts = host_minutes(HostDetector("small.example"), small_site(3, at))
    assert [(a.kind, a.minute - at) for a in alerts][:1] == [(DROP, 2)]
    assert alerts[0].expected > 5 * alerts[0].observed  # against the same minutes of the nights before
    # The robust z over the trailing hour alone finds it only in the incident's ninth minute.
    z_only = Thresholds(season_days=0, drop_count_z=math.inf)
    assert [
        (a.kind, a.minute - at) for a in host_minutes(HostDetector("small.example", z_only), small_site(3, at))
    ] == [(DROP, 8)]


def test_a_daily_dip_is_a_drop_on_the_first_day_and_expected_on_the_next() -> None:
    day = [(20, 0, 10)] * 60 + [(60, 0, 30)] * 1380  # a third of the users in the first hour of every day
    series = (day * 3)[600 : 2 * 1440 + 100]
    seasonal = host_minutes(HostDetector("h.example", Thresholds(season_days=1)), series, first_minute=600)
    assert [(a.kind, a.minute) for a in seasonal] == [(DROP, 1440)]
    trailing = host_minutes(HostDetector("h.example", Thresholds(season_days=0)), series, first_minute=600)
    assert [(a.kind, a.minute) for a in trailing] == [(DROP, 1440), (DROP, 2880)]
    # The runner's start: the past day recorded unjudged, the same expectation.
    replayed = HostDetector("h.example", Thresholds(season_days=1))
    for i, (_, _, users) in enumerate(series[: 2880 - 600 - 60]):
        replayed.remember(600 + i, users)
    assert host_minutes(replayed, series[2880 - 600 - 60 :], first_minute=2880 - 60) == []


def test_the_demos_live_traffic_holds_an_incident_that_the_detector_alerts() -> None:
    from websessions.demo import live_with_incident, traffic

    now = datetime.fromtimestamp(START_MS / 1000 + 45 * 60, UTC)
    _, live = traffic("2026-11-29", 20_000, 7, now)  # make demo's arguments: today's traffic up to now
    lines, incident = live_with_incident(live, now, seed=7)
    assert len(lines) > len(live) and incident.kind == "error-burst"
    start = incident.start_ms // MINUTE_MS
    alerts = detect(lines)
    # What the demo prints (`alerts --since` the incident's start): the error burst, within two minutes.
    shown = [a for a in alerts if a.minute >= start]
    assert [(a.host, a.kind) for a in shown] == [(incident.host, ALERT_KIND[incident.kind])]
    assert 0 <= shown[0].minute - start <= 2
    # Before it, the busier traffic's arrival over today's sparse traffic is a spike on every site.
    assert sorted((a.host, a.kind) for a in alerts if a.minute < start) == sorted((h, SPIKE) for h in DEFAULT_HOSTS)


def test_an_error_burst_is_judged_on_the_rate_not_the_count() -> None:
    steady = [(100 + i % 9, 2, 40) for i in range(30)]
    busy = host_minutes(HostDetector("h.example"), [*steady, (300, 6, 120)])
    assert [a.kind for a in busy] == [SPIKE]  # three times the users, the same 2 % errors: not an error burst
    burst = host_minutes(HostDetector("h.example"), [*steady, (100, 40, 40)])
    assert [(a.kind, a.observed) for a in burst] == [(ERROR_RATE, 0.4)]


def test_minutes_must_be_fed_in_order() -> None:
    detector = HostDetector("h.example")
    detector.observe(10, 1, 0, 1)
    with pytest.raises(ValueError, match="fed after"):
        detector.observe(10, 1, 0, 1)


def test_thresholds_come_from_the_settings_and_are_checked(tmp_path) -> None:
    env = {
        "WEBSESSIONS_STACK_DIR": str(tmp_path),
        "WEBSESSIONS_ALERTS_WINDOWS": "5,1",
        "WEBSESSIONS_ALERTS_DROP_Z": "6",
    }
    t = Thresholds.from_settings(load_settings(env=env, create_secrets=False))
    assert (t.windows, t.drop_z) == ((1, 5), 6.0)
    with pytest.raises(ValueError, match="windows"):
        Thresholds(windows=(1, 30), min_baseline_minutes=15)
    with pytest.raises(ValueError, match="drop_ratio"):
        Thresholds(drop_ratio=1.5)
    with pytest.raises(ValueError, match="dispersion"):
        Thresholds(drop_dispersion=0.5)


def records_of(lines) -> list[dict]:
    """The JSON objects with a host and a time (malformed lines pass the incidents unchanged: left out here)."""
    out = []
    for line in lines:
        try:
            record = json.loads(line)
            parse_at(record["event_time"][:19])
        except (ValueError, KeyError, TypeError):
            continue
        out.append(record)
    return out


def test_incidents_change_only_their_host_and_time_deterministically(ninety_minutes) -> None:
    host, start = "www.dataexpert.io", START_MS + 30 * MINUTE_MS
    inside = lambda r: r.get("host") == host and start <= parse_at(r["event_time"][:19]) < start + 600_000  # noqa: E731
    records = records_of(ninety_minutes)
    hit = sum(map(inside, records))
    assert hit > 500
    for kind in ("silence", "drop", "error-burst"):
        incident = Incident(kind, host, start, duration_s=600)
        out = records_of(inject(ninety_minutes, [incident]))
        assert out == records_of(inject(ninety_minutes, [incident]))
        untouched = [r for r in records if not inside(r)]
        assert [r for r in out if not inside(r)] == untouched
        kept = [r for r in out if inside(r)]
        if kind == "silence":
            assert kept == []
        elif kind == "drop":
            assert 0.1 * hit < len(kept) < 0.3 * hit
        else:
            failed = sum(r["status"] == 500 for r in kept)
            assert len(kept) == hit and 0.4 * hit < failed < 0.6 * hit


def test_incident_times_and_alert_periods_parse() -> None:
    assert parse_at("2026-12-07T14:30") == parse_at("14:30", datetime(2026, 12, 7).date())
    assert parse_at("2026-12-07T14:30:00Z") == int(datetime(2026, 12, 7, 14, 30, tzinfo=UTC).timestamp() * 1000)
    with pytest.raises(ValueError, match="--at"):
        parse_at("half past two")
    with pytest.raises(ValueError, match="incident"):
        Incident("flood", "h.example", 0)
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
    assert parse_since("1d", now) == datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert parse_since("2026-12-07T09:00", now) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday", now)


def test_generate_injects_an_incident_from_the_command_line(tmp_path) -> None:
    from websessions.cli import main

    plain, silenced = tmp_path / "plain.jsonl", tmp_path / "silenced.jsonl"
    day = ["generate", "--date", "2026-11-20", "--events", "20000", "--seed", "4"]
    assert main([*day, "--out", str(plain)]) == 0
    incident = ["--incident", "silence", "--host", "zachwilson.tech", "--at", "13:00", "--duration", "30"]
    assert main([*day, *incident, "--out", str(silenced)]) == 0

    def in_window(path) -> tuple[int, int]:
        records = records_of(path.read_text().splitlines())
        window = [r for r in records if "2026-11-20T13:00" <= r["event_time"] < "2026-11-20T13:30"]
        return sum(r.get("host") == "zachwilson.tech" for r in window), len(records)

    (before, total), (after, remaining) = in_window(plain), in_window(silenced)
    assert before > 20 and after == 0 and remaining == total - before
    assert main([*day, "--incident", "drop", "--out", str(silenced)]) == 2  # no --host, no --at


def test_the_runner_reads_a_minute_only_once_its_frontier_has_settled(tmp_path) -> None:
    from websessions.alerting import AlertRunner

    now = [100.0]
    settings = load_settings(env={"WEBSESSIONS_STACK_DIR": str(tmp_path)}, create_secrets=False)
    runner = AlertRunner(settings, clock=lambda: now[0])
    assert settings.alerts_settle_s == 3.0
    assert runner._closed_through(10) is None  # seen at 100.0
    now[0] = 102.0
    assert runner._closed_through(12) is None  # 12 seen at 102.0
    now[0] = 103.5
    assert runner._closed_through(12) == 10
    now[0] = 104.9
    assert runner._closed_through(None) == 10
    now[0] = 105.0
    assert runner._closed_through(11) == 12  # an older frontier changes nothing
    assert runner.hosts == list(DEFAULT_HOSTS)
