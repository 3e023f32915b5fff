"""Anomaly detection quality on simulated incidents over a simulated week.

    .venv/bin/python bench/bench_anomalies.py [--days 7] [--events-per-day 300000] [--incidents-per-day 6]

A week of simulated traffic of the five sites (``generate_day`` per day), with incidents injected by the
same code as ``websessions generate --incident`` (error burst: half the events fail; drop: 80 % of the
events gone; silence: none left), each on a random host at a random minute, lasting ``--duration``
minutes, never two at once. The per-host minute counts the speed layer would write (events counted once
per event id, errors = status >= 400) are fed to :class:`websessions.anomalies.Detector` with the
settings' thresholds, minute by minute.

An alert matches an incident when host and kind agree and its minute lies within the incident or the
``--grace`` minutes after it; any other alert is false. Reported per kind: incidents, detected (recall),
alerts, true alerts (precision), and the detection delay in minutes of event time: from the incident's
start to the end of the alerted minute (online, the runner sees that minute once the watermark passes it:
add the speed layer's allowed lateness, 60 s, and a few seconds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websessions.anomalies import KINDS, Detector, Thresholds, minute_counts  # noqa: E402
from websessions.settings import load_settings  # noqa: E402
from websessions.simulator import DEFAULT_HOSTS, day_start_ms, generate_day  # noqa: E402
from websessions.simulator.incidents import ALERT_KIND, INCIDENT_KINDS, Incident, inject  # noqa: E402

MINUTE_MS = 60_000
MIDNIGHT_MINUTES = 30


def schedule(first: date, days: int, per_day: int, duration_min: int, rng: random.Random) -> list[Incident]:
    """``per_day`` incidents a day, kinds in turn, on random hosts, at random minutes that never overlap."""
    incidents: list[Incident] = []
    taken: list[tuple[int, int]] = []
    start_ms = day_start_ms(first)
    for n in range(days * per_day):
        while True:
            at = start_ms + rng.randrange(30, days * 1440 - duration_min - 10) * MINUTE_MS
            span = (at - 15 * MINUTE_MS, at + (duration_min + 15) * MINUTE_MS)
            if all(span[1] <= a or b <= span[0] for a, b in taken):
                break
        taken.append(span)
        kind = INCIDENT_KINDS[n % len(INCIDENT_KINDS)]
        incidents.append(Incident(kind, rng.choice(DEFAULT_HOSTS), at, duration_s=duration_min * 60))
    return sorted(incidents, key=lambda i: i.start_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--events-per-day", type=int, default=300_000)
    parser.add_argument("--incidents-per-day", type=int, default=6)
    parser.add_argument("--duration", type=int, default=10, help="minutes each incident lasts")
    parser.add_argument("--grace", type=int, default=5, help="minutes after an incident an alert still matches")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    settings = load_settings(create_secrets=False)
    thresholds = Thresholds.from_settings(settings)
    rng = random.Random(args.seed)
    first = date(2026, 11, 2)
    incidents = schedule(first, args.days, args.incidents_per_day, args.duration, rng)
    t0 = time.perf_counter()
    counts: dict[int, dict[str, tuple[int, int, int]]] = {}
    for d in range(args.days):
        day = first + timedelta(days=d)
        lines = generate_day(day, args.events_per_day, args.seed + d)
        counts.update(minute_counts(inject(lines, incidents)))
    generated = time.perf_counter() - t0
    detector = Detector(DEFAULT_HOSTS, thresholds)
    t1 = time.perf_counter()
    alerts = [a for m in range(min(counts), max(counts) + 1) for a in detector.close_minute(m, counts.get(m, {}))]
    detected_in = time.perf_counter() - t1

    matched: dict[int, list] = defaultdict(list)
    false_alerts = []
    for alert in alerts:
        hit = next(
            (
                i for i, inc in enumerate(incidents)
                if inc.host == alert.host and ALERT_KIND[inc.kind] == alert.kind
                and inc.start_ms // MINUTE_MS <= alert.minute < inc.end_ms // MINUTE_MS + args.grace
            ),
            None,
        )  # fmt: skip
        if hit is None:
            false_alerts.append(alert)
        else:
            matched[hit].append(alert)
    hosts_days = len(DEFAULT_HOSTS) * args.days
    minutes = len(range(min(counts), max(counts) + 1))
    print(f"{args.days} days x {args.events_per_day} events, {len(incidents)} incidents of {args.duration} min,"
          f" {len(DEFAULT_HOSTS)} hosts; {minutes} minutes x {len(DEFAULT_HOSTS)} hosts judged in"
          f" {detected_in:.2f}s (simulation and counting {generated:.1f}s)")  # fmt: skip
    print("| kind | incidents | detected | recall | alerts | true | precision | delay median / p95 / max (min) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    by_kind = Counter(a.kind for a in alerts)
    for kind in KINDS:
        mine = [i for i, inc in enumerate(incidents) if ALERT_KIND[inc.kind] == kind]
        found = [i for i in mine if matched[i]]
        delays = sorted((min(a.minute for a in matched[i]) + 1) - incidents[i].start_ms // MINUTE_MS for i in found)
        true = sum(len(matched[i]) for i in mine)
        recall = f"{len(found) / len(mine):.3f}" if mine else "-"
        precision = f"{true / by_kind[kind]:.3f}" if by_kind[kind] else "-"
        delay = (
            f"{statistics.median(delays):.0f} / {delays[min(len(delays) - 1, int(0.95 * len(delays)))]} / {delays[-1]}"
            if delays else "-"
        )  # fmt: skip
        print(f"| {kind} | {len(mine)} | {len(found)} | {recall} | {by_kind[kind]} | {true} | {precision} | {delay} |")
    at_midnight = [a for a in false_alerts if a.minute % 1440 < MIDNIGHT_MINUTES]
    elsewhere = len(false_alerts) - len(at_midnight)
    kinds = ", ".join(f"{k} {n}" for k, n in Counter(a.kind for a in false_alerts).most_common()) or "none"
    print(
        f"false alerts: {len(false_alerts)} in {hosts_days} host-days = {len(false_alerts) / hosts_days:.2f} per host"
        f" per day ({kinds}); {len(at_midnight)} of them in the first {MIDNIGHT_MINUTES} minutes of a simulated day"
        f" (each day is simulated on its own: visits stop at midnight, a real drop in the data), the other"
        f" {elsewhere} = {elsewhere / hosts_days:.2f} per host per day"
    )
    missed = [incidents[i] for i, inc in enumerate(incidents) if not matched[i]]
    for inc in missed:
        print(f"  missed: {inc.kind} on {inc.host} at minute {inc.start_ms // MINUTE_MS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
