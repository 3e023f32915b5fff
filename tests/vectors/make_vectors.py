"""Writes the shared session vectors (``tests/vectors/<case>/``); run it once, commit the files.

    python tests/vectors/make_vectors.py

Every case is built from its sessions: the generator decides which events form which session (by
construction, e.g. "these two events 300.000 s apart are one session") and which sent events are
copies of a counted one (the dedupe rule), and derives each expected record from that grouping with
simple arithmetic (first/last event by time then event id in code point order, counts). It never runs
the sessionizer, so the vectors are an independent check of the reference, Flink and Spark alike.

Files per case: ``case.json`` (description and the case's rule: timeout_s, allowed_lateness_s,
max_session_days), ``events.jsonl`` (raw events in ARRIVAL order; no event of a case is late under its
rule, so every layer must give the expected sessions) and ``expected_sessions.jsonl`` (every field of
the record, sorted by host, ip, start).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE_MS = 1_795_168_800_000  # 2026-11-20T10:00:00.000Z
TIMEOUT_MS = 300_000
LATENESS_S = 60


def iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


@dataclass
class Ev:
    t: int  # epoch ms
    url: str
    event_id: str | None = None
    status: int | None = None
    referrer: str | None = "https://www.google.com/"
    raw_ip: str | None = None  # the ip as sent, when it differs from the normalised one
    copies: int = 1  # sent this many times (identical payloads): counts once
    user_agent: str | None = "Mozilla/5.0 (vectors)"
    geo: dict | None = None


@dataclass
class Sess:
    host: str
    ip: str  # normalised
    events: list[Ev] = field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    timeout_s: int = TIMEOUT_MS // 1000
    allowed_lateness_s: int = LATENESS_S
    max_session_days: int = 2


GEO_FIELDS = ("country", "region", "city")


def payload(s: Sess, e: Ev) -> dict:
    event = {
        "event_time": iso(e.t),
        "ip": e.raw_ip or s.ip,
        "host": s.host,
        "url": e.url,
        "referrer": e.referrer,
        "user_agent": e.user_agent,
    }
    if e.event_id is not None:
        event["event_id"] = e.event_id
    if e.status is not None:
        event["status"] = e.status
    if e.geo is not None:
        event["geo"] = e.geo
    return event


def order_key(e: Ev) -> tuple[int, str]:
    """Time, then event id in code point order (Python's str order). Events without an explicit id
    never tie in time within a session here (their derived id would decide)."""
    return (e.t, e.event_id or "")


def expected(s: Sess) -> dict:
    """The record of a session built by construction (its counted events are given, not discovered)."""
    keys = [order_key(e) for e in s.events]
    assert len(set(keys)) == len(keys), f"events of one session tie in time without explicit ids: {keys}"
    first = min(s.events, key=order_key)
    last = max(s.events, key=order_key)
    start, end = first.t, last.t
    return {
        "session_id": hashlib.sha1(f"{s.host}|{s.ip}|{start}".encode()).hexdigest()[:20],
        "host": s.host,
        "ip": s.ip,
        "start": iso(start),
        "end": iso(end),
        "duration_s": (end - start) / 1000,
        "events": len(s.events),
        "pages": len({e.url for e in s.events}),
        "first_url": first.url,
        "last_url": last.url,
        "referrer": first.referrer,
        "user_agent": first.user_agent,
        "geo": None if first.geo is None else {name: first.geo.get(name) for name in GEO_FIELDS},
        "errors": sum(1 for e in s.events if e.status is not None and e.status >= 400),
        "status": "closed",
        "dt": iso(start)[:10],
    }


def write_case(
    name: str,
    description: str,
    sessions: list[Sess],
    arrival: list[tuple[Sess, Ev]] | None = None,
    rule: Rule = Rule(),
) -> None:
    """``arrival``: the order events are sent in (copies included: a sent event that is not among its
    session's counted events is a copy of one); default: by time (ties by construction order)."""
    if arrival is None:
        pairs = [(s, e) for s in sessions for e in s.events]
        arrival = sorted(pairs, key=lambda p: p[1].t)
    check_not_late(name, arrival, rule)
    out = HERE / name
    out.mkdir(exist_ok=True)
    meta = {"description": description, **asdict(rule)}
    (out / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = []
    for s, e in arrival:
        line = json.dumps(payload(s, e), ensure_ascii=False)
        lines.extend([line] * e.copies)
    (out / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = sorted((expected(s) for s in sessions), key=lambda r: (r["host"], r["ip"], r["start"]))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    (out / "expected_sessions.jsonl").write_text(text, encoding="utf-8")


def check_not_late(name: str, arrival: list[tuple[Sess, Ev]], rule: Rule) -> None:
    """No event of a vector may be late (before the max event time seen so far minus the lateness)."""
    newest = None
    for _, e in arrival:
        if newest is not None:
            assert e.t >= newest - rule.allowed_lateness_s * 1000, f"{name}: {e} would be late"
        newest = e.t if newest is None else max(newest, e.t)


def boundary_cases() -> None:
    host = "www.dataexpert.io"
    one = Sess(host, "203.0.113.1", [Ev(BASE_MS, "/a"), Ev(BASE_MS + TIMEOUT_MS, "/b")])
    write_case("gap_exactly_timeout", "a gap of exactly 300.000 s continues the session", [one])

    a = Sess(host, "203.0.113.2", [Ev(BASE_MS, "/a")])
    b = Sess(host, "203.0.113.2", [Ev(BASE_MS + TIMEOUT_MS + 1, "/b")])
    write_case("gap_timeout_plus_1ms", "a gap of 300.001 s starts a new session", [a, b])

    one = Sess(host, "203.0.113.3", [Ev(BASE_MS, "/a"), Ev(BASE_MS + TIMEOUT_MS - 1, "/b")])
    write_case("gap_timeout_minus_1ms", "a gap of 299.999 s continues the session", [one])

    chain = Sess(host, "203.0.113.4", [Ev(BASE_MS + i * TIMEOUT_MS, f"/step/{i}") for i in range(5)])
    write_case("chain_of_exact_gaps", "five events each exactly the timeout apart: one 20-minute session", [chain])


def duplicate_case() -> None:
    s = Sess(
        "zachwilson.tech",
        "198.51.100.7",
        [
            Ev(BASE_MS, "/", event_id="dup-1", copies=3),
            Ev(BASE_MS + 5_000, "/blog", copies=2),  # no event_id: the derived id is the same for both copies
            Ev(BASE_MS + 9_000, "/blog", event_id="dup-2"),
            Ev(BASE_MS + 12_000, "/pricing", event_id="dup-3", status=404, copies=2),
        ],
    )
    write_case("duplicate_event_id", "repeated event_id (explicit or derived) counts once", [s])


def out_of_order_case() -> None:
    host = "www.dataexpert.io"
    a = Sess(host, "192.0.2.10", [Ev(BASE_MS + i * 10_000, f"/p{i}") for i in range(5)])
    b = Sess(host, "192.0.2.11", [Ev(BASE_MS + 50_000, "/second"), Ev(BASE_MS + 30_000, "/first")])
    c1 = Sess(host, "192.0.2.12", [Ev(BASE_MS, "/x")])
    c2 = Sess(host, "192.0.2.12", [Ev(BASE_MS + TIMEOUT_MS + 40_000, "/y")])
    ea = a.events
    arrival = [
        (a, ea[0]), (b, b.events[0]), (a, ea[2]), (a, ea[1]), (b, b.events[1]), (c1, c1.events[0]),
        (a, ea[4]), (a, ea[3]),
        (c2, c2.events[0]),
    ]  # fmt: skip
    write_case(
        "out_of_order_within_lateness",
        "events up to 20 s out of order (lateness 60 s): same sessions as in time order",
        [a, b, c1, c2],
        arrival,
    )


def midnight_case() -> None:
    host = "www.dataexpert.io"
    d = 1_795_132_800_000  # 2026-11-20T00:00:00.000Z; the midnight below is 2026-11-21T00:00:00
    midnight = d + 86_400_000
    a = Sess(host, "203.0.113.20", [Ev(midnight - 120_000, "/late"), Ev(midnight - 30_000, "/later"),
                                    Ev(midnight + 120_000, "/next-day"), Ev(midnight + 270_000, "/end")])  # fmt: skip
    b = Sess(host, "203.0.113.21", [Ev(midnight + 60_000, "/after")])
    c1 = Sess(host, "203.0.113.22", [Ev(midnight - 1, "/last-ms")])
    c2 = Sess(host, "203.0.113.22", [Ev(midnight + TIMEOUT_MS, "/gap-300.001")])
    write_case("across_midnight", "a session belongs to the UTC date it starts on", [a, b, c1, c2])


def many_keys_case() -> None:
    rng = random.Random(20261120)
    hosts = ["www.dataexpert.io", "zachwilson.tech", "admin.zachwilson.tech"]
    urls = ["/", "/blog", "/pricing", "/courses", "/login", "/blog/flink", "/blog/spark"]
    sessions: list[Sess] = []
    for k in range(200):
        host, ip = hosts[k % 3], f"10.20.{k // 100}.{k % 100 + 1}"
        t = BASE_MS + rng.randrange(0, 3_600_000)
        for j in range(rng.randint(1, 3)):
            s = Sess(host, ip)
            for i in range(rng.randint(1, 5)):
                if i:
                    t += rng.choice([1, 1_000, 60_000, 299_999, TIMEOUT_MS, rng.randrange(1, TIMEOUT_MS)])
                status = 500 if rng.random() < 0.1 else 200
                s.events.append(Ev(t, rng.choice(urls), event_id=f"k{k}-s{j}-e{i}", status=status))
            sessions.append(s)
            t += rng.choice([TIMEOUT_MS + 1, TIMEOUT_MS + 1_000, rng.randrange(TIMEOUT_MS + 1, 7_200_000)])
    pairs = [(s, e) for s in sessions for e in s.events]
    jitter = {id(e): rng.randrange(0, 30_000) for _, e in pairs}  # arrival up to 30 s behind event time
    arrival = sorted(pairs, key=lambda p: (p[1].t + jitter[id(p[1])], p[1].event_id))
    write_case("many_keys", "200 keys, 1-3 sessions each, arrival up to 30 s out of order", sessions, arrival)


def unicode_case() -> None:
    s = Sess("www.dataexpert.io", "203.0.113.30", [
        Ev(BASE_MS, "/café", referrer="https://example.org/ünïcode"),
        Ev(BASE_MS + 1_000, "/日本語/ページ"),
        Ev(BASE_MS + 2_000, "/emoji/🎉?q=ß"),
        Ev(BASE_MS + 3_000, "/café"),
    ])  # fmt: skip
    write_case("unicode_urls", "non-ASCII urls and referrer pass through; pages counts distinct urls", [s])


def ipv6_case() -> None:
    host = "www.dataexpert.io"
    v6 = Sess(host, "2001:db8::1", [
        Ev(BASE_MS, "/a", raw_ip="2001:DB8:0:0:0:0:0:1"),
        Ev(BASE_MS + 10_000, "/b", raw_ip="2001:db8::1"),
        Ev(BASE_MS + 20_000, "/c", raw_ip="2001:0db8:0000::0001"),
    ])  # fmt: skip
    mapped = Sess(host, "192.0.2.50", [
        Ev(BASE_MS + 1_000, "/m1", raw_ip="::ffff:192.0.2.50"),
        Ev(BASE_MS + 2_000, "/m2", raw_ip="192.0.2.50"),
    ])  # fmt: skip
    write_case("ipv6_normalised", "spellings of one IPv6 address (and IPv4-mapped IPv6) are one key", [v6, mapped])


def hosts_case() -> None:
    ip = "203.0.113.40"
    a = Sess("www.dataexpert.io", ip, [Ev(BASE_MS + t, f"/a{t}") for t in (0, 200_000, 400_000)])
    b1 = Sess("zachwilson.tech", ip, [Ev(BASE_MS + 100_000, "/b1")])
    b2 = Sess("zachwilson.tech", ip, [Ev(BASE_MS + 700_000, "/b2")])
    write_case("same_ip_different_hosts", "the key is (ip, host): one ip on two hosts is two keys",
               [a, b1, b2])  # fmt: skip


def merge_case() -> None:
    host = "www.dataexpert.io"
    s = Sess("www.dataexpert.io", "198.51.100.60", [Ev(BASE_MS, "/a"), Ev(BASE_MS + 350_000, "/b"),
                                                     Ev(BASE_MS + 300_000, "/bridge")])  # fmt: skip
    control1 = Sess(host, "198.51.100.61", [Ev(BASE_MS, "/a")])
    control2 = Sess(host, "198.51.100.61", [Ev(BASE_MS + 350_000, "/b")])
    e = s.events
    arrival = [(s, e[0]), (control1, control1.events[0]), (s, e[1]), (control2, control2.events[0]), (s, e[2])]
    write_case(
        "late_event_bridges_sessions",
        "0 s and 350 s are two sessions until an event at 300 s arrives (within lateness): one merged session;"
        " the control key without the bridge stays two sessions",
        [s, control1, control2],
        arrival,
    )


def same_millisecond_case() -> None:
    """Distinct events at one millisecond: the first and last event are decided by event id in code
    point order. U+FF5E sorts before U+1F600 by code point but after it by UTF-16 unit (0xFF5E > 0xD83D),
    so an engine comparing Java strings with ``compareTo`` picks the other event at both ends."""
    host, ip = "www.dataexpert.io", "203.0.113.70"
    geo_nl = {"country": "NL", "region": "UT", "city": "Utrecht"}
    geo_jp = {"country": "JP", "region": None, "city": "\u6771\u4eac"}
    bmp = Ev(BASE_MS, "/first-bmp", event_id="t-\uff5e", referrer="https://r.example/bmp", user_agent="UA bmp",
             geo=geo_nl)  # fmt: skip
    astral = Ev(BASE_MS, "/first-astral", event_id="t-\U0001f600", referrer="https://r.example/astral",
                user_agent="UA astral", geo=geo_jp)  # fmt: skip
    upper = Ev(BASE_MS + 30_000, "/middle-B", event_id="m-B")
    lower = Ev(BASE_MS + 30_000, "/middle-a", event_id="m-a", status=503)
    end_bmp = Ev(BASE_MS + 60_000, "/last-bmp", event_id="u-\uff5e")
    end_astral = Ev(BASE_MS + 60_000, "/last-astral", event_id="u-\U0001f600", status=404)
    s = Sess(host, ip, [bmp, astral, upper, lower, end_bmp, end_astral])
    arrival = [(s, e) for e in (astral, bmp, lower, upper, end_astral, end_bmp)]
    write_case("same_millisecond_ties", "distinct events at one millisecond: first/last by event id in code points"
               " (U+FF5E < U+1F600), not by arrival and not by UTF-16 units", [s], arrival)  # fmt: skip


def astral_urls_case() -> None:
    host, ip = "www.dataexpert.io", "203.0.113.71"
    s = Sess(host, ip, [
        Ev(BASE_MS, "/\U0001f389/party", referrer="https://example.org/\U0001d518\U0001d52b\U0001d526",
           user_agent="Mozilla/5.0 \U0001f916"),
        Ev(BASE_MS + 1_000, "/\U0002070e"),
        Ev(BASE_MS + 2_000, "/\ufb01le"),
        Ev(BASE_MS + 3_000, "/\U0001f389/party"),
        Ev(BASE_MS + 4_000, "/\U0001f38a/party"),  # differs from U+1F389 in the low surrogate only
    ])  # fmt: skip
    write_case("astral_urls", "urls, referrer and user agent with characters outside the BMP; pages counts"
               " distinct urls", [s])  # fmt: skip


def copies_case() -> None:
    """Copies of one id: identical and with other content, seconds and minutes apart, before and after
    in time; the first to arrive counts, a copy more than the timeout from every counted copy counts."""
    host = "zachwilson.tech"
    t = BASE_MS
    c1 = Ev(t, "/a", event_id="c-1", user_agent="the first copy", status=200, geo={"country": "DE"})
    c2 = Ev(t + 60_000, "/b", event_id="c-2")
    c3 = Ev(t + 120_000, "/c", event_id="c-3", status=500)
    c1_reused = Ev(t + 400_000, "/reused", event_id="c-1")  # 400 s after the counted c-1: an event
    c3_own = Ev(t + 420_001, "/c-again", event_id="c-3")  # 300.001 s after the counted c-3: an event
    a = Sess(host, "198.51.100.80", [c1, c2, c3, c1_reused, c3_own])
    copies = [
        Ev(t + 2_000, "/a-resent-2s-later", event_id="c-1", status=404, user_agent="second copy"),
        Ev(t + 70_000, "/c-earlier-in-time", event_id="c-3", referrer=None),  # earlier, but arrives later
        Ev(t + 300_000, "/b-4-minutes-later", event_id="c-2", status=500),
        Ev(t + 360_000, "/b-exactly-the-timeout-later", event_id="c-2"),
        Ev(t + 450_000, "/reused-again", event_id="c-1"),  # 50 s after the reused c-1: a copy of it
    ]
    d1 = Ev(t, "/d", event_id="d-1")
    d1_later = Ev(t + 600_000, "/d-10-minutes-later", event_id="d-1")  # 600 s later: an event, a session
    b1 = Sess(host, "198.51.100.81", [d1])
    b2 = Sess(host, "198.51.100.81", [d1_later])
    d1_copy = Ev(t + 605_000, "/d-copy", event_id="d-1")
    # Nothing arrives more than 60 s behind the newest event, so the default rule finds nothing late either.
    arrival = [
        (b1, d1), (a, c1), (a, c2), (a, c1), (a, copies[0]), (a, c3), (a, copies[1]), (a, copies[2]),
        (a, c1_reused), (a, copies[3]), (a, c3_own), (a, copies[4]), (b2, d1_later), (b2, d1_copy),
    ]  # fmt: skip
    write_case("copies_of_an_event_id", "copies of an id within the timeout (identical or not, seconds or"
               " minutes apart, earlier or later in time) are one event, the first to arrive wins; further"
               " apart they are events of their own", [a, b1, b2], arrival, Rule(allowed_lateness_s=600))  # fmt: skip


def timeout_1s_case() -> None:
    host, ip = "www.dataexpert.io", "192.0.2.82"
    t = BASE_MS
    x, x_copy, x_own = (
        Ev(t, "/x", event_id="x"),
        Ev(t + 1_000, "/x-copy", event_id="x"),
        Ev(t + 1_001, "/x-own", event_id="x"),
    )
    z = Ev(t + 2_001, "/z", event_id="z")
    z_tie = Ev(t + 2_001, "/z-tie", event_id="z-2")
    w = Ev(t + 3_002, "/w", event_id="w")
    s1, s2, s3 = Sess(host, ip, [x]), Sess(host, ip, [x_own, z, z_tie]), Sess(host, ip, [w])
    arrival = [(s1, x), (s1, x_copy), (s2, x_own), (s2, z_tie), (s2, z), (s3, w)]
    write_case("timeout_1s_lateness_0", "timeout 1 s, lateness 0 (arrival in time order): a copy 1.000 s"
               " later is a copy, 1.001 s later an event and a session", [s1, s2, s3], arrival,
               Rule(timeout_s=1, allowed_lateness_s=0))  # fmt: skip


def timeout_1800_case() -> None:
    host = "www.dataexpert.io"
    long_gap = 1_800_000
    behind = Ev(BASE_MS + long_gap - 540_000, "/9-minutes-behind")  # arrives after BASE + long_gap + 1 s
    a = Sess(host, "192.0.2.83", [Ev(BASE_MS, "/a"), behind, Ev(BASE_MS + long_gap, "/b"),
                                   Ev(BASE_MS + 2 * long_gap, "/c")])  # fmt: skip
    b1 = Sess(host, "192.0.2.84", [Ev(BASE_MS, "/p")])
    b2 = Sess(host, "192.0.2.84", [Ev(BASE_MS + long_gap + 1, "/q"), Ev(BASE_MS + long_gap + 1_000, "/r")])
    pairs = sorted(((s, e) for s in (a, b1, b2) for e in s.events if e is not behind), key=lambda p: p[1].t)
    position = next(i for i, (_, e) in enumerate(pairs) if e.t > BASE_MS + long_gap + 1_000)
    arrival = [*pairs[:position], (a, behind), *pairs[position:]]
    write_case("timeout_1800s_lateness_600", "timeout 1800 s: a gap of exactly 1800.000 s continues, 1800.001 s"
               " starts a session; an event 9 minutes behind (lateness 600 s) is not late", [a, b1, b2],
               arrival, Rule(timeout_s=1800, allowed_lateness_s=600))  # fmt: skip


def lateness_0_case() -> None:
    host = "www.dataexpert.io"
    a = Sess(host, "192.0.2.85", [Ev(BASE_MS, "/a", event_id="a1"), Ev(BASE_MS, "/a-tie", event_id="a0"),
                                   Ev(BASE_MS + TIMEOUT_MS, "/b", event_id="b")])  # fmt: skip
    b = Sess(host, "192.0.2.86", [Ev(BASE_MS + 10, "/only", event_id="o")])
    write_case("lateness_0_in_time_order", "lateness 0: events in time order, ties at one millisecond accepted",
               [a, b], rule=Rule(allowed_lateness_s=0))  # fmt: skip


def midnight_copies_case() -> None:
    host = "www.dataexpert.io"
    midnight = 1_795_219_200_000  # 2026-11-21T00:00:00.000Z
    m1 = Ev(midnight - 2_000, "/before-midnight", event_id="m-1")
    m1_copy = Ev(midnight + 1_000, "/copy-after-midnight", event_id="m-1")  # 3 s later, the next day: a copy
    a = Sess(host, "203.0.113.90", [m1, Ev(midnight + 120_000, "/next-day", event_id="n")])
    m2 = Ev(midnight - 120_000, "/m2", event_id="m-2")
    m2_own = Ev(midnight + 240_000, "/m2-6-minutes-later", event_id="m-2")  # 360 s later: an event
    b1, b2 = Sess(host, "203.0.113.91", [m2]), Sess(host, "203.0.113.91", [m2_own])
    arrival = [(b1, m2), (a, m1), (a, m1_copy), (a, a.events[1]), (b2, m2_own)]
    write_case("copies_across_midnight", "a copy on the next day is a copy of its session's event; an id"
               " reused 6 minutes later starts a session on the next day", [a, b1, b2], arrival)  # fmt: skip


def overlong_case() -> None:
    host = "www.dataexpert.io"
    start = 1_795_176_000_000  # 2026-11-20T12:00:00.000Z
    bot = Sess(host, "192.0.2.99", [Ev(start + i * 240_000, f"/crawl/{i % 50}", event_id=f"bot-{i}")
                                    for i in range(25 * 15 + 1)])  # fmt: skip
    human = Sess(host, "192.0.2.98", [Ev(start, "/", event_id="h-1"), Ev(start + 60_000, "/blog", event_id="h-2")])
    write_case("overlong_session", "a 25-hour session is overlong with max_session_days 1 (the batch quarantines"
               " it) but is still the same record", [bot, human], rule=Rule(max_session_days=1))  # fmt: skip


if __name__ == "__main__":
    boundary_cases()
    duplicate_case()
    out_of_order_case()
    midnight_case()
    many_keys_case()
    unicode_case()
    ipv6_case()
    hosts_case()
    merge_case()
    same_millisecond_case()
    astral_urls_case()
    copies_case()
    timeout_1s_case()
    timeout_1800_case()
    lateness_0_case()
    midnight_copies_case()
    overlong_case()
