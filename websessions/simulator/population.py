"""Who visits: people (ip, browser, place, account) and crawlers, as a deterministic population.

Person ``i`` of a population is built from its own random generator seeded by the population key and
``i``, so the same person (same ip, browser, city, user id) comes back on every visit and on every day
generated with the same seed, whatever else the day's generator did. Most people have their own
address (IPv4 mostly, IPv6 more often on phones and in some countries); a few sit behind a shared NAT
address with others (an office, a campus, a carrier-grade NAT). Crawlers come from their operators'
address ranges and announce themselves in the user agent.

Each visitor carries the JSON fragment of its identity fields (``ip``, ``user_agent``, ``headers``,
``geo``, ``user_id``), rendered once: as ``anonymous`` and, with its user id, as ``signed_in``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random

from websessions.simulator.sites import pick_weighted, weighted_table

# (country, region, city, weight, accept-language, IPv4 first octets, IPv6 first hextets, IPv6 share)
_US = ((23, 24, 50, 67, 68, 71, 73, 75, 76, 98, 99, 104, 107, 108, 174), (0x2600, 0x2601, 0x2603, 0x2607), 0.18)
_IN = ((49, 103, 106, 117, 122, 157, 182), (0x2401, 0x2409), 0.35)
_EU = (0x2A00, 0x2A01, 0x2A02)
GEOS = (
    ("US", "CA", "San Francisco", 6, "en-US,en;q=0.9", *_US),
    ("US", "CA", "Los Angeles", 3, "en-US,en;q=0.9", *_US),
    ("US", "NY", "New York", 7, "en-US,en;q=0.9", *_US),
    ("US", "WA", "Seattle", 4, "en-US,en;q=0.9", *_US),
    ("US", "TX", "Austin", 4, "en-US,en;q=0.9", *_US),
    ("US", "IL", "Chicago", 3, "en-US,en;q=0.9", *_US),
    ("US", "MA", "Boston", 2, "en-US,en;q=0.9", *_US),
    ("US", "CO", "Denver", 1.5, "en-US,en;q=0.9", *_US),
    ("CA", "ON", "Toronto", 3, "en-CA,en;q=0.9", (24, 70, 99, 142, 174), (0x2607,), 0.12),
    ("CA", "BC", "Vancouver", 1.5, "en-CA,en;q=0.9", (24, 70, 99, 142, 174), (0x2607,), 0.12),
    ("GB", "England", "London", 5, "en-GB,en;q=0.9", (31, 51, 81, 86, 90, 109, 146), (0x2A00, 0x2A02), 0.12),
    ("GB", "England", "Manchester", 1, "en-GB,en;q=0.9", (31, 51, 81, 86, 90, 109), (0x2A00,), 0.12),
    ("DE", "Berlin", "Berlin", 2.5, "de-DE,de;q=0.9,en;q=0.8", (46, 79, 84, 87, 91, 93, 217), (0x2003,), 0.25),
    ("DE", "Bavaria", "Munich", 1.5, "de-DE,de;q=0.9,en;q=0.8", (46, 79, 84, 87, 91, 93), (0x2003,), 0.25),
    ("NL", "North Holland", "Amsterdam", 2, "nl-NL,nl;q=0.9,en;q=0.8", (77, 83, 145, 213), _EU, 0.1),
    ("FR", "Île-de-France", "Paris", 2, "fr-FR,fr;q=0.9,en;q=0.8", (2, 78, 82, 90, 176), (0x2A01,), 0.2),
    ("ES", "Madrid", "Madrid", 1, "es-ES,es;q=0.9,en;q=0.8", (83, 88, 95), _EU, 0.05),
    ("PL", "Masovia", "Warsaw", 1, "pl-PL,pl;q=0.9,en;q=0.8", (31, 83, 89, 178), _EU, 0.05),
    ("IN", "Karnataka", "Bengaluru", 7, "en-IN,en;q=0.9,hi;q=0.8", *_IN),
    ("IN", "Maharashtra", "Mumbai", 3, "en-IN,en;q=0.9,hi;q=0.8", *_IN),
    ("IN", "Telangana", "Hyderabad", 3, "en-IN,en;q=0.9,te;q=0.8", *_IN),
    ("IN", "Tamil Nadu", "Chennai", 2, "en-IN,en;q=0.9,ta;q=0.8", *_IN),
    ("IN", "Delhi", "New Delhi", 2, "en-IN,en;q=0.9,hi;q=0.8", *_IN),
    ("BR", "São Paulo", "São Paulo", 3, "pt-BR,pt;q=0.9,en;q=0.8", (177, 179, 186, 187, 189, 191, 201), (0x2804,), 0.2),
    ("MX", "CDMX", "Mexico City", 1, "es-MX,es;q=0.9,en;q=0.8", (187, 189, 201), (0x2806,), 0.1),
    ("NG", "Lagos", "Lagos", 1, "en-NG,en;q=0.9", (102, 105, 197), (0x2C0F,), 0.03),
    ("AU", "NSW", "Sydney", 1.5, "en-AU,en;q=0.9", (1, 49, 101, 110, 124), (0x2001,), 0.1),
    ("SG", None, "Singapore", 1.5, "en-SG,en;q=0.9", (116, 118, 175), (0x2400,), 0.1),
    ("JP", "Tokyo", "Tokyo", 1, "ja-JP,ja;q=0.9,en;q=0.8", (1, 60, 106, 126, 133, 153), (0x240B,), 0.15),
    ("PK", "Punjab", "Lahore", 1, "en-PK,en;q=0.9,ur;q=0.8", (39, 111, 119, 182), (0x2400,), 0.03),
    ("VN", None, None, 0.5, "vi-VN,vi;q=0.9,en;q=0.8", (14, 27, 113, 115, 171), (0x2405,), 0.1),
    (None, None, None, 3, "en-US,en;q=0.9", (45, 64, 185, 193), _EU, 0.05),  # geo lookup failed: geo null
)
GEO_TABLE = weighted_table((geo, geo[3]) for geo in GEOS)

_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0"
_IOS = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
# (user agent, weight, mobile)
BROWSERS = (
    (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36", 30, False),
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_CHROME} Safari/537.36", 22, False),
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_IOS} Version/26.1 Safari/605.1.15", 8, False),
    (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36 Edg/142.0.0.0", 6, False),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0", 5, False),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", 3, False),
    (f"Mozilla/5.0 (X11; Linux x86_64) {_CHROME} Safari/537.36", 4, False),
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) {_IOS} Version/18.6 Mobile/15E148 Safari/604.1",
     14, True),
    (f"Mozilla/5.0 (Linux; Android 10; K) {_CHROME} Mobile Safari/537.36", 12, True),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36", 2, True),
    (f"Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) {_IOS} Version/18.6 Mobile/15E148 Safari/604.1", 1, True),
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) {_IOS} Mobile/15E148 [LinkedInApp]/9.31.1", 2, True),
)  # fmt: skip
BROWSER_TABLE = weighted_table(((agent, mobile), weight) for agent, weight, mobile in BROWSERS)

# (name, user agent, IPv4 /16 or /24 prefixes, geo, weight, how many addresses, scans for exploits)
CRAWLERS = (
    ("googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     ("66.249.64", "66.249.66", "66.249.79"), ("US", "CA", "Mountain View"), 35, 6, False),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     ("40.77.167", "157.55.39", "207.46.13"), ("US", "WA", "Redmond"), 15, 4, False),
    ("ahrefs", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     ("54.36.148", "54.36.149"), ("FR", "Hauts-de-France", "Roubaix"), 10, 3, False),
    ("gptbot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
     ("20.171.206", "20.171.207"), ("US", "IA", "Des Moines"), 10, 3, False),
    ("duckduckbot", "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
     ("20.191.45",), ("US", "VA", "Boydton"), 4, 2, False),
    ("python-requests", "python-requests/2.32.3", ("3.80", "18.204", "34.201"), ("US", "VA", "Ashburn"), 6, 4, False),
    ("curl", "curl/8.5.0", ("88.198", "138.201"), ("DE", "Saxony", "Falkenstein"), 3, 2, False),
    ("scanner", "Mozilla/5.0 zgrab/0.x", ("45.148", "193.41"), ("NL", "North Holland", "Amsterdam"), 3, 3, True),
)  # fmt: skip

NAT_SHARE = 0.04  # of people: behind an address shared with others
ACCOUNT_SHARE = 0.3  # of people: have an account already, signed in on some visits (others may sign up)


class Visitor:
    """A person or a crawler: what identifies its events."""

    __slots__ = ("ip", "agent", "mobile", "has_account", "crawler", "scanner", "anonymous", "signed_in")

    def __init__(self, ip: str, agent: str, headers: dict, geo: tuple | None, user_id: str | None, **kind):
        self.ip = ip
        self.agent = agent
        self.mobile = kind.get("mobile", False)
        self.crawler = kind.get("crawler")
        self.scanner = kind.get("scanner", False)
        self.has_account = kind.get("has_account", False)
        common = f'"ip":"{ip}","user_agent":{_json(agent)},"headers":{_json(headers)},"geo":{_json(geo)}'
        self.anonymous = f'{common},"user_id":null'
        self.signed_in = f'{common},"user_id":"{user_id}"' if user_id else self.anonymous

    def __repr__(self) -> str:
        return f"Visitor({self.ip!r}, {self.agent[:30]!r})"


_fragments: dict[object, str] = {}


def _json(value: str | dict | tuple | None) -> str:
    """Compact JSON of a user agent, headers or geo (a tuple: country, region, city), memoised: few differ."""
    key = value if not isinstance(value, dict) else tuple(value.items())
    text = _fragments.get(key)
    if text is None:
        if isinstance(value, tuple):
            value = dict(zip(("country", "region", "city"), value, strict=True))
        text = _fragments[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text


def _ipv4(rng: random.Random | _HashDraws, first_octets: tuple[int, ...]) -> str:
    bits = rng.getrandbits(24)
    return f"{first_octets[int(rng.random() * len(first_octets))]}.{bits >> 16}.{bits >> 8 & 255}.{1 + bits % 254}"


def _ipv6(rng: random.Random | _HashDraws, hextets: tuple[int, ...]) -> str:
    """A random address in one of the /16s, in the canonical text form (as ``ipaddress`` prints it)."""
    bits = rng.getrandbits(112)
    groups = [hextets[int(rng.random() * len(hextets))]] + [bits >> (16 * i) & 0xFFFF for i in range(7)]
    if 0 in groups:  # compression rules apply: let ipaddress write it
        return str(ipaddress.IPv6Address(sum(g << (16 * (7 - i)) for i, g in enumerate(groups))))
    return ":".join(f"{g:x}" for g in groups)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


class _HashDraws:
    """The few random draws that make one person, taken from a 512-bit hash of (population, index).

    Cheaper than seeding a ``random.Random`` per person (which dominated the cost of a day), and just as
    independent of the order in which people first appear. Offers ``random()`` and ``getrandbits(k)``.
    """

    __slots__ = ("_bits",)

    def __init__(self, key: bytes, index: int):
        self._bits = int.from_bytes(hashlib.sha512(key + index.to_bytes(8, "big")).digest(), "big")

    def random(self) -> float:
        bits = self._bits
        self._bits = bits >> 24
        return (bits & 0xFFFFFF) / 0x1000000

    def getrandbits(self, k: int) -> int:
        bits = self._bits
        self._bits = bits >> k
        return bits & ((1 << k) - 1)


class Population:
    """``size`` people and a fleet of crawlers, identified by ``key`` (the seed and application)."""

    def __init__(self, key: str, size: int):
        self.key = key
        self.size = max(size, 20)
        self._people_key = f"{key}|people|".encode()
        self._people: dict[int, Visitor] = {}
        nat = random.Random(_seed(key, "nat"))
        self._nat = [self._address(nat, mobile=nat.random() < 0.3) for _ in range(max(3, self.size // 300))]
        fleet = random.Random(_seed(key, "crawlers"))
        crawlers = []
        for name, agent, prefixes, geo, weight, count, scanner in CRAWLERS:
            headers = {"accept": "*/*"}
            if name == "googlebot":
                headers = {"accept": "text/html", "from": "googlebot(at)googlebot.com"}
            for _ in range(count):
                prefix = fleet.choice(prefixes)
                rest = ".".join(str(fleet.randrange(1, 255)) for _ in range(4 - prefix.count(".") - 1))
                visitor = Visitor(f"{prefix}.{rest}", agent, headers, geo, None, crawler=name, scanner=scanner)
                crawlers.append((visitor, weight / count))
        self._crawlers = weighted_table(crawlers)

    @staticmethod
    def _address(rng: random.Random | _HashDraws, mobile: bool) -> tuple[str, tuple]:
        geo = pick_weighted(rng, GEO_TABLE)
        ipv6_share = geo[7] * (1.6 if mobile else 0.8)
        ip = _ipv6(rng, geo[6]) if rng.random() < ipv6_share else _ipv4(rng, geo[5])
        return ip, geo

    def person(self, rng: random.Random) -> Visitor:
        """Someone arriving: a few people come often, most come once in a while."""
        index = int(self.size * rng.random() ** 1.4)
        visitor = self._people.get(index)
        if visitor is None:
            visitor = self._people[index] = self._build_person(index)
        return visitor

    def _build_person(self, index: int) -> Visitor:
        rng = _HashDraws(self._people_key, index)
        agent, mobile = pick_weighted(rng, BROWSER_TABLE)
        if rng.random() < NAT_SHARE:
            ip, geo = self._nat[int(rng.random() * len(self._nat))]
        else:
            ip, geo = self._address(rng, mobile)
        headers = {"accept-language": geo[4]}
        if not mobile:
            platform = "Windows" if "Windows" in agent else "macOS" if "Mac" in agent else "Linux"
            headers["sec-ch-ua-platform"] = f'"{platform}"'
        if rng.random() < 0.1:
            headers["dnt"] = "1"
        user_id = f"u_{rng.getrandbits(40):010x}"  # once they sign up; some already have
        country = geo[:3] if geo[0] is not None else None
        return Visitor(ip, agent, headers, country, user_id, mobile=mobile, has_account=rng.random() < ACCOUNT_SHARE)

    def crawler(self, rng: random.Random) -> Visitor:
        return pick_weighted(rng, self._crawlers)
