"""From simulated behaviour to JSON lines: rendering, delivery faults, statistics, backfill and live modes.

The behaviour (:mod:`websessions.simulator.behaviour`) yields events in time order; this module gives
each an ``event_id`` (``<prefix>-<counter>``, the prefix derived from the seed, the application and
the day, so ids are stable across runs and unique across days and applications), renders it as one
JSON line, and injects what real delivery does:

- **late** events: held back and emitted after events with later timestamps, by at most
  ``late_max_delay_s`` of event time (a phone that was offline, a beacon retried);
- **duplicates**: the same line (same ``event_id``) emitted again within ``duplicate_max_delay_s``;
- **malformed** lines: invalid JSON, a required field missing, a bad ip or a bad time.

A backfill day (:func:`generate_day`) has exact quotas: of ``events`` lines, ``round(events *
malformed_share)`` are malformed, ``round(events * duplicate_share)`` are duplicates, the rest are
distinct valid events (all inside the day), of which ``late_share`` are held back. Live traffic
(:func:`live_schedule`, paced by :func:`generate_live`) draws the same faults at the same rates.
:class:`GenerationStats` counts what was actually emitted, measured on the output stream: ``late`` is
the number of valid events emitted after a valid event with a later time, ``late_beyond_lateness``
the lines a streaming consumer with ``allowed_lateness_s`` counts as late (older than the watermark,
the latest time seen minus the allowed lateness).

Only the standard library: the CLI, the Kafka publisher and the tests import this module.
"""

from __future__ import annotations

import calendar
import hashlib
import heapq
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from itertools import islice
from operator import itemgetter

from websessions.simulator.behaviour import DAY_MS, Event, simulate_day, simulate_live
from websessions.simulator.population import Population
from websessions.simulator.sites import DEFAULT_HOSTS, pick_weighted, site_catalogue, weighted_table

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
EVENTS_PER_PERSON = 8  # population size: one person per this many events of a day (people come back)
MAX_SHARE = 0.25

# what a line is, for the statistics
VALID, DUPLICATE = 0, 1
MALFORMED_KINDS = ("invalid_json", "missing_field", "bad_ip", "bad_time")
_MALFORMED_CODES = {kind: 2 + i for i, kind in enumerate(MALFORMED_KINDS)}
_MALFORMED_TABLE = weighted_table(zip(MALFORMED_KINDS, (35, 25, 20, 20), strict=True))
# flags of a valid event (backfill quotas or live draws)
_LATE, _DUPLICATED, _MALFORMED_BEFORE = 1, 2, 4

REQUIRED_FIELDS = ("event_time", "ip", "host", "url")
_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+\Z")
BAD_IPS = ("999.12.3.4", "10.0.0", "1.2.3.4.5", "localhost", "2001:db8::zz", "", "unknown", "192.168.1.1:8080", "-")


@dataclass(frozen=True)
class SimulatorConfig:
    """What to simulate: the hosts, and the shares of delivery faults (each may be 0)."""

    hosts: tuple[str, ...] = DEFAULT_HOSTS
    late_share: float = 0.01  # of valid events: emitted after later ones
    duplicate_share: float = 0.005  # of lines: a second copy of a valid event
    malformed_share: float = 0.002  # of lines: not a valid event
    late_max_delay_s: float = 120.0  # how far (event time) a late event falls behind, at most
    duplicate_max_delay_s: float = 5.0  # how far behind its original a duplicate comes, at most
    allowed_lateness_s: float = 60.0  # the consumer's lateness, for ``GenerationStats.late_beyond_lateness``

    def __post_init__(self) -> None:
        if not self.hosts:
            raise ValueError("the simulator needs at least one host")
        for host in self.hosts:
            if not _HOST_RE.match(host):
                raise ValueError(f"host {host!r} is not a lower-case domain name like www.example.com")
        for name in ("late_share", "duplicate_share", "malformed_share"):
            share = getattr(self, name)
            if not 0 <= share <= MAX_SHARE:
                raise ValueError(f"{name} must be between 0 and {MAX_SHARE}, not {share}")
        if self.late_max_delay_s < 1 or self.duplicate_max_delay_s < 0 or self.allowed_lateness_s < 0:
            raise ValueError("late_max_delay_s must be at least 1 s, the other delays not negative")


