"""How people and crawlers behave: when they arrive, what they read, how long, and when they come back.

An *arrival* starts a chain of visits by one visitor. A person lands on a page chosen by the referrer
that brought them (a search engine sends them to a blog post or a course, a campaign link carries
``utm_`` tags, a direct visit opens the home page), reads for a lognormal think time, follows the site's
navigation (:mod:`websessions.simulator.sites`) until the walk exits, and meanwhile clicks, converts
(checkout, signup, newsletter) or hits a JavaScript exception now and then. A page is sometimes a broken
link (404) or a server error (500, slow), and its load time is lognormal with a slow tail. After a visit
the person may hop to a sister site (the referrer is the page they left), come back later (after a gap
that is mostly longer than the session timeout, so their sessions split), or leave for the day.
Crawlers fetch many pages of one site quickly, without referrer, load time or JavaScript, and return
every hour or so; scanners probe for exploitable paths and get 404s.

People arrive along a daily curve in UTC (quiet at night, busiest early afternoon: Europe's afternoon
meets America's morning); crawlers arrive around the clock. Think times within a visit stay below the
300 s session timeout, so a visit is one session; the gaps between visits split sessions.

An event here is a tuple ``(time_ms, host_fragment, url_json, referrer_json, type_and_status_fragment,
load_time_ms | None, identity_fragment)``: the JSON pieces the renderer of
:mod:`websessions.simulator.stream` joins into one line.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from itertools import count, islice
from operator import itemgetter
from statistics import NormalDist

from websessions.simulator.population import Population, Visitor
from websessions.simulator.sites import REFERRER_TABLE, Site, pick_weighted, weighted_table

Event = tuple  # (time_ms, host, url, referrer, type_status, load_time_ms, identity) — see the module docstring

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Relative arrival rate of people per UTC hour (crawlers are flat).
HOURLY_UTC = (0.42, 0.34, 0.27, 0.22, 0.20, 0.22, 0.30, 0.42, 0.55, 0.68, 0.80, 0.90,
              0.96, 1.00, 1.00, 0.98, 0.95, 0.92, 0.88, 0.82, 0.75, 0.68, 0.60, 0.51)  # fmt: skip
_HOUR_TABLE = weighted_table(zip(range(24), HOURLY_UTC, strict=True))

CRAWLER_ARRIVAL_SHARE = 0.013  # of arrivals (each crawls dozens of pages: ~15% of events)
SIGNED_IN_SHARE = 0.6  # of visits by people with an account
THINK_MEDIAN_S, THINK_SIGMA = 28.0, 1.0
THINK_MIN_MS, THINK_MAX_MS = 1_500, 280_000  # within a visit: below the session timeout
MAX_PAGES_PER_VISIT = 60
CLICK_SHARE, EXCEPTION_SHARE = 0.15, 0.005  # of page views followed by a click / a JavaScript exception
NOT_FOUND_SHARE, SERVER_ERROR_SHARE = 0.012, 0.004  # of page views
CHECKOUT_ERROR_SHARE = 0.02  # the payment page fails more often
LOAD_MEDIAN_MS, LOAD_SIGMA, SLOW_SHARE = 380.0, 0.55, 0.02
HOP_SHARE, RETURN_SHARE = 0.06, 0.3  # after a visit: to a sister site / back later the same day
CRAWL_PAGES_MEDIAN, CRAWL_RETURN_SHARE = 40, 0.5
LIVE_STEP_MS, LIVE_HORIZON_STEPS = 60_000, 720  # live arrival intensity: per minute, for the first 12 hours
LIVE_CALIBRATION_ARRIVALS = 2_000
CONVERSIONS = {"success": 1.0, "signup": 0.35, "newsletter": 0.25}  # a conversion event on these pages
_SIGNS_IN = frozenset(("login", "signup", "success"))

_PAGEVIEW = {status: f'"event_type":"pageview","status":{status}' for status in (200, 404, 500)}
_CLICK = '"event_type":"click","status":null'
_CONVERSION = '"event_type":"conversion","status":null'
_EXCEPTION = '"event_type":"exception","status":null'
_QUANTILES = 4096


def _lognormal_table(median: float, sigma: float, low: int, high: int) -> tuple[int, ...]:
    """Quantiles of a lognormal (clamped to ``[low, high]``): ``table[int(random() * len)]`` samples it.

    A table lookup is several times cheaper than ``random.lognormvariate``; 4096 quantiles resolve the
    distribution far more finely than anything downstream can tell.
    """
    normal = NormalDist(math.log(median), sigma)
    return tuple(min(high, max(low, int(math.exp(normal.inv_cdf((i + 0.5) / _QUANTILES))))) for i in range(_QUANTILES))


_THINK_MS = _lognormal_table(THINK_MEDIAN_S * 1000, THINK_SIGMA, THINK_MIN_MS, THINK_MAX_MS)
_LOAD_MS = _lognormal_table(LOAD_MEDIAN_MS, LOAD_SIGMA, 20, 60_000)
_RETURN_GAP_MS = _lognormal_table(45 * 60_000, 1.0, 60_000, 18 * HOUR_MS)  # after a visit, back the same day
_NULL = "null"


def person_arrival_ms(rng: random.Random) -> int:
    """Milliseconds into the UTC day at which a person arrives, following :data:`HOURLY_UTC`."""
    return int((pick_weighted(rng, _HOUR_TABLE) + rng.random()) * HOUR_MS)


def person_visits(
    rng: random.Random, site: Site, visitor: Visitor, t: int, end_ms: float, sites: tuple[Site, ...]
) -> Iterator[Event]:
    """The events of one person's visits starting at ``t`` (ms), in time order, all before ``end_ms``."""
    random_, load_ms, think_ms, quantiles = rng.random, _LOAD_MS, _THINK_MS, _QUANTILES
    ok, not_found, server_error = _PAGEVIEW[200], _PAGEVIEW[404], _PAGEVIEW[500]
    ref_json, ref_kind, utm = pick_weighted(rng, REFERRER_TABLE)
    signed_in = visitor.has_account and random_() < SIGNED_IN_SHARE
    identity = visitor.signed_in if signed_in else visitor.anonymous  # until they log in or sign up
    while True:
        page = site.landing(rng, ref_kind)
        if utm is not None and random_() < 0.6:
            page = site.utm_page(page, utm, "email" if ref_kind == "email" else "social")
        host = site.host_frag
        for _ in range(MAX_PAGES_PER_VISIT):
            load = load_ms[int(random_() * quantiles)]
            r = random_()
            if r < NOT_FOUND_SHARE:  # a broken link first; the visitor goes back and finds ``page`` another way
                broken = site.broken[int(r / NOT_FOUND_SHARE * len(site.broken))]
                yield t, host, broken.json, ref_json, not_found, load, identity
                t += 2_000 + int(random_() * 8_000)
                if t >= end_ms:
                    return
                r = NOT_FOUND_SHARE + random_() * (1 - NOT_FOUND_SHARE)
            if r < NOT_FOUND_SHARE + (CHECKOUT_ERROR_SHARE if page.section == "checkout" else SERVER_ERROR_SHARE):
                status, load = server_error, load * 8
            else:
                status = ok
                if random_() < SLOW_SHARE:
                    load *= 10 + int(random_() * 30)
            yield t, host, page.json, ref_json, status, load, identity
            think = think_ms[int(random_() * quantiles)]
            extra = random_()
            conversion = CONVERSIONS.get(page.section)
            if conversion is not None and status is ok and extra < conversion:
                if t + think // 3 < end_ms:
                    yield t + think // 3, host, page.json, ref_json, _CONVERSION, None, identity
            elif extra < CLICK_SHARE:
                at = t + int(think * (0.15 + 0.6 * random_()))
                if at < end_ms:
                    yield at, host, page.json, ref_json, _CLICK, None, identity
            elif extra < CLICK_SHARE + EXCEPTION_SHARE and t + think // 10 < end_ms:
                yield t + think // 10, host, page.json, ref_json, _EXCEPTION, None, identity
            if page.section in _SIGNS_IN:
                identity = visitor.signed_in
            t += think  # also when leaving: the visitor reads the last page before they go
            following = site.next_page(rng, page)
            if following is None:
                break
            if t >= end_ms:
                return
            ref_json = page.url_json
            page = following
        r = random_()
        if r < HOP_SHARE and len(sites) > 1:
            ref_json, ref_kind, utm = page.url_json, "internal", None
            other = sites[rng.randrange(len(sites) - 1)]
            site = other if other is not site else sites[-1]
            t += 2_000 + rng.randrange(60_000)
        elif r < HOP_SHARE + RETURN_SHARE:
            ref_json, ref_kind, utm = pick_weighted(rng, REFERRER_TABLE)
            t += _RETURN_GAP_MS[int(random_() * _QUANTILES)]
        else:
            return
        if t >= end_ms:
            return


