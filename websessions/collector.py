"""`websessions collect`: the HTTP beacon collector.

- ``POST /events`` with ``Content-Type: application/json``: one event object (or JSON lines with
  ``application/x-ndjson``). Valid events go to ``web_events``, invalid ones to ``web_events_dlq``
  with the reason. Answers 202 once Kafka has acknowledged every event of the request (never
  before), 400/413/415 with the reason otherwise.
- ``GET /e.gif?url=...&host=...`` (or ``/beacon``): the pixel form web beacons use; ip, user agent,
  referrer and time come from the request. Answers a 1x1 GIF (202) or 400 with the reason.
- ``GET /health``: 200 while Kafka answers, 503 otherwise.

Validation is the core's (:mod:`websessions.events`); publishing is :mod:`websessions.ingest`'s.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from websessions.events import Rejection
from websessions.ingest import KafkaPublisher
from websessions.settings import Settings

log = logging.getLogger(__name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
JSON_TYPES = ("application/json", "text/plain")  # text/plain: navigator.sendBeacon's default
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl")


class _Acks:
    """Counts down the acknowledgements of one request's messages (called from the poll thread)."""

    def __init__(self, expected: int):
        self.remaining = expected
        self.errors: list[str] = []
        self.done = threading.Event()
        if expected == 0:
            self.done.set()

    def acked(self, err) -> None:
        if err is not None:
            self.errors.append(str(err))
        self.remaining -= 1
        if self.remaining <= 0:
            self.done.set()

    def wait(self, timeout_s: float) -> None:
        if not self.done.wait(timeout_s) or self.errors:
            raise ConnectionError(f"kafka did not acknowledge the events: {self.errors[:1] or 'timeout'}")


class AckingPublisher:
    """A thread-safe publisher whose ``publish_and_wait`` returns once Kafka acknowledged the message."""

    def __init__(self, settings: Settings):
        self.publisher = KafkaPublisher(settings, linger_ms=2)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.publisher.producer.poll(0.05)

    def publish_and_wait(self, raws: list[bytes], timeout_s: float = 10.0) -> list[Rejection | None]:
        """Publish each raw event; wait for their acknowledgements; per event its rejection or None."""
        acks = _Acks(len(raws))
        with self.lock:
            outcomes = [self.publisher.publish(raw, acks.acked) for raw in raws]
        acks.wait(timeout_s)
        return [o if isinstance(o, Rejection) else None for o in outcomes]

    def dead_letter_and_wait(self, raw: bytes, rejection: Rejection, timeout_s: float = 10.0) -> None:
        acks = _Acks(1)
        with self.lock:
            self.publisher.publish_rejection(raw, rejection, acks.acked)
        acks.wait(timeout_s)

    def healthy(self) -> bool:
        return bool(self.publisher.producer.list_topics(timeout=2).brokers)

    def close(self) -> None:
        self._stop.set()
        self._poller.join(timeout=2)
        self.publisher.producer.flush(10)


def beacon_event(query: str, headers, client_ip: str) -> bytes:
    """The event a pixel request describes: query parameters plus what the request itself says."""
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    forwarded = headers.get("X-Forwarded-For", "")
    event = {
        "event_time": params.pop("event_time", None)
        or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "ip": params.pop("ip", None) or (forwarded.split(",")[0].strip() if forwarded else client_ip),
        "host": params.pop("host", None) or headers.get("Host", "").split(":")[0],
        "url": params.pop("url", None),
        "referrer": params.pop("referrer", None) or headers.get("Referer"),
        "user_agent": headers.get("User-Agent"),
        "event_type": params.pop("event_type", "pageview"),
    }
    event.update(params)
    return json.dumps({k: v for k, v in event.items() if v is not None}).encode()


def make_handler(settings: Settings, publisher: AckingPublisher) -> type[BaseHTTPRequestHandler]:
    limit = settings.collector_max_body_bytes

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "websessions-collector"
        # Headers and body go out in two writes: with Nagle's algorithm on, a keep-alive client's
        # delayed ACK held every response ~40 ms (measured: 165 requests/s with 8 clients).
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args) -> None:
            log.debug("%s " + fmt, self.client_address[0], *args)

        def _reply(self, status: int, body: dict | bytes, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reject(self, status: int, reason: str, message: str, raw: bytes) -> None:
            """Dead-letter a request that is not an event at all, then answer ``status`` with the reason."""
            try:
                publisher.dead_letter_and_wait(raw, Rejection(reason, message))
            except ConnectionError as exc:
                self._reply(503, {"error": str(exc)})
                return
            self._reply(status, {"accepted": 0, "rejected": 1, "errors": [{"reason": reason, "message": message}]})

        def _publish(self, raws: list[bytes], pixel: bool = False) -> None:
            try:
                rejections = publisher.publish_and_wait(raws)
            except ConnectionError as exc:
                self._reply(503, {"error": str(exc)})
                return
            errors = [{"index": i, "reason": r.reason, "message": r.message} for i, r in enumerate(rejections) if r]
            accepted = len(raws) - len(errors)
            if pixel and not errors:
                self._reply(202, PIXEL, "image/gif")
            else:
                body = {"accepted": accepted, "rejected": len(errors), "errors": errors}
                self._reply(202 if accepted and not errors else 400 if not accepted else 207, body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            if parts.path == "/health":
                ok = publisher.healthy()
                self._reply(200 if ok else 503, {"status": "ok" if ok else "kafka unreachable"})
            elif parts.path in ("/e.gif", "/beacon", "/pixel.gif"):
                self._publish([beacon_event(parts.query, self.headers, self.client_address[0])], pixel=True)
            else:
                self._reply(404, {"error": f"no such endpoint: {parts.path}"})

        def do_POST(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            if parts.path not in ("/events", "/event"):
                self._reply(404, {"error": f"no such endpoint: {parts.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if length > limit:
                head = self.rfile.read(min(length, 1024))
                self.close_connection = True  # the rest of the body is never read
                message = f"body of {length} bytes exceeds the limit of {limit}"
                self._reject(413, "too_large", message, head)
                return
            body = self.rfile.read(length)
            if content_type in NDJSON_TYPES:
                self._publish([line for line in body.splitlines() if line.strip()])
            elif content_type in JSON_TYPES:
                self._publish([body])
            else:
                message = f"content type {content_type or '(none)'!r} is not JSON; use application/json"
                self._reject(415, "bad_content_type", message, body[:1024])

    return Handler


def serve(settings: Settings, port: int | None = None, ready: threading.Event | None = None) -> None:
    """Serve until interrupted."""
    publisher = AckingPublisher(settings)
    address = (settings.collector_host, port or settings.collector_port)
    server = ThreadingHTTPServer(address, make_handler(settings, publisher))
    server.daemon_threads = True
    log.info("collector listening on http://%s:%d", *server.server_address[:2])
    if ready is not None:
        ready.set()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        publisher.close()
