"""The collector's pure decisions: request framing, reply bounding, pixel events and their ids, CORS.

No I/O here, so each rule is tested in microseconds (``tests/unit/test_collector_rules.py``) and the
ASGI app (:mod:`websessions.collector.app`) only wires them to sockets and Kafka.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl

from websessions.events import Rejection, format_time_ms

JSON_TYPES = (b"application/json", b"text/plain")  # text/plain: navigator.sendBeacon's default
NDJSON_TYPES = (b"application/x-ndjson", b"application/jsonl")
MAX_LISTED_ERRORS = 10
_MAX_LENGTH_DIGITS = 18


class Framing(NamedTuple):
    """How a request's body arrives: ``length`` bytes, or chunked (``length`` None)."""

    length: int | None
    chunked: bool


@dataclass(frozen=True)
class Refusal:
    """A request refused before (or instead of) publishing: status, reason code, message.

    ``dead_letter``: the refusal concerns a payload (too large, not JSON) and is recorded in the
    dead-letter topic like an invalid event; protocol errors (bad or missing length, timeouts) are not.
    """

    status: int
    reason: str
    message: str
    dead_letter: bool = False

    @property
    def rejection(self) -> Rejection:
        return Rejection(self.reason, self.message)


def request_framing(method: str, headers: list[tuple[bytes, bytes]], limit: int) -> Framing | Refusal:
    """Decide from the head alone whether a body may be read, and how: never reads the body.

    A ``Content-Length`` that is not plain digits (negative, non-numeric, several different values)
    is 400, one above ``limit`` 413; a POST with neither a length nor chunked encoding is 411;
    ``Transfer-Encoding`` other than ``chunked`` is 400 (as is a length together with chunked:
    request smuggling). (uvicorn's parser, llhttp, rejects most of these itself with a 400 before
    the app sees them; this is the same rule for what reaches the app.)
    """
    lengths = {value.strip() for name, value in headers if name == b"content-length"}
    codings = [value.strip().lower() for name, value in headers if name == b"transfer-encoding"]
    if codings:
        if codings != [b"chunked"]:
            shown = b", ".join(codings).decode("latin-1")[:64]
            return Refusal(400, "bad_framing", f"transfer-encoding {shown!r} is not chunked")
        if lengths:
            return Refusal(400, "bad_framing", "content-length together with chunked transfer-encoding")
        return Framing(None, True)
    if not lengths:
        if method in ("POST", "PUT", "PATCH"):
            return Refusal(411, "length_required", "a body needs a content-length or chunked transfer-encoding")
        return Framing(0, False)
    if len(lengths) > 1:
        return Refusal(400, "bad_length", "several different content-length values")
    (raw,) = lengths
    if not raw.isdigit() or len(raw) > _MAX_LENGTH_DIGITS:
        return Refusal(400, "bad_length", f"content-length {raw[:32].decode('latin-1')!r} is not a byte count")
    length = int(raw)
    if length > limit:
        return Refusal(413, "too_large", f"body of {length} bytes exceeds the limit of {limit}", dead_letter=True)
    return Framing(length, False)


def split_events(content_type: bytes, body: bytes) -> list[bytes] | Refusal:
    """The raw events of a body: one JSON document, or one per non-blank line for NDJSON."""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        return [line for line in body.splitlines() if line.strip()]
    if media in JSON_TYPES:
        return [body]
    shown = media.decode("latin-1")[:64] or "(none)"
    return Refusal(415, "bad_content_type", f"content type {shown!r} is not JSON; use application/json", True)