def crawl(rng: random.Random, site: Site, visitor: Visitor, t: int, end_ms: float) -> Iterator[Event]:
    """A crawler's fetches of one site: many pages, fast, no referrer; it comes back now and then."""
    pages = site.scanner if visitor.scanner else site.crawl
    host, identity = site.host_frag, visitor.anonymous
    while True:
        fetches = len(pages) if visitor.scanner else 1 + int(rng.lognormvariate(math.log(CRAWL_PAGES_MEDIAN), 0.8))
        position = rng.randrange(len(pages))
        for _ in range(min(fetches, 3 * len(pages))):
            r = rng.random()
            if visitor.scanner:
                url, status = pages[position % len(pages)].json, 404
            elif r < 0.04:
                url, status = site.broken[position % len(site.broken)].json, 404
            else:
                url, status = pages[position % len(pages)].json, 500 if r > 0.996 else 200
            yield t, host, url, _NULL, _PAGEVIEW[status], None, identity
            position += 1
            t += 100 + int(rng.expovariate(1 / 1_200))
            if t >= end_ms:
                return
        if rng.random() >= CRAWL_RETURN_SHARE:
            return
        t += 20 * 60_000 + rng.randrange(160 * 60_000)
        if t >= end_ms:
            return


def arrival(
    rng: random.Random,
    population: Population,
    sites: tuple[Site, ...],
    site_table,
    t: int,
    end_ms: float,
    crawler: bool,
) -> Iterator[Event]:
    """One arrival at ``t``: a person on a site picked by its traffic share, or a crawler on any site."""
    if crawler:
        return crawl(rng, sites[rng.randrange(len(sites))], population.crawler(rng), t, end_ms)
    return person_visits(rng, pick_weighted(rng, site_table), population.person(rng), t, end_ms, sites)


