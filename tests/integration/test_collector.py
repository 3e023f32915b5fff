"""The beacon collector (uvicorn) as a real process against real Kafka: good and bad input, framing,
bounded replies, pixel event ids, CORS."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
import uuid
from collections import Counter

import psutil
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


@pytest.fixture(params=[1], ids=["1 worker"])
def collector(stack, request):
    """A collector process on private topics; ``collector_workers`` from the test's parameter."""
    settings = stack("kafka")
    uid = uuid.uuid4().hex[:8]
    private = dataclasses.replace(
        settings,
        kafka_topic_events=f"test_events_{uid}",
        kafka_topic_dlq=f"test_dlq_{uid}",
        collector_port=_free_port(),
        collector_workers=request.param,
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


def _raw_exchange(base: str, request: bytes) -> bytes:
    """Send ``request`` on a fresh socket and read until the server closes it (or 10 s pass)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_an_oversized_length_is_refused_before_any_body_byte_is_sent(collector) -> None:
    settings, base = collector
    head = b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    answer = _raw_exchange(base, head)  # returns only because the server answers and closes
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["errors"][0]["reason"] == "too_large"
    assert _dlq_reasons(settings) == Counter({"too_large": 1})


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n", 411),
        (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
        (b"GET /e.gif?url=/&host=a.io&pad=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ],
)
def test_bad_framing_gets_a_4xx_with_a_reason_and_the_connection_closes(collector, head, status) -> None:
    _, base = collector
    answer = _raw_exchange(base, head)
    assert answer.startswith(b"HTTP/1.1 %d " % status)
    assert answer.split(b"\r\n\r\n", 1)[1]  # a reason, not just a status line


def test_chunked_bodies_are_read_up_to_the_limit_and_cut_past_it(collector) -> None:
    settings, base = collector
    lines = [json.dumps(_event(url=f"/c/{i}")).encode() + b"\n" for i in range(50)]
    resp = requests.post(
        f"{base}/events", data=iter(lines), headers={"Content-Type": "application/x-ndjson"}, timeout=10
    )  # a generator body goes out chunked
    assert (resp.status_code, resp.json()["accepted"]) == (202, 50)

    def endless():
        for _ in range(1000):  # 10 MB if the server read it all
            yield b"x" * 10_000

    try:
        resp = requests.post(f"{base}/events", data=endless(), headers={"Content-Type": "application/json"}, timeout=10)
        assert resp.status_code == 413
        assert resp.json()["errors"][0]["reason"] == "too_large"
    except requests.ConnectionError:
        pass  # the server may close while the client still sends; what matters is below
    assert sum(scan_topic(settings, settings.kafka_topic_events).values()) == 50
    assert _dlq_reasons(settings) == Counter({"too_large": 1})
    assert requests.post(f"{base}/events", json=_event(), timeout=10).status_code == 202


def test_a_huge_bad_batch_gets_a_small_reply(collector) -> None:
    settings, base = collector
    good = [json.dumps(_event(url=f"/ok/{i}")) for i in range(10)]
    batch = "\n".join(good + ["{not json"] * 1500)
    resp = requests.post(f"{base}/events", data=batch, headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert resp.status_code == 207
    body = resp.json()
    assert (body["accepted"], body["rejected"], body["errors_omitted"]) == (10, 1500, 1490)
    assert [e["index"] for e in body["errors"]] == list(range(10, 20))
    assert len(resp.content) < 2000
    assert _dlq_reasons(settings) == Counter({"malformed_json": 1500})


def test_a_retried_pixel_keeps_its_event_id(collector) -> None:
    settings, base = collector
    params = {"url": "/pricing", "host": "zachwilson.tech", "r": "k3j2"}
    for _ in range(2):  # the same beacon sent twice, as a client does after a 503
        assert requests.get(f"{base}/e.gif", params=params, timeout=10).status_code == 202
    assert requests.get(f"{base}/e.gif", params={**params, "eid": "client-id-1"}, timeout=10).status_code == 202
    ids = scan_topic(settings, settings.kafka_topic_events, lambda v: json.loads(v)["event_id"])
    assert sorted(ids.values()) == [1, 2]
    assert ids["client-id-1"] == 1


def test_cors_lets_the_monitored_sites_read_replies(collector) -> None:
    _, base = collector
    site = "https://www.dataexpert.io"
    preflight = requests.options(
        f"{base}/events", headers={"Origin": site, "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == site
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    resp = requests.post(f"{base}/events", json=_event(), headers={"Origin": site}, timeout=10)
    assert (resp.status_code, resp.headers["Access-Control-Allow-Origin"]) == (202, site)
    other = requests.post(f"{base}/events", json=_event(), headers={"Origin": "https://evil.example"}, timeout=10)
    assert other.status_code == 202 and "Access-Control-Allow-Origin" not in other.headers
    assert requests.options(f"{base}/events", headers={"Origin": "https://evil.example"}, timeout=10).status_code == 403


def _listening_on(port: int) -> list[int]:
    pids = []
    for proc in psutil.process_iter():
        try:
            if any(c.status == "LISTEN" and c.laddr.port == port for c in proc.net_connections("tcp")):
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


@pytest.mark.parametrize("collector", [2], ids=["2 workers"], indirect=True)
def test_two_workers_share_the_port_and_every_event_lands(collector) -> None:
    settings, base = collector
    assert len(_listening_on(settings.collector_port)) == 2  # one socket, accepted from by two processes
    for i in range(40):
        with requests.Session() as fresh:  # a new connection each time
            assert fresh.post(f"{base}/events", json=_event(url=f"/w/{i}"), timeout=10).status_code == 202
    assert sum(scan_topic(settings, settings.kafka_topic_events).values()) == 40