def summarize(total: int, rejections: list[tuple[int, Rejection]]) -> tuple[int, dict]:
    """The reply to a batch: 202 all accepted, 207 some, 400 none; counts plus the first few errors.

    The body stays small whatever the batch: at most :data:`MAX_LISTED_ERRORS` errors are listed,
    ``errors_omitted`` says how many more there were.
    """
    rejected = len(rejections)
    accepted = total - rejected
    errors = [{"index": i, "reason": r.reason, "message": r.message} for i, r in rejections[:MAX_LISTED_ERRORS]]
    body = {"accepted": accepted, "rejected": rejected, "errors": errors}
    if rejected > MAX_LISTED_ERRORS:
        body["errors_omitted"] = rejected - MAX_LISTED_ERRORS
    if total == 0:
        body["errors"] = [{"reason": "empty", "message": "the body holds no events"}]
        return 400, body
    return (202 if not rejected else 400 if not accepted else 207), body


def refusal_body(refusal: Refusal) -> dict:
    return {"accepted": 0, "rejected": 1, "errors": [{"reason": refusal.reason, "message": refusal.message}]}


def pixel_event_id(ip: str, user_agent: str, query: bytes) -> str:
    """The id of a pixel event sent without one: the same request (a retry) gets the same id.

    sha1 over client ip, user agent and the raw query string, 32 hex (the length of
    :func:`websessions.events.derive_event_id`'s ids). The server time is not part of it, so two
    identical pixels without ``eid``, ``event_time`` or a cache-busting parameter count as one event:
    beacon scripts should send one of them (the usual random ``r=`` parameter is enough).
    """
    identity = json.dumps(["pixel", ip, user_agent, query.decode("latin-1")], separators=(",", ":"))
    return hashlib.sha1(identity.encode()).hexdigest()[:32]


def pixel_event(query: bytes, headers: dict[bytes, bytes], client_ip: str, now_ms: int) -> bytes:
    """The event a pixel request describes: query parameters plus what the request itself says.

    ip (``X-Forwarded-For``'s first hop, else the peer), host (``Host``), referrer (``Referer``),
    user agent and, without an ``event_time`` parameter, the server's clock; ``eid``/``event_id``
    or else :func:`pixel_event_id`.
    """
    params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    user_agent = headers.get(b"user-agent", b"").decode("latin-1")
    ip = params.pop("ip", None) or (forwarded.split(",")[0].strip() if forwarded else client_ip)
    event_id = params.pop("eid", None) or params.pop("event_id", None) or pixel_event_id(ip, user_agent, query)
    params.pop("event_id", None)
    event = {
        "event_id": event_id,
        "event_time": params.pop("event_time", None) or format_time_ms(now_ms),
        "ip": ip,
        "host": params.pop("host", None) or headers.get(b"host", b"").decode("latin-1").split(":")[0],
        "url": params.pop("url", None),
        "referrer": params.pop("referrer", None) or headers.get(b"referer", b"").decode("latin-1") or None,
        "user_agent": user_agent or None,
        "event_type": params.pop("event_type", "pageview"),
    }
    event.update(params)
    return json.dumps({k: v for k, v in event.items() if v is not None}).encode()


class CorsPolicy:
    """CORS for beacons sent from the monitored sites: the allowed origins' requests get
    ``Access-Control-Allow-Origin`` echoed (never ``*``), every other origin gets no CORS header."""

    ALLOWED_METHODS = b"GET, POST, OPTIONS"
    ALLOWED_HEADERS = b"content-type"
    MAX_AGE_S = b"600"

    def __init__(self, origins: str):
        self.origins = frozenset(o.strip().rstrip("/").lower().encode() for o in origins.split(",") if o.strip())

    def allows(self, origin: bytes | None) -> bool:
        return origin is not None and origin.lower() in self.origins

    def headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """Headers for an actual request (``Vary: Origin`` always: replies differ by origin)."""
        if self.allows(origin):
            return [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        return [(b"vary", b"Origin")]

    def preflight(self, origin: bytes | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The answer to ``OPTIONS``: 204 with the allowed methods and headers, or 403."""
        if not self.allows(origin):
            return 403, [(b"vary", b"Origin")]
        return 204, [
            *self.headers(origin),
            (b"access-control-allow-methods", self.ALLOWED_METHODS),
            (b"access-control-allow-headers", self.ALLOWED_HEADERS),
            (b"access-control-max-age", self.MAX_AGE_S),
        ]
