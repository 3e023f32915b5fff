"""The traffic simulator: exact, deterministic, realistic days and live traffic, with honest fault counts.

Lines are checked with the test's own parser (``json`` + ``ipaddress`` + a strict time format), not the
simulator's, so a line the simulator thinks valid must really be valid.
"""

from __future__ import annotations

import ipaddress
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest

from websessions.simulator import (
    DEFAULT_HOSTS,
    GenerationStats,
    SimulatorConfig,
    generate_day,
    generate_live,
    live_schedule,
)

DAY = date(2026, 11, 20)
DAY_START_MS = 1_795_132_800_000  # 2026-11-20T00:00:00Z
DAY_MS = 86_400_000
TIMEOUT_MS = 300_000
REQUIRED = ("event_time", "ip", "host", "url")
TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
BOT_WORDS = ("bot", "python-requests", "curl", "zgrab")
FAULTS = SimulatorConfig(late_share=0.03, duplicate_share=0.01, malformed_share=0.01)


def parse_valid(line: str) -> dict | None:
    """The event of a valid line with ``ms`` (epoch milliseconds) added, or None for a malformed line."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or any(not isinstance(record.get(name), str) for name in REQUIRED):
        return None
    try:
        ipaddress.ip_address(record["ip"])
        if not TIME_RE.match(record["event_time"]):
            return None
        moment = datetime.strptime(record["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    record["ms"] = int(moment.timestamp() * 1000)
    return record


def classify(lines: list[str]) -> dict:
    """Each line as the test sees it: malformed, a duplicate (id seen before), late (out of order), valid."""
    seen: set[str] = set()
    out = {"valid": [], "duplicates": [], "malformed": [], "late": [], "lateness_ms": []}
    latest = None
    for line in lines:
        event = parse_valid(line)
        if event is None:
            out["malformed"].append(line)
            continue
        if event["event_id"] in seen:
            out["duplicates"].append(line)
            continue
        seen.add(event["event_id"])
        out["valid"].append(event)
        if latest is not None and event["ms"] < latest:
            out["late"].append(event)
            out["lateness_ms"].append(latest - event["ms"])
        latest = event["ms"] if latest is None else max(latest, event["ms"])
    return out


def is_bot(event: dict) -> bool:
    return any(word in event["user_agent"].lower() for word in BOT_WORDS)


def sessions(events: list[dict]) -> list[list[dict]]:
    """The sessions of distinct valid events: per (ip, host), split where the gap exceeds the timeout."""
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for event in events:
        by_key[(event["ip"], event["host"])].append(event)
    out = []
    for key_events in by_key.values():
        key_events.sort(key=lambda e: (e["ms"], e["event_id"]))
        current = [key_events[0]]
        for previous, event in zip(key_events, key_events[1:], strict=False):
            if event["ms"] - previous["ms"] > TIMEOUT_MS:
                out.append(current)
                current = []
            current.append(event)
        out.append(current)
    return out


@pytest.fixture(scope="module")
def faulty_day() -> tuple[list[str], GenerationStats, dict]:
    """A day with more faults than by default: its lines, the generator's statistics, the test's view."""
    stats = GenerationStats()
    lines = list(generate_day(DAY, 20_000, 11, FAULTS, stats=stats))
    return lines, stats, classify(lines)


@pytest.fixture(scope="module")
def day() -> list[dict]:
    """The valid events of a default day, with duplicates and malformed lines left out."""
    return classify(list(generate_day(DAY, 30_000, 5)))["valid"]


def test_the_same_seed_gives_the_same_bytes_and_another_seed_or_day_does_not() -> None:
    first = list(generate_day(DAY, 3_000, 42))
    assert first == list(generate_day("2026-11-20", 3_000, 42))
    other_seed = list(generate_day(DAY, 3_000, 43))
    assert other_seed != first
    other_day = list(generate_day(date(2026, 11, 21), 3_000, 42))
    ids = {json.loads(line)["event_id"] for line in first if parse_valid(line)}
    assert not ids & {json.loads(line)["event_id"] for line in other_day if parse_valid(line)}


@pytest.mark.parametrize(("events", "apps"), [(0, 1), (1, 1), (2, 3), (7, 1), (999, 2), (5_000, 1)])
def test_exactly_the_requested_number_of_lines_and_stats_that_add_up(events: int, apps: int) -> None:
    stats = GenerationStats()
    lines = list(generate_day(DAY, events, 3, FAULTS, apps=apps, stats=stats))
    assert len(lines) == events == stats.lines
    assert stats.lines == stats.valid + stats.duplicates + stats.malformed
    assert all("\n" not in line for line in lines)


def test_every_valid_event_lies_inside_the_day_and_has_the_design_fields(faulty_day) -> None:
    valid = faulty_day[2]["valid"]
    assert valid
    assert all(DAY_START_MS <= e["ms"] < DAY_START_MS + DAY_MS for e in valid)
    for event in valid:
        assert set(event) >= {"event_id", "referrer", "user_agent", "headers", "event_type", "status", "geo"}
        assert event["host"] in DEFAULT_HOSTS and event["url"].startswith("/")
        assert isinstance(event["headers"], dict) and event["headers"]
        assert event["geo"] is None or set(event["geo"]) == {"country", "region", "city"}


def test_the_statistics_are_exactly_what_the_stream_holds(faulty_day) -> None:
    _, stats, seen = faulty_day
    assert stats.malformed == len(seen["malformed"]) == round(20_000 * FAULTS.malformed_share)
    assert stats.duplicates == len(seen["duplicates"]) == round(20_000 * FAULTS.duplicate_share)
    assert stats.valid == len(seen["valid"]) == 20_000 - stats.malformed - stats.duplicates
    assert stats.late == len(seen["late"])
    assert FAULTS.late_share * 0.8 < stats.late / stats.valid <= FAULTS.late_share
    allowed_ms = FAULTS.allowed_lateness_s * 1000
    assert 0 < stats.late_beyond_lateness == sum(1 for lateness in seen["lateness_ms"] if lateness > allowed_ms)
    assert sum(stats.malformed_kinds.values()) == stats.malformed
    assert stats.to_dict()["lines"] == 20_000 and str(stats.late) in stats.summary()


def test_malformed_lines_are_really_malformed_in_every_way(faulty_day) -> None:
    _, stats, seen = faulty_day
    reasons = Counter()
    for line in seen["malformed"]:
        try:
            record = json.loads(line)
        except ValueError:
            reasons["invalid_json"] += 1
            continue
        if any(record.get(name) is None for name in REQUIRED):
            reasons["missing_field"] += 1
            continue
        try:
            ipaddress.ip_address(record["ip"])
        except ValueError:
            reasons["bad_ip"] += 1
            continue
        assert parse_valid(json.dumps({**record, "event_time": "2026-11-20T10:00:00.000Z"})) is not None
        reasons["bad_time"] += 1
    assert reasons == stats.malformed_kinds
    assert set(reasons) == {"invalid_json", "missing_field", "bad_ip", "bad_time"}


def test_a_duplicate_repeats_an_earlier_line_byte_for_byte_soon_after(faulty_day) -> None:
    lines = faulty_day[0]
    first_seen: dict[str, tuple[int, str]] = {}
    duplicates = 0
    for position, line in enumerate(lines):
        event = parse_valid(line)
        if event is None:
            continue
        if event["event_id"] in first_seen:
            original_position, original = first_seen[event["event_id"]]
            assert line == original and position > original_position
            duplicates += 1
        else:
            first_seen[event["event_id"]] = (position, line)
    assert duplicates == 200


def test_late_events_come_after_later_ones_but_within_the_bound(faulty_day) -> None:
    _, stats, seen = faulty_day
    assert len(seen["late"]) == stats.late > 0
    assert max(seen["lateness_ms"]) <= FAULTS.late_max_delay_s * 1000
    assert min(seen["lateness_ms"]) > 0


def test_faults_switched_off_leave_a_clean_stream_in_time_order() -> None:
    clean = SimulatorConfig(late_share=0, duplicate_share=0, malformed_share=0)
    stats = GenerationStats()
    lines = list(generate_day(DAY, 5_000, 8, clean, stats=stats))
    events = [parse_valid(line) for line in lines]
    assert all(events) and len({e["event_id"] for e in events}) == 5_000
    times = [e["ms"] for e in events]
    assert times == sorted(times)
    assert (stats.late, stats.duplicates, stats.malformed) == (0, 0, 0)


def test_faults_do_not_change_the_traffic() -> None:
    """The same seed gives the same events whatever the fault shares: faults have their own generator."""
    clean = SimulatorConfig(late_share=0, duplicate_share=0, malformed_share=0)
    with_late = SimulatorConfig(late_share=0.2, duplicate_share=0, malformed_share=0)
    assert sorted(generate_day(DAY, 2_000, 9, clean)) == sorted(generate_day(DAY, 2_000, 9, with_late))


def test_people_follow_the_daily_curve(day) -> None:
    people = Counter(int(e["event_time"][11:13]) for e in day if not is_bot(e))
    assert people[14] > 2 * people[3]
    assert max(people, key=people.get) in range(11, 19)


def test_every_host_gets_traffic_by_its_share(day) -> None:
    hosts = Counter(e["host"] for e in day)
    assert set(hosts) == set(DEFAULT_HOSTS)
    assert hosts["bootcamp.techcreator.io"] > 2 * hosts["lulu.techcreator.io"]


def test_other_hosts_can_be_simulated() -> None:
    config = SimulatorConfig(hosts=("shop.example.com", "blog.example.org"))
    events = classify(list(generate_day(DAY, 2_000, 1, config)))["valid"]
    assert {e["host"] for e in events} == {"shop.example.com", "blog.example.org"}


def test_people_come_back_after_the_timeout_so_their_sessions_split(day) -> None:
    all_sessions = sessions(day)
    keys = Counter((s[0]["ip"], s[0]["host"]) for s in all_sessions)
    assert sum(1 for n in keys.values() if n > 1) > 100
    sizes = [len(s) for s in all_sessions]
    assert statistics.mean(sizes) > 3 and max(sizes) > 30


def test_crawlers_fetch_many_pages_fast(day) -> None:
    bots = [e for e in day if is_bot(e)]
    assert 0.03 < len(bots) / len(day) < 0.3
    agents = " ".join({e["user_agent"] for e in bots})
    assert "Googlebot" in agents and "bingbot" in agents
    bot_sessions = [s for s in sessions(bots) if len(s) > 1]
    person_sessions = [s for s in sessions([e for e in day if not is_bot(e)]) if len(s) > 1]

    def median_gap(group: list[list[dict]]) -> float:
        return statistics.median(b["ms"] - a["ms"] for s in group for a, b in zip(s, s[1:], strict=False))

    assert statistics.median(len(s) for s in bot_sessions) > 2 * statistics.median(len(s) for s in person_sessions)
    assert median_gap(bot_sessions) * 5 < median_gap(person_sessions)
    assert all(e["referrer"] is None and e["load_time_ms"] is None for e in bots)


def test_addresses_are_mostly_ipv4_some_ipv6_and_some_shared(day) -> None:
    people = [e for e in day if not is_bot(e)]
    versions = Counter(ipaddress.ip_address(e["ip"]).version for e in people)
    assert 0.03 < versions[6] / len(people) < 0.3
    assert all(str(ipaddress.ip_address(e["ip"])) == e["ip"] for e in people)  # canonical text
    agents_per_ip = defaultdict(set)
    for event in people:
        agents_per_ip[event["ip"]].add(event["user_agent"])
    assert sum(1 for agents in agents_per_ip.values() if len(agents) > 1) >= 3  # behind a NAT


def test_a_person_keeps_their_address_and_identity_across_visits(day) -> None:
    by_user: dict[str, set] = defaultdict(set)
    for event in day:
        if event["user_id"]:
            by_user[event["user_id"]].add((event["ip"], event["user_agent"], json.dumps(event["geo"])))
    assert len(by_user) > 50
    assert all(len(identities) == 1 for identities in by_user.values())


def test_first_page_views_come_from_elsewhere_and_later_ones_from_the_previous_page(day) -> None:
    first_referrers = Counter()
    internal = followed = 0
    for session in sessions(day):
        first = session[0]
        assert first["event_type"] == "pageview"
        referrer = first["referrer"]
        assert referrer in (None, "") or urlsplit(referrer).hostname != first["host"], first
        first_referrers[urlsplit(referrer).hostname if referrer else referrer] += 1
        for event in session[1:]:
            if event["event_type"] == "pageview" and not is_bot(event):
                followed += 1
                internal += bool(event["referrer"]) and urlsplit(event["referrer"]).hostname == event["host"]
    assert internal / followed > 0.9
    assert {None, "", "www.google.com", "www.linkedin.com", "t.co"} <= set(first_referrers)
    assert any(host in DEFAULT_HOSTS for host in first_referrers)  # hops between sister sites


def test_visitors_follow_the_sites_paths(day) -> None:
    moves = Counter()
    for event in day:
        if event["event_type"] == "pageview" and event["referrer"]:
            source = urlsplit(event["referrer"])
            if source.hostname == event["host"]:
                moves[(source.path, event["url"].split("?")[0])] += 1
    lesson_re = re.compile(r"/courses/([a-z-]+)/lesson-([0-9]+)\Z")
    next_lesson = 0
    for (source, target), n in moves.items():
        a, b = lesson_re.match(source), lesson_re.match(target)
        if a and b and a[1] == b[1] and int(b[2]) == int(a[2]) + 1:
            next_lesson += n
    assert next_lesson > 100
    from_pricing = Counter({target: n for (source, target), n in moves.items() if source == "/pricing"})
    assert from_pricing["/signup"] > from_pricing["/"]
    assert moves[("/checkout", "/checkout/success")] > 0
    assert moves[("/", "/courses")] > moves[("/", "/about")]
    assert sum(n for (source, target), n in moves.items() if target.startswith("/blog/")) > 100
    assert any(e["url"].startswith("/docs/") for e in day)


def test_event_types_errors_slow_pages_places_and_accounts(day) -> None:
    types = Counter(e["event_type"] for e in day)
    assert types["pageview"] / len(day) > 0.75
    assert min(types["click"], types["conversion"], types["exception"]) > 0
    statuses = Counter(e["status"] for e in day if e["event_type"] == "pageview")
    assert 0 < statuses[404] + statuses[500] < 0.05 * sum(statuses.values())
    loads = [e["load_time_ms"] for e in day if e["load_time_ms"] is not None]
    assert statistics.median(loads) < 1_000 and sum(1 for ms in loads if ms > 3_000) > 0.005 * len(loads)
    assert len({e["geo"]["country"] for e in day if e["geo"]}) > 10
    assert any(e["geo"] is None for e in day)
    assert 0.02 < sum(1 for e in day if e["user_id"]) / len(day) < 0.6
    assert any("utm_source=" in e["url"] for e in day)


def test_applications_are_independent_populations_interleaved() -> None:
    stats = GenerationStats()
    lines = list(generate_day(DAY, 9_000, 4, apps=3, stats=stats))
    assert len(lines) == stats.lines == 9_000
    events = classify(lines)["valid"]
    by_app = defaultdict(set)
    for event in events:
        by_app[event["event_id"].split("-")[0]].add(event["ip"])
    assert len(by_app) == 3
    a, b, c = by_app.values()
    assert len(a & b) < 0.05 * len(a) and len(b & c) < 0.05 * len(b)
    apps_in_first_hundred = {json.loads(line)["event_id"].split("-")[0] for line in lines[:100] if parse_valid(line)}
    assert len(apps_in_first_hundred) == 3


def test_the_event_model_and_the_reference_sessionizer_count_the_same_faults(faulty_day) -> None:
    from websessions.events import Rejection, validate
    from websessions.sessionizer import Sessionizer
    from websessions.sessions import SessionRule

    lines, stats, _ = faulty_day
    outcomes = [validate(line, now_ms=DAY_START_MS + 2 * DAY_MS) for line in lines]
    rejected = [o for o in outcomes if isinstance(o, Rejection)]
    assert len(rejected) == stats.malformed
    sessionizer = Sessionizer(SessionRule(allowed_lateness_ms=int(FAULTS.allowed_lateness_s * 1000)))
    for outcome in outcomes:
        if not isinstance(outcome, Rejection):
            sessionizer.feed(outcome)
    assert sessionizer.late == stats.late_beyond_lateness
    assert sessionizer.duplicates == stats.duplicates


def test_live_schedule_is_deterministic_timely_and_near_the_rate() -> None:
    start = DAY_START_MS + 10 * 3_600_000
    first = list(zip(range(3_000), live_schedule(50, 2, start), strict=False))
    assert first == list(zip(range(3_000), live_schedule(50, 2, start), strict=False))
    stats = GenerationStats()
    schedule = [item for _, item in zip(range(6_000), live_schedule(50, 2, start, stats=stats), strict=False)]
    emit_times = [ms for ms, _ in schedule]
    assert emit_times == sorted(emit_times) and emit_times[0] >= start
    span_s = (emit_times[-1] - emit_times[0]) / 1000
    assert 25 < len(schedule) / span_s < 80
    for emit_ms, line in schedule:
        event = parse_valid(line)
        if event is not None:
            assert start <= event["ms"] <= emit_ms
            assert emit_ms - event["ms"] <= SimulatorConfig().late_max_delay_s * 1000
    assert stats.lines == 6_000 and stats.valid > 5_800


def test_generate_live_sleeps_until_each_event_is_due() -> None:
    clock = [1_795_168_800.0]  # 2026-11-20T10:00:00Z
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    lines = list(generate_live(20, 6, limit=400, clock=lambda: clock[0], sleep=sleep))
    assert len(lines) == 400
    assert 10 < sum(slept) < 40  # 400 events at about 20/s
    now_ms = clock[0] * 1000
    last = parse_valid(next(line for line in reversed(lines) if parse_valid(line)))
    assert now_ms - 1_000 <= last["ms"] <= now_ms + 1  # stamped "now" when it was yielded


@pytest.mark.parametrize(
    "change",
    [{"late_share": -0.1}, {"duplicate_share": 0.5}, {"malformed_share": 1.0}, {"hosts": ()}, {"hosts": ("Bad Host",)}],
)
def test_impossible_configurations_are_refused(change: dict) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**change)


def test_the_generate_command_writes_the_day_and_reports_its_statistics(tmp_path, capsys) -> None:
    from websessions.cli import main

    out = tmp_path / "day.jsonl"
    argv = ["generate", "--date", "2026-11-20", "--events", "3000", "--seed", "4", "--out", str(out)]
    assert main([*argv, "--late-share", "0", "--duplicate-share", "0.02"]) == 0
    lines = out.read_text().splitlines()
    assert lines == list(generate_day(DAY, 3_000, 4, SimulatorConfig(late_share=0, duplicate_share=0.02)))
    report = capsys.readouterr().err
    assert "3000 lines" in report and "60 duplicates" in report and "0 late" in report
    assert main(["generate", "--events", "10"]) == 2
    assert "--date" in capsys.readouterr().err
