"""The beacon collector under faults: Kafka paused while it takes traffic, and abusive clients.

Both run the collector as a real process (``websessions collect``) on private topics against the
local Kafka; traffic goes to 127.0.0.1 only and is bounded in count and time. The checker is
produce-validate: every event carries an id, and the topic is read back at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest
import requests

from tests.integration.datasets import kafka_topics, private_settings
from websessions.audit import scan_topic
from websessions.background import BackgroundJob
from websessions.collector.framing import pixel_event_id
from websessions.commands import exit_codes
from websessions.settings import Settings
from websessions.stack.process import ManagedProcess
from websessions.stack.registry import build_service

USER_AGENT = "chaos-client/1"
RSS_BOUND_MB = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kafka_pid(settings: Settings) -> int:
    (name,) = build_service(settings, "kafka").process_names
    pid = ManagedProcess(name, settings.run_dir, settings.logs_dir).pid()
    assert pid is not None, "kafka is not running"
    return pid


def _health(base: str) -> int:
    try:
        return requests.get(f"{base}/health", timeout=5).status_code
    except requests.RequestException:
        return 0


@pytest.fixture
def collector(stack) -> Iterator[tuple[Settings, str, int]]:
    """A collector process on private topics with short timeouts; yields (settings, base url, pid)."""
    base_settings = stack("kafka")
    private = dataclasses.replace(
        private_settings(base_settings, "collector", "kafka_topic_events", "kafka_topic_dlq"),
        collector_port=_free_port(),
        collector_delivery_timeout_s=2.0,
        collector_retry_after_s=1,
        collector_header_timeout_s=3.0,
        collector_body_timeout_s=3.0,
    )
    with kafka_topics(private, private.kafka_topic_events, private.kafka_topic_dlq):
        job = BackgroundJob(private, f"collector-{private.kafka_topic_events[-8:]}", ["collect"])
        job.start()
        base = f"http://{private.collector_host}:{private.collector_port}"
        deadline = time.monotonic() + 30
        while _health(base) != 200:
            assert time.monotonic() < deadline, job.process.log_tail()
            time.sleep(0.2)
        try:
            yield private, base, job.pid()
        finally:
            job.stop()


def _event(client: int, seq: int) -> dict:
    return {
        "event_id": f"c{client}-{seq}",
        "event_time": "2026-11-20T10:15:30.123Z",
        "ip": f"10.7.{client % 250}.{seq % 200 + 1}",
        "host": "www.dataexpert.io",
        "url": f"/chaos/{seq}",
    }


class _Client(threading.Thread):
    """A keep-alive client sending one event per request (every fourth as a pixel), ~10 requests/s;
    after a 503 it retries the same event (same id) once the Retry-After has passed."""

    def __init__(self, number: int, port: int, stop: threading.Event, request_timeout_s: float):
        super().__init__(daemon=True)
        self.number, self.port, self.stop = number, port, stop
        self.request_timeout_s = request_timeout_s
        self.acknowledged: set[str] = set()
        self.sent: set[str] = set()
        self.unavailable = 0
        self.slowest_s = 0.0
        self.failures: list[str] = []

    def _request(self, conn: http.client.HTTPConnection, seq: int) -> tuple[str, http.client.HTTPResponse]:
        headers = {"User-Agent": USER_AGENT}
        if seq % 4 == 3:
            query = urlencode({"url": f"/px/{seq}", "host": "zachwilson.tech", "r": f"{self.number}-{seq}"})
            conn.request("GET", f"/e.gif?{query}", headers=headers)
            event_id = pixel_event_id("127.0.0.1", USER_AGENT, query.encode())
        else:
            body = json.dumps(_event(self.number, seq))
            conn.request("POST", "/events", body=body, headers={**headers, "Content-Type": "application/json"})
            event_id = f"c{self.number}-{seq}"
        return event_id, conn.getresponse()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.request_timeout_s)
        seq = 0
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                event_id, resp = self._request(conn, seq)
                resp.read()
            except (OSError, http.client.HTTPException) as exc:  # a timeout here is a hung request
                self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.request_timeout_s)
                time.sleep(0.2)
                continue
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            self.sent.add(event_id)
            if resp.status == 202:
                self.acknowledged.add(event_id)
                seq += 1
                time.sleep(0.1)
            elif resp.status == 503:
                assert resp.getheader("Retry-After") == "1"
                self.unavailable += 1
                time.sleep(1.0)  # then the same seq again: the same event id
            else:
                self.failures.append(f"status {resp.status}")
                seq += 1
        conn.close()


class _IngestThroughAPipe:
    """``websessions ingest`` reading a named pipe, so the test decides when each line arrives."""

    def __init__(self, settings: Settings, path: Path):
        os.mkfifo(path)
        env = {**os.environ, **settings.as_env(), "WEBSESSIONS_INGEST_DELIVERY_TIMEOUT_S": "3"}
        cmd = [sys.executable, "-m", "websessions.cli", "ingest", str(path)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pipe = open(path, "w")  # noqa: SIM115 - closed by end()

    def send(self, lines: list[str]) -> None:
        self.pipe.write("".join(line + "\n" for line in lines))
        self.pipe.flush()

    def end(self, timeout_s: float) -> tuple[int, str]:
        self.pipe.close()
        _, stderr = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, stderr


def test_kafka_paused_under_keep_alive_traffic_gives_503s_and_loses_nothing(collector, reliability, tmp_path) -> None:
    settings, base, _ = collector
    request_timeout_s = settings.collector_delivery_timeout_s + 3.0  # the collector answers within ~2.5 s
    stop = threading.Event()
    clients = [_Client(n, settings.collector_port, stop, request_timeout_s) for n in range(32)]
    for client in clients:
        client.start()
    ingest = _IngestThroughAPipe(settings, tmp_path / "events.jsonl")
    ingest.send([json.dumps({**_event(251, i), "event_id": f"ingest-{i}"}) for i in range(100)])
    time.sleep(2.0)
    kafka = _kafka_pid(settings)
    health_during: list[int] = []
    os.kill(kafka, signal.SIGSTOP)
    try:
        paused_at = time.monotonic()
        ingest.send([json.dumps({**_event(251, i), "event_id": f"ingest-{i}"}) for i in range(100, 150)])
        ingest_code, ingest_err = ingest.end(timeout_s=8.0)  # fails within its 3 s delivery timeout (+ flush)
        ingest_s = time.monotonic() - paused_at
        while time.monotonic() - paused_at < 10.0:  # well under the 15 s others' tests can tolerate
            health_during.append(_health(base))
            time.sleep(0.5)
    finally:
        os.kill(kafka, signal.SIGCONT)
    resumed_at = time.monotonic()
    while _health(base) != 200:
        assert time.monotonic() - resumed_at < 30, "the collector's /health did not recover"
        time.sleep(0.2)
    recover_s = time.monotonic() - resumed_at
    time.sleep(3.0)
    stop.set()
    for client in clients:
        client.join(request_timeout_s + 5)

    acknowledged = set().union(*(c.acknowledged for c in clients))
    sent = set().union(*(c.sent for c in clients), {f"ingest-{i}" for i in range(150)})
    in_topic = scan_topic(settings, settings.kafka_topic_events, lambda v: json.loads(v)["event_id"])
    lost = acknowledged - set(in_topic)
    raw_copies = sum(n - 1 for n in in_topic.values())
    unavailable = sum(c.unavailable for c in clients)
    failures = [f for c in clients for f in c.failures]
    slowest = max(c.slowest_s for c in clients)
    reliability.record(
        fault="Kafka paused 10 s (SIGSTOP) under 32 keep-alive collector clients",
        rounds=1,
        acknowledged=len(acknowledged),
        lost=len(lost),
        duplicated=raw_copies,
        recover_s=recover_s,
        notes=(
            f"{unavailable} answers 503 + Retry-After, retried with the same event id; duplicated = extra raw"
            f" copies of retried events in Kafka, one per event id after dedupe; slowest answer {slowest:.1f} s"
        ),
    )
    assert not failures, failures[:5]  # no request hung past its timeout, no unexpected status
    assert slowest < request_timeout_s
    assert unavailable > 0, "the pause produced no 503: the fault was not exercised"
    assert 503 in health_during and health_during[-1] == 503
    assert not lost, sorted(lost)[:10]
    assert set(in_topic) <= sent  # nothing in the topic that no client sent
    assert len(acknowledged) >= 1000
    # `ingest` while Kafka was paused: exit 4 (unreachable) within bounded time, one line, what was acknowledged.
    assert ingest_code == exit_codes.UNREACHABLE and ingest_s < 8.0
    (line,) = ingest_err.strip().splitlines()
    assert line.startswith("error: kafka did not acknowledge 50 messages: Local: Message timed out (50)"), line
    assert "acknowledged before the failure: 100 events" in line
    assert {f"ingest-{i}" for i in range(100)} <= set(in_topic)


def _recv_all(sock: socket.socket) -> bytes | None:
    """What the server sends until it closes the connection; None if it did not close it in time."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        return None
    return data


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return _recv_all(sock) or b""