def simulate_day(
    rng: random.Random, population: Population, sites: tuple[Site, ...], site_table, day_start_ms: int, events: int
) -> list[Event]:
    """Exactly ``events`` events of one UTC day, sorted by time (stable: ties keep generation order).

    Arrivals are independent and spread over the day, so stopping when the count is reached (cutting
    the last chain short) biases no hour. Chains stop at midnight: every event lies inside the day.
    """
    end_ms = day_start_ms + DAY_MS
    out: list[Event] = []
    while len(out) < events:
        crawler = rng.random() < CRAWLER_ARRIVAL_SHARE
        t = day_start_ms + (rng.randrange(DAY_MS) if crawler else person_arrival_ms(rng))  # crawlers keep no hours
        chain = arrival(rng, population, sites, site_table, t, end_ms, crawler)
        out.extend(islice(chain, events - len(out)))
    out.sort(key=itemgetter(0))
    return out


def live_arrival_rates(
    population: Population, sites: tuple[Site, ...], site_table, seed: int, rate: float
) -> tuple[list[float], float]:
    """Arrivals per ms in each minute after the start of live traffic, and after :data:`LIVE_HORIZON_STEPS`.

    An arrival brings events over hours (its visit now, returns and crawl rounds later), so a constant
    arrival rate would start far below ``rate`` events/s and reach it hours later. Instead, the events
    per arrival in each minute after it (measured on a private generator) are deconvolved: minute ``k``
    gets just the arrivals that, with those still bringing events from earlier minutes, make ``rate``.
    """
    rng = random.Random(seed)
    density = [0.0] * LIVE_HORIZON_STEPS  # events per arrival in each minute after it
    events = 0
    for _ in range(LIVE_CALIBRATION_ARRIVALS):
        crawler = rng.random() < CRAWLER_ARRIVAL_SHARE
        for event in arrival(rng, population, sites, site_table, rng.randrange(LIVE_STEP_MS), math.inf, crawler):
            events += 1
            step = event[0] // LIVE_STEP_MS
            if step < LIVE_HORIZON_STEPS:
                density[step] += 1 / LIVE_CALIBRATION_ARRIVALS
    per_step = rate * LIVE_STEP_MS / 1000
    arrivals: list[float] = []
    for k in range(LIVE_HORIZON_STEPS):
        carried = sum(arrivals[j] * density[k - j] for j in range(k))
        arrivals.append(max(per_step - carried, 0.0) / density[0])
    steady = per_step * LIVE_CALIBRATION_ARRIVALS / events
    return [a / LIVE_STEP_MS for a in arrivals], steady / LIVE_STEP_MS


def simulate_live(
    rng: random.Random, population: Population, sites: tuple[Site, ...], site_table, start_ms: int, rate: float
) -> Iterator[Event]:
    """An endless stream of events from ``start_ms`` on, in time order, about ``rate`` events per second.

    Arrivals are a Poisson process whose intensity (:func:`live_arrival_rates`) keeps the event rate
    near ``rate`` from the first minute on; the active visitors' chains are merged by time.
    """
    if rate <= 0:
        raise ValueError(f"the live rate must be positive, not {rate}")
    per_ms, steady_per_ms = live_arrival_rates(population, sites, site_table, rng.getrandbits(64), rate)
    chains: list[tuple[int, int, Event, Iterator[Event]]] = []
    order = count()

    def after(moment: float) -> float:
        """The next arrival after ``moment`` (intensity of its minute; a minute without arrivals is skipped)."""
        while True:
            step = int(moment - start_ms) // LIVE_STEP_MS
            intensity = per_ms[step] if step < LIVE_HORIZON_STEPS else steady_per_ms
            if intensity > 0:
                return moment + rng.expovariate(intensity)
            moment = start_ms + (step + 1) * LIVE_STEP_MS

    next_arrival = after(start_ms)
    while True:
        if not chains or next_arrival <= chains[0][0]:
            crawler = rng.random() < CRAWLER_ARRIVAL_SHARE
            chain = arrival(rng, population, sites, site_table, int(next_arrival), math.inf, crawler)
            first = next(chain)
            heapq.heappush(chains, (first[0], next(order), first, chain))
            next_arrival = after(next_arrival)
            continue
        _, _, event, chain = chains[0]
        yield event
        following = next(chain, None)
        if following is None:
            heapq.heappop(chains)
        else:
            heapq.heapreplace(chains, (following[0], next(order), following, chain))
