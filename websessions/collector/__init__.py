"""`websessions collect`: the HTTP beacon collector, an ASGI app under uvicorn.

- ``POST /events`` (or ``/event``) with ``Content-Type: application/json`` (or ``text/plain``,
  sendBeacon's default): one event object; ``application/x-ndjson`` or ``application/jsonl``: one
  event per line. Valid events go to ``web_events``, invalid ones to ``web_events_dlq`` with the
  reason. Answers 202 (all accepted), 207 (some) or 400 (none) once Kafka has acknowledged every
  message of the request (never before), with the counts and the first ten rejections.
- ``GET /e.gif?url=...&host=...`` (or ``/beacon``, ``/pixel.gif``): the pixel form web beacons use;
  ip, user agent, referrer and (without ``event_time``) time come from the request, the event id
  from ``eid`` or from the request itself (so a retry is the same event). A 1x1 GIF (202) or 400.
- ``GET /health``: 200 while Kafka takes and acknowledges events, 503 otherwise.
- ``OPTIONS``: CORS preflight for the origins of ``collector_cors_origins``.

Refusals before any event is read: 400 (bad length or framing), 408 (head or body too slow), 411
(a POST without length or chunked encoding), 413 (a length or chunked body above
``collector_max_body_bytes``), 414 (pixel query above ``collector_max_query_bytes``), 415 (not
JSON), 431 (head too large); the connection is closed after each. When Kafka cannot take or
acknowledge a request's events within ``collector_delivery_timeout_s``: 503 with ``Retry-After``.

Validation is the core's (:mod:`websessions.events`); publishing is :mod:`websessions.ingest`'s.
"""

from websessions.collector.server import serve

__all__ = ["serve"]
