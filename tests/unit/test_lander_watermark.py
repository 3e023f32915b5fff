"""The lander's watermark and day completion: robust to one fast clock and to quiet partitions."""

from __future__ import annotations

from websessions.events import parse_time_ms
from websessions.lander import RawLander, day_end_ms
from websessions.late_data import days_to_recompute
from websessions.settings import load_settings

DAY = "2026-11-20"
SETTINGS = load_settings(env={"WEBSESSIONS_LANDER_NOTIFY_AIRFLOW": "false"}, create_secrets=False)
LATENESS_MS = SETTINGS.allowed_lateness_s * 1000


def lander_at(wall_clock: str) -> RawLander:
    lander = RawLander(SETTINGS, clock=lambda: parse_time_ms(wall_clock) / 1000)
    lander._open_days.add(DAY)
    return lander


def caught_up(lander: RawLander, newest: dict[int, str]) -> None:
    """Partitions that just delivered events, newest event time each; nothing queued behind them."""
    for partition, text in newest.items():
        lander._partition_max_ms[partition] = parse_time_ms(text)
        lander._partition_seen[partition] = 1e18  # delivered just now (monotonic clock)
    lander.advance_watermark(set())


def test_one_fast_clock_does_not_complete_the_day_early() -> None:
    # 23:58 on D: partition 0 carries a client whose clock runs 4 min 59 s fast, partition 1 honest traffic.
    lander = lander_at(f"{DAY}T23:58:00.000Z")
    caught_up(lander, {0: "2026-11-21T00:02:59.000Z", 1: f"{DAY}T23:57:59.000Z"})
    assert lander.stats.watermark_ms == parse_time_ms(f"{DAY}T23:57:59.000Z")
    assert lander.mark_complete_days() == []


def test_the_watermark_never_passes_the_wall_clock() -> None:
    lander = lander_at(f"{DAY}T23:58:00.000Z")
    caught_up(lander, {0: "2026-11-21T00:02:59.000Z"})  # the only active partition is the fast one
    assert lander.stats.watermark_ms == parse_time_ms(f"{DAY}T23:58:00.000Z")
    assert lander.mark_complete_days() == []


def test_a_quiet_partition_does_not_hold_the_day_open() -> None:
    lander = lander_at("2026-11-21T00:05:00.000Z")
    lander._partition_max_ms[1] = parse_time_ms(f"{DAY}T13:00:00.000Z")  # quiet since long ago
    lander._partition_seen[1] = -1e18
    caught_up(lander, {0: "2026-11-21T00:04:00.000Z"})
    assert lander.mark_complete_days() == [DAY]


def test_a_backlog_holds_the_watermark_at_the_partition_furthest_behind() -> None:
    lander = lander_at("2026-11-25T00:00:00.000Z")
    lander._partition_max_ms.update(
        {0: parse_time_ms("2026-11-21T10:00:00.000Z"), 1: parse_time_ms(f"{DAY}T20:00:00.000Z")}
    )
    lander.advance_watermark({1})
    assert lander.stats.watermark_ms == parse_time_ms(f"{DAY}T20:00:00.000Z")
    assert lander.mark_complete_days() == []


def test_the_day_completes_once_watermark_and_wall_clock_pass_its_end_plus_lateness() -> None:
    end = day_end_ms(DAY)
    lander = lander_at("2026-11-21T00:01:00.001Z")
    caught_up(lander, {0: "2026-11-21T00:01:00.000Z", 1: "2026-11-21T00:01:00.000Z"})
    assert lander.stats.watermark_ms == end + LATENESS_MS
    assert lander.mark_complete_days() == []  # not past it yet
    caught_up(lander, {0: "2026-11-21T00:01:00.001Z", 1: "2026-11-21T00:01:00.001Z"})
    assert lander.mark_complete_days() == [DAY]


def test_events_later_than_days_late_allowed_are_too_late() -> None:
    lander = lander_at("2026-12-01T00:00:00.000Z")
    allowed = SETTINGS.days_late_allowed * 86_400_000
    lander.stats.watermark_ms = day_end_ms(DAY) + allowed
    assert not lander.too_late(DAY)
    lander.stats.watermark_ms += 1
    assert lander.too_late(DAY)


def test_late_notices_are_summed_per_day_and_dataset_with_their_reason() -> None:
    private = {"raw_events_dir": "/test/x/raw"}
    days = days_to_recompute(
        [
            {"dt": DAY, "late_events": 5, "settings": private},
            {"dt": DAY, "late_events": 7, "settings": private},
            {"dt": DAY, "late_events": 1, "settings": {}},
            {"dt": "2026-11-19", "late_events": 2, "settings": {}},
            {"from_rest_api": True},  # not a notice of the lander
        ]
    )
    assert [(d["dt"], d["late_events"], d["settings"], d["reason"]) for d in days] == [
        ("2026-11-19", 2, {}, "2 late events landed for 2026-11-19"),
        (DAY, 1, {}, f"1 late event landed for {DAY}"),
        (DAY, 12, private, f"12 late events landed for {DAY}"),
    ]
