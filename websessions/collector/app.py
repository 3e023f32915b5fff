"""The collector as a raw ASGI callable: routes, body reading under limits, replies.

Every decision is a pure function of :mod:`websessions.collector.framing`; this module wires them
to the ASGI messages and to Kafka (:class:`~websessions.collector.publisher.AsyncPublisher`).
A raw callable rather than a framework: the body must be refused or cut from the head and the byte
count alone (no framework helper reads it for us), and each request is a few dictionary lookups,
which matters at thousands of requests a second on two cores.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time

from websessions.collector import framing
from websessions.collector.framing import CorsPolicy, Framing, Refusal
from websessions.collector.publisher import AsyncPublisher, KafkaUnavailable
from websessions.settings import Settings

log = logging.getLogger(__name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
EVENT_PATHS = ("/events", "/event")
PIXEL_PATHS = ("/e.gif", "/beacon", "/pixel.gif")
JSON = b"application/json"
Headers = list[tuple[bytes, bytes]]


class CollectorApp:
    """``POST /events``, ``GET /e.gif``, ``GET /health``, ``OPTIONS`` preflights (see the package doc)."""

    def __init__(self, settings: Settings, publisher: AsyncPublisher):
        self.publisher = publisher
        self.limit = settings.collector_max_body_bytes
        self.max_query = settings.collector_max_query_bytes
        self.body_timeout_s = settings.collector_body_timeout_s
        self.retry_after = str(settings.collector_retry_after_s).encode()
        self.cors = CorsPolicy(settings.collector_cors_origins)

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        path, method = scope["path"], scope["method"]
        if method == "OPTIONS":
            status, cors = self.cors.preflight(origin)
            body = {"error": f"origin {origin!r} may not send beacons here"} if status == 403 else {}
            await _Reply(send, cors).json(status, body)
            return
        reply = _Reply(send, self.cors.headers(origin) if origin is not None else [])
        if path in EVENT_PATHS:
            if method != "POST":
                await reply.json(405, {"error": f"{method} {path}: use POST"}, extra=[(b"allow", b"POST, OPTIONS")])
            else:
                await self._post(scope, headers, receive, reply)
        elif path in PIXEL_PATHS and method in ("GET", "HEAD"):
            await self._pixel(scope, headers, reply)
        elif path == "/health" and method in ("GET", "HEAD"):
            ok, detail = await self.publisher.health()
            await reply.json(200 if ok else 503, {"status": detail})
        else:
            await reply.json(404, {"error": f"no such endpoint: {method} {path}"})

    async def _post(self, scope: dict, headers: dict[bytes, bytes], receive, reply: _Reply) -> None:
        decided = framing.request_framing("POST", scope["headers"], self.limit)
        if isinstance(decided, Refusal):
            # The body is never read: the connection closes after the answer.
            await self._refuse(decided, b"", reply, close=True)
            return
        body = await self._read_body(decided, receive)
        if body is None:  # the client went away
            return
        if isinstance(body, Refusal):
            await self._refuse(body, b"", reply, close=True)
            return
        raws = framing.split_events(headers.get(b"content-type", b""), body)
        if isinstance(raws, Refusal):
            await self._refuse(raws, body[:1024], reply)
            return
        try:
            rejections = await self.publisher.publish(raws)
        except KafkaUnavailable as exc:
            await self._unavailable(exc, reply)
            return
        status, payload = framing.summarize(len(raws), rejections)
        await reply.json(status, payload)

    async def _pixel(self, scope: dict, headers: dict[bytes, bytes], reply: _Reply) -> None:
        query = scope["query_string"]
        if len(query) > self.max_query:
            message = f"query string of {len(query)} bytes exceeds the limit of {self.max_query}"
            await self._refuse(Refusal(414, "too_large", message, dead_letter=True), query[:1024], reply)
            return
        client = scope.get("client") or ("", 0)
        raw = framing.pixel_event(query, headers, client[0], int(time.time() * 1000))
        try:
            rejections = await self.publisher.publish([raw])
        except KafkaUnavailable as exc:
            await self._unavailable(exc, reply)
            return
        if rejections:
            status, payload = framing.summarize(1, rejections)
            await reply.json(status, payload)
        else:
            await reply.send(202, PIXEL, content_type=b"image/gif", extra=[(b"cache-control", b"no-store")])

    async def _read_body(self, decided: Framing, receive) -> bytes | Refusal | None:
        """The whole body, or a refusal once it passes the limit or the body timeout."""
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        return Refusal(413, "too_large", f"body exceeds the limit of {self.limit} bytes", True)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            return Refusal(408, "timeout", f"the body did not arrive within {self.body_timeout_s:g}s")
        if decided.length is not None and size != decided.length:
            return Refusal(400, "bad_length", f"body of {size} bytes, content-length {decided.length}")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _refuse(self, refusal: Refusal, raw: bytes, reply: _Reply, close: bool = False) -> None:
        """Answer a refusal; a payload refusal is dead-lettered first (503 if Kafka cannot take it)."""
        if refusal.dead_letter:
            try:
                await self.publisher.dead_letter(raw, refusal.rejection)
            except KafkaUnavailable as exc:
                await self._unavailable(exc, reply, close=close)
                return
        await reply.json(refusal.status, framing.refusal_body(refusal), close=close)

    async def _unavailable(self, exc: KafkaUnavailable, reply: _Reply, close: bool = False) -> None:
        log.warning("answering 503: %s", exc)
        body = {"accepted": 0, "error": f"kafka is unavailable, retry later: {exc}"}
        await reply.json(503, body, extra=[(b"retry-after", self.retry_after)], close=close)


class _Reply:
    """One response: status, fixed headers (CORS), body; ``close`` ends the connection after it."""

    __slots__ = ("_send", "_cors")

    def __init__(self, send, cors: Headers):
        self._send = send
        self._cors = cors

    async def json(self, status: int, body: dict, extra: Headers = (), close: bool = False) -> None:
        await self.send(status, json.dumps(body).encode(), JSON, extra, close)

    async def send(
        self, status: int, body: bytes, content_type: bytes = JSON, extra: Headers = (), close: bool = False
    ) -> None:
        if status == 204:  # no body, so no content headers
            headers, body = [*self._cors, *extra], b""
        else:
            headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
            headers += [*self._cors, *extra]
        if close:
            headers.append((b"connection", b"close"))
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})
