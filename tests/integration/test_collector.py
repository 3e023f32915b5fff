"""The beacon collector as a real process against real Kafka: good and bad input."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
import uuid
from collections import Counter

import pytest
import requests
from confluent_kafka.admin import NewTopic

from websessions.audit import scan_topic
from websessions.background import BackgroundJob
from websessions.clients import kafka
from websessions.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def collector(stack):
    settings = stack("kafka")
    uid = uuid.uuid4().hex[:8]
    private = dataclasses.replace(
        settings,
        kafka_topic_events=f"test_events_{uid}",
        kafka_topic_dlq=f"test_dlq_{uid}",
        collector_port=_free_port(),
    )
    topics = [NewTopic(t, 2, 1) for t in (private.kafka_topic_events, private.kafka_topic_dlq)]
    admin = kafka.admin(private)
    for future in admin.create_topics(topics).values():
        future.result()
    job = BackgroundJob(private, f"collector-{uid}", ["collect"])
    job.start()
    base = f"http://{private.collector_host}:{private.collector_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, job.process.log_tail()
        time.sleep(0.2)
    yield private, base
    job.stop()
    for future in admin.delete_topics([t.topic for t in topics]).values():
        future.result()


def _event(**overrides) -> dict:
    event = {
        "event_time": "2026-11-20T10:15:30.123Z",
        "ip": "203.0.113.7",
        "host": "www.dataexpert.io",
        "url": "/courses",
        "referrer": "https://www.google.com/",
    }
    event.update(overrides)
    return event


def _dlq_reasons(settings: Settings) -> Counter:
    return scan_topic(settings, settings.kafka_topic_dlq, lambda v: json.loads(v)["reason"])


def test_valid_events_are_accepted_only_once_kafka_has_them(collector) -> None:
    settings, base = collector
    resp = requests.post(f"{base}/events", json=_event(), timeout=10)
    assert resp.status_code == 202
    assert resp.json()["accepted"] == 1
    batch = "\n".join(json.dumps(_event(url=f"/p/{i}")) for i in range(20))
    resp = requests.post(f"{base}/events", data=batch, headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert (resp.status_code, resp.json()["accepted"]) == (202, 20)
    # 202 means acknowledged: the events are in the topic the moment the answer arrives.
    assert sum(scan_topic(settings, settings.kafka_topic_events).values()) == 21


def test_the_pixel_form_takes_ip_agent_and_referrer_from_the_request(collector) -> None:
    settings, base = collector
    resp = requests.get(
        f"{base}/e.gif",
        params={"url": "/pricing", "host": "zachwilson.tech"},
        headers={"User-Agent": "Mozilla/5.0 test", "Referer": "https://zachwilson.tech/"},
        timeout=10,
    )
    assert resp.status_code == 202
    assert resp.headers["Content-Type"] == "image/gif"
    events = scan_topic(settings, settings.kafka_topic_events, lambda v: v)
    (value,) = events
    event = json.loads(value)
    assert (event["ip"], event["host"], event["url"]) == ("127.0.0.1", "zachwilson.tech", "/pricing")
    assert event["user_agent"] == "Mozilla/5.0 test"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (json.dumps({"ip": "203.0.113.7", "host": "h.io", "url": "/"}).encode(), "application/json", 400,
         "missing_field:event_time"),
        (json.dumps(_event(ip="999.1.1.1")).encode(), "application/json", 400, "bad_ip"),
        (b"x" * 200_000, "application/json", 413, "too_large"),
        (json.dumps(_event()).encode(), "application/xml", 415, "bad_content_type"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_4xx_and_a_dead_letter_record(collector, body, content_type, status, reason) -> None:
    settings, base = collector
    resp = requests.post(f"{base}/events", data=body, headers={"Content-Type": content_type}, timeout=10)
    assert resp.status_code == status
    assert resp.json()["errors"][0]["reason"] == reason
    assert resp.json()["errors"][0]["message"]
    assert _dlq_reasons(settings) == Counter({reason: 1})
    # ... and the collector keeps serving.
    assert requests.post(f"{base}/events", json=_event(), timeout=10).status_code == 202
    assert requests.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
