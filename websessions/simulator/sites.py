"""The simulated sites: their hosts, their pages, and how visitors move from page to page.

A site is one host with a *kind* (an academy selling courses, a platform with docs, a creator's
newsletter site, a personal blog) that decides which sections it has. Pages are built once per host
from fixed content lists (blog slugs, courses and their lessons, doc topics), so the same host has the
same pages whatever the seed. Navigation is a Markov chain over sections (``MOVES``): the next section
follows from the current one (home → courses → course → pricing → signup → checkout …, with an
``exit`` weight that ends the visit); the page inside a section is picked with a popularity skew, and
lessons follow each other in order.

Every page carries its path and its absolute URL already JSON-encoded, so the event renderer only
concatenates strings.
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from functools import cache

DEFAULT_HOSTS = (
    "bootcamp.techcreator.io",
    "www.dataexpert.io",
    "zachwilson.techcreator.io",
    "lulu.techcreator.io",
    "zachwilson.tech",
)

# host -> (kind, share of the traffic). Hosts not listed are "platform" sites with GENERIC_WEIGHT.
KNOWN_SITES = {
    "bootcamp.techcreator.io": ("academy", 0.34),
    "www.dataexpert.io": ("platform", 0.30),
    "zachwilson.techcreator.io": ("creator", 0.14),
    "lulu.techcreator.io": ("creator", 0.08),
    "zachwilson.tech": ("personal", 0.14),
}
GENERIC_KIND, GENERIC_WEIGHT = "platform", 0.15

_SHOP = {"pricing", "signup", "checkout", "success", "login"}
KIND_SECTIONS = {
    "academy": {"home", "courses", "course", "lesson", "dashboard", "blog", "post", "about"} | _SHOP,
    "platform": {"home", "courses", "course", "lesson", "dashboard", "blog", "post", "docs", "doc", "about"} | _SHOP,
    "creator": {"home", "blog", "post", "newsletter", "about", "courses", "course", "lesson"} | _SHOP,
    "personal": {"home", "blog", "post", "about", "newsletter", "contact"},
}

# section -> the next section and its weight; "exit" ends the visit. Weights of sections a site lacks
# are dropped, so each site renormalises over what it has.
MOVES: dict[str, tuple[tuple[str, float], ...]] = {
    "home": (("courses", 28), ("course", 10), ("blog", 16), ("post", 10), ("pricing", 9), ("login", 7),
             ("docs", 6), ("about", 4), ("newsletter", 4), ("exit", 24)),
    "blog": (("post", 62), ("home", 5), ("newsletter", 5), ("exit", 20)),
    "post": (("post", 28), ("blog", 9), ("course", 9), ("newsletter", 7), ("home", 5), ("exit", 44)),
    "courses": (("course", 56), ("pricing", 14), ("home", 4), ("exit", 20)),
    "course": (("lesson", 26), ("pricing", 24), ("courses", 10), ("signup", 9), ("exit", 26)),
    "lesson": (("lesson", 66), ("course", 8), ("dashboard", 6), ("exit", 18)),
    "pricing": (("signup", 24), ("checkout", 10), ("courses", 12), ("home", 5), ("exit", 49)),
    "signup": (("checkout", 38), ("dashboard", 24), ("exit", 38)),
    "login": (("dashboard", 62), ("course", 18), ("exit", 20)),
    "checkout": (("success", 32), ("pricing", 12), ("exit", 56)),
    "success": (("dashboard", 48), ("lesson", 32), ("exit", 20)),
    "dashboard": (("lesson", 52), ("course", 18), ("exit", 30)),
    "docs": (("doc", 72), ("home", 4), ("exit", 24)),
    "doc": (("doc", 50), ("docs", 10), ("exit", 40)),
    "about": (("home", 20), ("newsletter", 18), ("blog", 20), ("contact", 8), ("exit", 40)),
    "newsletter": (("blog", 20), ("home", 10), ("exit", 70)),
    "contact": (("home", 30), ("exit", 70)),
}  # fmt: skip

# Where a visit lands, by the kind of referrer that brought it.
LANDINGS: dict[str, tuple[tuple[str, float], ...]] = {
    "direct": (("home", 66), ("dashboard", 12), ("course", 10), ("pricing", 6), ("post", 6)),
    "search": (("post", 45), ("course", 20), ("home", 18), ("doc", 12), ("pricing", 5)),
    "social": (("post", 55), ("home", 30), ("course", 15)),
    "email": (("post", 60), ("course", 30), ("home", 10)),
    "other": (("post", 40), ("home", 30), ("doc", 20), ("course", 10)),
    "internal": (("home", 45), ("course", 30), ("courses", 15), ("pricing", 10)),
}

BLOG_SLUGS = (
    "how-to-become-a-data-engineer", "what-is-a-lambda-architecture", "sessionization-with-flink",
    "spark-vs-flink-in-2026", "dimensional-modeling-101", "cumulative-table-design", "idempotent-pipelines",
    "kafka-for-beginners", "write-audit-publish", "slowly-changing-dimensions-type-2", "data-quality-checks",
    "airflow-best-practices", "iceberg-vs-delta-lake", "sql-window-functions-explained", "fact-data-modeling",
    "graph-data-modeling", "reduce-shuffle-in-spark", "data-engineering-interview-prep", "my-first-year-at-netflix",
    "streaming-vs-batch", "the-medallion-architecture", "hive-partitioning-done-right", "broadcast-joins",
    "how-i-grew-a-newsletter", "career-advice-for-junior-engineers", "ai-engineering-for-data-engineers",
    "cost-of-a-data-platform", "what-i-learned-teaching-10000-students",
)  # fmt: skip
COURSES = (
    ("data-engineering-bootcamp", 24), ("analytics-engineering", 16), ("spark-fundamentals", 12),
    ("flink-streaming", 10), ("data-modeling", 14), ("sql-mastery", 18), ("ai-engineering", 12),
)  # fmt: skip
DOC_TOPICS = (
    "getting-started", "installation", "api/authentication", "api/events", "api/sessions", "sdk/python",
    "sdk/javascript", "guides/sessionization", "guides/backfills", "faq", "billing", "changelog",
)  # fmt: skip
BROKEN_PATHS = ("/blog/2019/hello-world", "/signin", "/course", "/pricing-old", "/blog/feed.xml/", "/courses/legacy")
SCANNER_PATHS = ("/wp-login.php", "/.env", "/wp-admin/", "/.git/config", "/xmlrpc.php", "/phpmyadmin/")


class Page:
    """One URL of a site. ``json`` is the JSON of the path, ``url_json`` of the absolute URL (a referrer)."""

    __slots__ = ("section", "path", "json", "url_json", "course", "lesson")

    def __init__(self, host: str, section: str, path: str, course: str | None = None, lesson: int = 0):
        self.section = section
        self.path = path
        self.json = json.dumps(path)
        self.url_json = json.dumps(f"https://{host}{path}")
        self.course = course
        self.lesson = lesson

    def __repr__(self) -> str:
        return f"Page({self.path!r})"


def weighted_table(options) -> tuple[tuple, list[float]]:
    """``[(item, weight), …]`` as ``(items, cumulative shares ending at 1.0)`` for :func:`pick_weighted`."""
    options = [(item, weight) for item, weight in options if weight > 0]
    total = sum(weight for _, weight in options)
    items, cumulative, running = [], [], 0.0
    for item, weight in options:
        running += weight
        items.append(item)
        cumulative.append(running / total)
    cumulative[-1] = 1.0
    return tuple(items), cumulative


def pick_weighted(rng: random.Random, table: tuple[tuple, list[float]]):
    """One item of a :func:`weighted_table`."""
    items, cumulative = table
    return items[bisect(cumulative, rng.random())]


def _table(options: tuple[tuple[str, float], ...], allowed: set[str]) -> tuple[tuple[str, ...], list[float]]:
    """The options a site has (``exit`` always) as a :func:`weighted_table`."""
    return weighted_table((name, weight) for name, weight in options if name in allowed or name == "exit")


class Site:
    """A host, its pages by section, and its navigation tables."""

    def __init__(self, host: str):
        self.host = host
        self.kind, self.weight = KNOWN_SITES.get(host, (GENERIC_KIND, GENERIC_WEIGHT))
        self.host_frag = f'"host":{json.dumps(host)}'
        sections = KIND_SECTIONS[self.kind]
        content = random.Random(f"site:{host}")  # the same pages for a host, whatever the seed
        posts = content.sample(BLOG_SLUGS, {"personal": 16, "creator": 12}.get(self.kind, 20))
        courses = [c for c in COURSES if content.random() < 0.8] or [COURSES[0]]
        if self.kind == "creator":
            courses = courses[:2]
        single = {
            "home": "/", "blog": "/blog", "courses": "/courses", "pricing": "/pricing", "signup": "/signup",
            "login": "/login", "checkout": "/checkout", "success": "/checkout/success", "dashboard": "/dashboard",
            "docs": "/docs", "about": "/about", "newsletter": "/newsletter", "contact": "/contact",
        }  # fmt: skip
        pages: dict[str, tuple[Page, ...]] = {s: (Page(host, s, p),) for s, p in single.items() if s in sections}
        pages["post"] = tuple(Page(host, "post", f"/blog/{slug}") for slug in posts)
        self.lessons: dict[str, tuple[Page, ...]] = {}
        if "course" in sections:
            pages["course"] = tuple(Page(host, "course", f"/courses/{name}", course=name) for name, _ in courses)
            for name, count in courses:
                self.lessons[name] = tuple(
                    Page(host, "lesson", f"/courses/{name}/lesson-{n}", course=name, lesson=n)
                    for n in range(1, count + 1)
                )
            pages["lesson"] = tuple(p for lessons in self.lessons.values() for p in lessons)
        if "doc" in sections:
            pages["doc"] = tuple(Page(host, "doc", f"/docs/{topic}") for topic in DOC_TOPICS)
        self.pages = pages
        self.courses = pages.get("course", ())
        have = set(pages)
        self.moves = {s: _table(MOVES[s], have) for s in have}
        self.landings = {kind: _table(options, have) for kind, options in LANDINGS.items()}
        self.broken = tuple(Page(host, "broken", p) for p in BROKEN_PATHS)
        self.scanner = tuple(Page(host, "broken", p) for p in SCANNER_PATHS)
        # what a crawler walks: the home page, the section indexes, then every leaf page
        crawl_order = ("home", "blog", "courses", "docs", "about", "pricing", "post", "course", "doc", "lesson",
                       "newsletter", "contact")  # fmt: skip
        self.crawl = tuple(page for section in crawl_order for page in pages.get(section, ()))
        self._utm: dict[tuple[str, str], Page] = {}

    def pick(self, rng: random.Random, section: str) -> Page:
        """A page of a section, the first ones the most popular."""
        options = self.pages[section]
        return options[int(len(options) * rng.random() ** 2.2)]

    def landing(self, rng: random.Random, referrer_kind: str) -> Page:
        section = pick_weighted(rng, self.landings[referrer_kind])
        if section == "exit":  # a site without any of the landing sections of this referrer
            section = "home"
        if section == "lesson":
            return self.pick(rng, "course")
        return self.pick(rng, section)

    def next_page(self, rng: random.Random, page: Page) -> Page | None:
        """The page a visitor on ``page`` opens next, or None when the visit ends."""
        moves = self.moves.get(page.section)
        if moves is None:
            return None
        random_ = rng.random
        section = moves[0][bisect(moves[1], random_())]
        if section == "exit":
            return None
        if section == "lesson":
            course = page.course or self.pick(rng, "course").course
            lessons = self.lessons[course]
            if page.section == "lesson" and random_() < 0.85:
                return lessons[page.lesson] if page.lesson < len(lessons) else self.courses_page(course)
            if page.section in ("course", "success") and random_() < 0.6:
                return lessons[0]
            return lessons[int(len(lessons) * random_() ** 1.5)]
        if section == "course" and page.course and random_() < 0.8:
            return self.courses_page(page.course)
        options = self.pages[section]
        chosen = options[int(len(options) * random_() ** 2.2)]
        if chosen is page:  # reading a different post, not reloading the same one
            chosen = options[int(len(options) * random_() ** 2.2)]
        return chosen

    def courses_page(self, course: str) -> Page:
        for page in self.courses:
            if page.course == course:
                return page
        raise KeyError(course)

    def utm_page(self, page: Page, source: str, medium: str) -> Page:
        """``page`` reached through a tagged campaign link (``?utm_source=…&utm_medium=…``)."""
        key = (page.path, source)
        tagged = self._utm.get(key)
        if tagged is None:
            path = f"{page.path}?utm_source={source}&utm_medium={medium}"
            tagged = self._utm[key] = Page(self.host, page.section, path, page.course, page.lesson)
        return tagged


# (referrer URL or None for direct traffic, kind, weight, utm source of its campaign links or None)
REFERRERS = (
    (None, "direct", 28, None),
    ("", "direct", 2, None),
    ("https://www.google.com/", "search", 30, None),
    ("https://www.bing.com/", "search", 3, None),
    ("https://duckduckgo.com/", "search", 2, None),
    ("https://search.brave.com/", "search", 0.5, None),
    ("https://www.linkedin.com/", "social", 8, "linkedin"),
    ("https://lnkd.in/", "social", 2, "linkedin"),
    ("https://t.co/", "social", 6, "twitter"),
    ("https://www.youtube.com/", "social", 4, "youtube"),
    ("https://www.reddit.com/r/dataengineering/", "social", 2, None),
    ("https://news.ycombinator.com/", "social", 1, None),
    ("https://www.instagram.com/", "social", 1, "instagram"),
    ("https://mail.google.com/", "email", 3, "newsletter"),
    ("https://substack.com/", "email", 2, "newsletter"),
    ("https://github.com/", "other", 2, None),
    ("https://medium.com/", "other", 1, None),
    ("https://chatgpt.com/", "other", 2, None),
)
REFERRER_TABLE = weighted_table(((json.dumps(url), kind, utm), weight) for url, kind, weight, utm in REFERRERS)


@cache
def site_catalogue(hosts: tuple[str, ...]) -> tuple[tuple[Site, ...], tuple[tuple[Site, ...], list[float]]]:
    """The sites of ``hosts`` and the table that picks one by its share of the traffic."""
    if not hosts:
        raise ValueError("the simulator needs at least one host")
    sites = tuple(Site(host) for host in hosts)
    return sites, weighted_table((site, site.weight) for site in sites)
