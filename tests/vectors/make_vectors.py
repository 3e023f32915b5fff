"""Writes the shared session vectors (``tests/vectors/<case>/``); run it once, commit the files.

    python tests/vectors/make_vectors.py

Every case is built from its sessions: the generator decides which events form which session (by
construction, e.g. "these two events 300.000 s apart are one session") and derives each expected
record from that grouping with simple arithmetic (first/last event, counts). It never runs the
sessionizer, so the vectors are an independent check of the reference, Flink and Spark alike.

Files per case: ``case.json`` (description, timeout_s, allowed_lateness_s), ``events.jsonl`` (raw
events in ARRIVAL order) and ``expected_sessions.jsonl`` (sorted by host, ip, start).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass, field
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


@dataclass
class Sess:
    host: str
    ip: str  # normalised
    events: list[Ev] = field(default_factory=list)


def payload(s: Sess, e: Ev) -> dict:
    event = {
        "event_time": iso(e.t),
        "ip": e.raw_ip or s.ip,
        "host": s.host,
        "url": e.url,
        "referrer": e.referrer,
        "user_agent": "Mozilla/5.0 (vectors)",
    }
    if e.event_id is not None:
        event["event_id"] = e.event_id
    if e.status is not None:
        event["status"] = e.status
    return event


def expected(s: Sess) -> dict:
    """The record of a session built by construction (its events are given, not discovered)."""
    first = min(s.events, key=lambda e: e.t)
    last = max(s.events, key=lambda e: e.t)
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
        "errors": sum(1 for e in s.events if e.status is not None and e.status >= 400),
        "dt": iso(start)[:10],
    }


def write_case(name: str, description: str, sessions: list[Sess], arrival: list[tuple[Sess, Ev]] | None = None):
    """``arrival``: the order events are sent in; default: by time (ties by construction order)."""
    if arrival is None:
        pairs = [(s, e) for s in sessions for e in s.events]
        arrival = sorted(pairs, key=lambda p: p[1].t)
    out = HERE / name
    out.mkdir(exist_ok=True)
    meta = {"description": description, "timeout_s": TIMEOUT_MS // 1000, "allowed_lateness_s": LATENESS_S}
    (out / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = []
    for s, e in arrival:
        line = json.dumps(payload(s, e), ensure_ascii=False)
        lines.extend([line] * e.copies)
    (out / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = sorted((expected(s) for s in sessions), key=lambda r: (r["host"], r["ip"], r["start"]))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    (out / "expected_sessions.jsonl").write_text(text, encoding="utf-8")


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