@dataclass
class GenerationStats:
    """What a generator emitted: ``lines == valid + duplicates + malformed``."""

    valid: int = 0  # distinct valid events (their first copy)
    late: int = 0  # valid events emitted after a valid event with a later event_time
    late_beyond_lateness: int = 0  # valid lines older than (latest time seen - allowed lateness) when emitted
    duplicates: int = 0  # second copies of valid events (same event_id, same bytes)
    malformed: int = 0  # lines that are not valid events
    malformed_kinds: Counter = field(default_factory=Counter)

    @property
    def lines(self) -> int:
        return self.valid + self.duplicates + self.malformed

    def to_dict(self) -> dict:
        record = {"lines": self.lines, **asdict(self)}
        record["malformed_kinds"] = dict(sorted(self.malformed_kinds.items()))
        return record

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.malformed_kinds.items())) or "none"
        return (
            f"{self.lines} lines: {self.valid} valid events ({self.late} late, {self.late_beyond_lateness} beyond"
            f" the allowed lateness), {self.duplicates} duplicates, {self.malformed} malformed ({kinds})"
        )


def day_start_ms(day: date | str) -> int:
    """Epoch milliseconds of 00:00:00.000 UTC of ``day``."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY_MS


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(map(str, parts)).encode()).digest()


def _rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_digest(*parts)[:8], "big"))


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _quota_flags(rng: random.Random, valid: int, late: int, duplicated: int, malformed: int) -> bytearray:
    """Which valid events are late, duplicated, preceded by a malformed line: exact counts, random places."""
    flags = bytearray(valid)
    for i in rng.sample(range(valid), late):
        flags[i] = _LATE
    chosen = 0
    while chosen < duplicated:  # a late event is not also duplicated: each fault is counted once
        i = rng.randrange(valid)
        if not flags[i]:
            flags[i] = _DUPLICATED
            chosen += 1
    for i in rng.sample(range(valid), malformed):
        flags[i] |= _MALFORMED_BEFORE
    return flags


def _drawn_flags(rng: random.Random, config: SimulatorConfig) -> Iterator[int]:
    """Endless per-event flags at the configured shares (live traffic)."""
    valid_share = 1 - config.duplicate_share - config.malformed_share
    late, duplicated = config.late_share, config.duplicate_share / valid_share
    malformed = config.malformed_share / valid_share
    random_ = rng.random
    while True:
        r = random_()
        flag = _LATE if r < late else _DUPLICATED if r < late + duplicated else 0
        if random_() < malformed:
            flag |= _MALFORMED_BEFORE
        yield flag


def _malformed(rng: random.Random, line: str, year: str) -> tuple[int, str]:
    """A broken variant of ``line``: its kind code and text."""
    kind = pick_weighted(rng, _MALFORMED_TABLE)
    if kind == "invalid_json":
        variant = rng.randrange(4)
        if variant == 0:  # cut off in transit: a proper prefix of an object is never valid JSON
            text = line[: rng.randrange(1, len(line) - 1)]
        elif variant == 1:
            text = line.replace('"', "'")
        elif variant == 2:
            text = line + "}"
        else:
            record = json.loads(line)
            text = f'{record["ip"]} - - [{record["event_time"]}] "GET {record["url"]} HTTP/1.1" 200 -'
        return _MALFORMED_CODES[kind], text
    record = json.loads(line)
    if kind == "missing_field":
        name = rng.choice(REQUIRED_FIELDS)
        if rng.random() < 0.5:
            del record[name]
        else:
            record[name] = None
    elif kind == "bad_ip":
        record["ip"] = rng.choice(BAD_IPS)
    else:
        stamp = record["event_time"]
        record["event_time"] = rng.choice(
            (
                stamp[:10] + " " + stamp[11:19],  # no T, no Z
                stamp[:19] + ".000+01:00",  # not UTC
                f"{year}-02-30T{stamp[11:]}",  # no such day
                stamp[:11] + "25" + stamp[13:],  # no such hour
                "",
                "yesterday",
                calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) * 1000,  # a number, not a string
            )
        )
    return _MALFORMED_CODES[kind], json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _emit(
    events: Iterable[Event], flags: Iterable[int], rng: random.Random, id_prefix: str, config: SimulatorConfig
) -> Iterator[tuple[int, int, int, str]]:
    """Render events (in time order) as ``(stream_ms, event_ms, kind, line)`` with the faults flagged.

    ``stream_ms`` is the position of a line in the stream (the time of the event emitted with or just
    after it): non-decreasing, so applications merge by it and live traffic is paced by it.
    """
    held: list[tuple[int, int, int, int, str]] = []  # (release_ms, order, event_ms, kind, line)
    last_second, stamp = None, ""
    late_max_ms = int(config.late_max_delay_s * 1000)
    duplicate_max_ms = int(config.duplicate_max_delay_s * 1000)
    push, pop, randint = heapq.heappush, heapq.heappop, rng.randint
    number = malformed = 0
    id_length = len(f'{{"event_id":"{id_prefix}{0:08x}')
    for event, flag in zip(events, flags, strict=False):
        t, host, url, referrer, kind, load, identity = event
        while held and held[0][0] < t:
            release, _, event_ms, line_kind, line = pop(held)
            yield release, event_ms, line_kind, line
        second = t // 1000
        if second != last_second:  # events come in time order: the text up to the second is mostly reused
            last_second = second
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        number += 1
        line = (
            f'{{"event_id":"{id_prefix}{number:08x}","event_time":"{stamp}{t % 1000:03d}Z",{host},'
            f'"url":{url},"referrer":{referrer},{kind},"load_time_ms":{"null" if load is None else load},{identity}}}'
        )
        if not flag:
            yield t, t, 0, line  # VALID
            continue
        if flag & _MALFORMED_BEFORE:  # a broken line of its own (own id), before the event
            malformed += 1
            source = f'{{"event_id":"{id_prefix}x{malformed:07x}' + line[id_length:]
            code, text = _malformed(rng, source, stamp[:4])
            yield t, t, code, text
        if flag & _LATE:
            push(held, (t + randint(1000, late_max_ms), number, t, VALID, line))
            continue
        yield t, t, VALID, line
        if flag & _DUPLICATED:
            push(held, (t + randint(0, duplicate_max_ms), number, t, DUPLICATE, line))
    while held:
        release, _, event_ms, line_kind, line = pop(held)
        yield release, event_ms, line_kind, line


def _account(
    stream: Iterable[tuple[int, int, int, str]], stats: GenerationStats, config: SimulatorConfig
) -> Iterator[tuple[int, str]]:
    """Count every line into ``stats`` as it passes, in final emission order."""
    allowed_ms = int(config.allowed_lateness_s * 1000)
    latest = -(2**63)
    for stream_ms, event_ms, kind, line in stream:
        if kind == 0:  # VALID, the common case first
            stats.valid += 1
            if event_ms >= latest:
                latest = event_ms
            else:
                stats.late += 1
                stats.late_beyond_lateness += event_ms < latest - allowed_ms
        elif kind == DUPLICATE:
            stats.duplicates += 1
            stats.late_beyond_lateness += event_ms < latest - allowed_ms
        else:
            stats.malformed += 1
            stats.malformed_kinds[MALFORMED_KINDS[kind - 2]] += 1
        yield stream_ms, line


def _interleave(streams: list[Iterator[tuple[int, int, int, str]]]) -> Iterator[tuple[int, int, int, str]]:
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=itemgetter(0))


def _id_prefix(*parts: object) -> str:
    return _digest("event-id", *parts).hex()[:12] + "-"


def _quotas(events: int, config: SimulatorConfig) -> tuple[int, int, int, int]:
    """(valid, late, duplicated, malformed) of a backfill of ``events`` lines."""
    malformed = round(events * config.malformed_share)
    duplicated = round(events * config.duplicate_share)
    valid = events - malformed - duplicated
    if valid < max(malformed, duplicated, 1 if events else 0):
        raise ValueError(f"{events} events are too few for the configured shares")
    return valid, min(round(valid * config.late_share), valid - duplicated), duplicated, malformed


def _day_stream(day: date, events: int, seed: int, app: int, config: SimulatorConfig):
    """One application's lines of the day (a generator: nothing is simulated before the first is asked for)."""
    valid, late, duplicated, malformed = _quotas(events, config)
    sites, site_table = site_catalogue(tuple(config.hosts))
    population = Population(f"{seed}|{app}", valid // EVENTS_PER_PERSON)
    traffic = simulate_day(_rng(seed, app, day, "traffic"), population, sites, site_table, day_start_ms(day), valid)
    faults = _rng(seed, app, day, "faults")
    flags = _quota_flags(faults, valid, late, duplicated, malformed)
    yield from _emit(traffic, flags, faults, _id_prefix(seed, app, day), config)


def generate_day(
    day: date | str,
    events: int,
    seed: int,
    config: SimulatorConfig | None = None,
    *,
    apps: int = 1,
    stats: GenerationStats | None = None,
) -> Iterator[str]:
    """Exactly ``events`` JSON lines (no newline) of simulated traffic of the UTC ``day``, in emission order.

    Deterministic: the same arguments give the same bytes. Every valid event's time lies inside the
    day (late ones are emitted out of order, not moved out of the day). With ``apps`` > 1 the events
    are split between that many independent applications (own population and seed), interleaved.
    ``stats`` (optional) is filled in as the lines are consumed. The whole day is simulated when the
    first line is asked for (about 200 bytes of memory per event); arguments are checked at once.
    """
    config = config or SimulatorConfig()
    if events < 0 or apps < 1:
        raise ValueError("events must not be negative and apps at least 1")
    day = date.fromisoformat(day) if isinstance(day, str) else day
    stats = stats if stats is not None else GenerationStats()
    shares = _split(events, apps)
    for n in shares:
        _quotas(n, config)  # refuse now, not at the first line
    streams = [_day_stream(day, n, seed, app, config) for app, n in enumerate(shares)]
    return (line for _, line in _account(_interleave(streams), stats, config))


def live_schedule(
    rate: float,
    seed: int,
    start_ms: int,
    config: SimulatorConfig | None = None,
    *,
    apps: int = 1,
    stats: GenerationStats | None = None,
) -> Iterator[tuple[int, str]]:
    """Endless ``(emit_at_ms, line)`` of live traffic from ``start_ms``, about ``rate`` lines/s in all.

    Pure (no clock): an event's time is when it is due, so a consumer that emits each line at
    ``emit_at_ms`` sends events stamped "now" (late ones a little in the past).
    """
    config = config or SimulatorConfig()
    if rate <= 0 or apps < 1:
        raise ValueError("the rate must be positive and apps at least 1")
    stats = stats if stats is not None else GenerationStats()
    sites, site_table = site_catalogue(tuple(config.hosts))
    streams = []
    for app in range(apps):
        population = Population(f"{seed}|{app}", max(1000, int(rate / apps * 3600 / EVENTS_PER_PERSON)))
        behaviour = _rng(seed, app, start_ms, "traffic")
        traffic = simulate_live(behaviour, population, sites, site_table, start_ms, rate / apps)
        faults = _rng(seed, app, start_ms, "faults")
        streams.append(_emit(traffic, _drawn_flags(faults, config), faults, _id_prefix(seed, app, start_ms), config))
    return _account(_interleave(streams), stats, config)


def generate_live(
    rate: float,
    seed: int,
    config: SimulatorConfig | None = None,
    *,
    apps: int = 1,
    limit: int | None = None,
    stats: GenerationStats | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Live traffic paced in real time: each line is yielded when it is due (``event_time`` = now).

    Runs until ``limit`` lines (or forever). A consumer slower than ``rate`` gets the due lines at once,
    so their times fall behind the clock, as a backlogged client's would.
    """
    if limit is not None and limit < 0:
        raise ValueError("the limit must not be negative")
    schedule = live_schedule(rate, seed, int(clock() * 1000), config, apps=apps, stats=stats)
    return _paced(islice(schedule, limit), clock, sleep)


def _paced(
    schedule: Iterable[tuple[int, str]], clock: Callable[[], float], sleep: Callable[[float], None]
) -> Iterator[str]:
    for emit_ms, line in schedule:
        delay = emit_ms / 1000 - clock()
        if delay > 0.001:
            sleep(delay)
        yield line