def _tree_rss_mb(process: psutil.Process) -> float:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def _post(content: bytes, length: bytes | None = None) -> bytes:
    """A JSON POST of ``content``; ``length`` overrides the Content-Length it declares."""
    declared = b"%d" % len(content) if length is None else length
    head = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: "
    )
    return head + declared + b"\r\n\r\n" + content


def test_abusive_clients_do_not_starve_a_well_formed_post(collector, reliability) -> None:
    settings, base, pid = collector
    port = settings.collector_port
    stop = threading.Event()
    answers: Counter = Counter()
    errors: list[str] = []

    def abuse(name: str, request: bytes, expect: bytes) -> None:
        answer = _exchange(port, request)
        status = answer[9:12]
        answers[(name, status.decode(errors="replace"))] += 1
        if status != expect:
            errors.append(f"{name}: {answer[:200]!r}")

    def chunked_10mb() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            sock.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 100_000 + b"[" * 100_000 + b"\r\n"
            try:
                for _ in range(100):  # 10 MB, unless the server cuts it
                    sock.sendall(chunk)
                sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            status = (_recv_all(sock) or b"")[9:12]
        answers[("chunked 10 MB", status.decode())] += 1
        if status not in (b"413", b""):  # the reset may eat the answer; the body must not be read
            errors.append(f"chunked 10 MB: {status!r}")

    def slow_senders(name: str, head: bytes, count: int, timeout_s: float, status: bytes) -> None:
        """``count`` clients sending ``head``, then one more byte every 0.2 s: each must be cut with
        ``status`` (or closed) within ``timeout_s`` plus slack."""
        socks = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(count)]
        for sock in socks:
            sock.sendall(head)
        started = time.monotonic()
        sending = list(socks)
        while sending and time.monotonic() - started < timeout_s + 5:
            for sock in list(sending):
                try:
                    sock.sendall(b"a")
                except OSError:
                    sending.remove(sock)
            time.sleep(0.2)
        cut = 0
        for sock in socks:
            sock.settimeout(0.5)
            answer = _recv_all(sock)
            cut += answer is not None and (answer.startswith(b"HTTP/1.1 " + status) or answer == b"")
            sock.close()
        answers[(name, str(cut))] += 1
        if cut != count:
            errors.append(f"{name}: {cut} of {count} cut after {time.monotonic() - started:.1f}s")

    def slow_bodies() -> None:
        head = b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        slow_senders("slow bodies", head, 50, settings.collector_body_timeout_s, b"408")

    def slow_heads() -> None:
        head = b"POST /events HTTP/1.1\r\nHost: x\r\nX-Slow: "
        slow_senders("slow heads", head, 20, settings.collector_header_timeout_s, b"408")

    def framing_mix() -> None:
        mix = [
            ("negative length", _post(b"{}", length=b"-1"), b"400"),
            ("non-numeric length", _post(b"{}", length=b"lots"), b"400"),
            ("no length", b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n", b"411"),
            ("oversized length", _post(b"", length=b"10000000"), b"413"),
            ("non-UTF-8", _post(b'{"url": "\xff\xfe\xfa"}'), b"400"),
            ("nested 60,000", _post(b"[" * 60_000), b"400"),
            ("nested 100,000", _post(b"[" * 100_000), b"413"),
        ]
        rounds = 0
        while not stop.is_set() and rounds < 10:
            for name, request, expect in mix:
                abuse(name, request, expect)
            rounds += 1

    idle = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(300)]
    opened_at = time.monotonic()
    threads = [threading.Thread(target=f, daemon=True) for f in (chunked_10mb, slow_bodies, slow_heads, framing_mix)]
    for thread in threads:
        thread.start()
    process = psutil.Process(pid)  # the collector, or the supervisor it runs under: its whole tree counts
    latencies, rss_mb, acknowledged = [], [], set()
    for seq in range(40):  # each probe on a fresh connection, as a new visitor's beacon
        body = _event(249, seq)
        started = time.monotonic()
        resp = requests.post(f"{base}/events", json=body, timeout=5)
        latencies.append(time.monotonic() - started)
        if resp.status_code == 202:
            acknowledged.add(body["event_id"])
        rss_mb.append(_tree_rss_mb(process))
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(30)
    idle_closed = 0
    for sock in idle:
        sock.settimeout(max(0.1, settings.collector_header_timeout_s + 2 - (time.monotonic() - opened_at)))
        idle_closed += _recv_all(sock) == b""  # closed by the server, nothing sent
        sock.close()
    rss_mb.append(_tree_rss_mb(process))

    in_topic = scan_topic(settings, settings.kafka_topic_events, lambda v: json.loads(v)["event_id"])
    dead = scan_topic(settings, settings.kafka_topic_dlq, lambda v: json.loads(v)["reason"])
    lost = acknowledged - set(in_topic)
    reliability.record(
        fault=(
            "collector abuse: 300 idle sockets, 50 slow bodies, 20 slow heads, bad lengths, 10 MB chunked,"
            " non-UTF-8, deep nesting"
        ),
        rounds=1,
        acknowledged=len(acknowledged),
        lost=len(lost),
        duplicated=sum(n - 1 for n in in_topic.values()),
        quarantined=sum(dead.values()),
        notes=(
            f"well-formed POST p100 {max(latencies) * 1000:.0f} ms; collector RSS max {max(rss_mb):.0f} MB"
            f" (bound {RSS_BOUND_MB}); dead-lettered {dict(dead)}"
        ),
    )
    assert not errors, errors[:5]
    assert len(acknowledged) == 40 and max(latencies) < 1.0, latencies
    assert idle_closed == 300
    assert max(rss_mb) < RSS_BOUND_MB
    assert not lost and set(in_topic) == acknowledged
    assert dead["malformed_json"] >= 10 and dead["too_large"] >= 10
