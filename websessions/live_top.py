"""The live top lists: per host, the top pages and top referrers of the last 5 or 60 minutes of event time.

Defined as the batch layer's daily lists (:mod:`batch.history`, :mod:`websessions.analytics`):

- a **page** is a url's path without query string or fragment (:func:`websessions.analytics.page_of_url`),
  counted once per event (views);
- a **referrer** is the lower-cased host of a session's first event's referrer url, ``(direct)`` when there
  is none (:func:`referrer_host`, Spark's :func:`batch.history.referrer_host`), counted once per session, in
  the minute the session starts.

The live lists count the events the speed layer sessionizes (valid, not late), per minute of event time;
unlike the batch, a copy of an ``event_id`` (a producer's retry) counts as a view again (the job counts pages
before its dedupe, which lives in the keyed session operator). The minutes of a window are the ``minutes``
minutes up to and including the one of ``now``. A list ranks by count (descending), then item (ascending, by
code point) and keeps :data:`TOP_N`.

The speed layer counts per (host, minute) in the JVM (``streaming/java/.../SpeedTopLists.java``, at most
``settings.speed_top_max_items_per_minute`` distinct items per host, minute and list exactly, the rest as
:data:`OTHER`, which no list shows); the HBase table ``<live metrics>_top`` holds the counts, and
:func:`live_top_lists` sums the window's minutes. :func:`reference_top_lists` computes the same lists
from a list of events in plain Python: the integration test compares both.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from websessions.analytics import page_of_url
from websessions.events import Event
from websessions.sessionizer import sessionize
from websessions.sessions import SessionRule
from websessions.settings import Settings

TOP_N = 10
WINDOWS_MIN = (5, 60)
LISTS = ("pages", "referrers")
DIRECT = "(direct)"
OTHER = "(other)"
MINUTE_MS = 60_000
_FAMILIES = {b"p": "pages", b"r": "referrers"}
_REFERRER_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:@]+)")


@dataclass(frozen=True)
class TopLists:
    """One host's top pages and top referrers over the ``minutes`` minutes up to ``last_minute``."""

    host: str
    minutes: int
    last_minute: int
    pages: list[tuple[str, int]]
    referrers: list[tuple[str, int]]

    def of(self, which: str) -> list[tuple[str, int]]:
        """The list named ``which`` (``pages`` or ``referrers``)."""
        if which not in LISTS:
            raise ValueError(f"unknown top list {which!r}: choose one of {', '.join(LISTS)}")
        return self.pages if which == "pages" else self.referrers


def referrer_host(referrer: str | None) -> str:
    """The lower-cased host of a referrer url, ``(direct)`` when there is none."""
    found = _REFERRER_HOST.match(referrer or "")
    return found.group(1).lower() if found else DIRECT


def ranked(counts: Mapping[str, int], limit: int = TOP_N) -> list[tuple[str, int]]:
    """The ``limit`` items with the highest positive counts, ties by item; :data:`OTHER` is no item."""
    items = [(item, n) for item, n in counts.items() if n > 0 and item != OTHER]
    return sorted(items, key=lambda kv: (-kv[1], kv[0]))[:limit]


def window(now_ms: int, minutes: int) -> tuple[int, int]:
    """The first and last minute (since the epoch) of the ``minutes`` minutes up to the one of ``now_ms``."""
    if minutes < 1:
        raise ValueError("a top list's window is at least one minute")
    last = now_ms // MINUTE_MS
    return last - minutes + 1, last


def reference_top_lists(
    events: Iterable[Event], rule: SessionRule, now_ms: int, minutes: int, limit: int = TOP_N
) -> dict[str, TopLists]:
    """Host -> its top lists of the window, from the (valid, on-time) ``events`` in arrival order."""
    events = list(events)
    first, last = window(now_ms, minutes)
    pages: dict[str, Counter[str]] = {}
    referrers: dict[str, Counter[str]] = {}
    for e in events:
        if first <= e.event_time_ms // MINUTE_MS <= last:
            pages.setdefault(e.host, Counter())[page_of_url(e.url)] += 1
    for s in sessionize(events, rule):
        if first <= s.start_ms // MINUTE_MS <= last:
            referrers.setdefault(s.host, Counter())[referrer_host(s.referrer)] += 1
    hosts = sorted(set(pages) | set(referrers))
    return {
        h: TopLists(h, minutes, last, ranked(pages.get(h, {}), limit), ranked(referrers.get(h, {}), limit))
        for h in hosts
    }


def live_top_lists(
    settings: Settings, host: str, minutes: int, now_ms: int | None = None, limit: int = TOP_N
) -> TopLists:
    """``host``'s top lists of the last ``minutes`` minutes, summed from the speed layer's counts in HBase."""
    from websessions.stores.hbase_sessions import HBaseSessions

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    first, last = window(now_ms, minutes)
    totals: dict[str, Counter[str]] = {name: Counter() for name in LISTS}
    with HBaseSessions(settings) as store:
        for columns in store.top_list_minutes(host, first, last):
            for column, value in columns.items():
                family, _, item = column.partition(b":")
                totals[_FAMILIES[family]][item.decode()] += int(value)
    return TopLists(host, minutes, last, ranked(totals["pages"], limit), ranked(totals["referrers"], limit))
