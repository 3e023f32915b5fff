"""The collector's HTTP layer (uvicorn + the head watchdog) on a local socket, with a stand-in app.

No Kafka here: the app answers with the body length it read, so what is tested is only what the
server layer decides (head timeout, head size, connection cap, what llhttp refuses itself).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from websessions.collector.server import _protocol_class, listening_socket
from websessions.settings import Settings

SETTINGS = dataclasses.replace(
    Settings(),
    collector_port=0,
    collector_header_timeout_s=0.5,
    collector_max_head_bytes=2048,
    collector_max_connections=20,
    collector_keepalive_s=0.5,
)


async def _length_app(scope, receive, send) -> None:
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    sock = listening_socket(SETTINGS)
    config = uvicorn.Config(
        _length_app,
        http=_protocol_class(SETTINGS),
        lifespan="off",
        access_log=False,
        log_config=None,
        timeout_keep_alive=SETTINGS.collector_keepalive_s,
        limit_concurrency=SETTINGS.collector_max_connections,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[:2]
    server.should_exit = True
    thread.join(5)
    sock.close()


def _connect(address) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_socket_that_never_sends_is_closed_after_the_header_timeout(address) -> None:
    with _connect(address) as sock:
        t0 = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert 0.4 < time.monotonic() - t0 < 2.0


def test_a_head_sent_byte_by_byte_is_cut_with_408(address) -> None:
    head = b"POST /events HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with _connect(address) as sock:
        t0 = time.monotonic()
        answer = b""
        try:
            for byte in head:
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"request head not received within 0.5s" in answer
        assert time.monotonic() - t0 < 2.5


def test_an_oversized_head_is_refused_with_431(address) -> None:
    with _connect(address) as sock:
        sock.sendall(b"GET /e.gif HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("length", [b"-1", b"abc", b"12, 13"])
def test_a_bad_content_length_gets_400_from_the_parser_not_a_dropped_connection(address, length) -> None:
    with _connect(address) as sock:
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n" + b"x" * 100)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b"Invalid HTTP request received.")


def test_keep_alive_serves_several_requests_then_closes_when_idle(address) -> None:
    with _connect(address) as sock:
        for _ in range(3):
            sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            answer = sock.recv(4096)
            while not answer.endswith(b"\r\n\r\n5"):  # head and body may come in two segments
                answer += sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200 ")
        t0 = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert time.monotonic() - t0 < 2.0


def test_connections_beyond_the_cap_are_refused_with_503(address) -> None:
    held = [_connect(address) for _ in range(SETTINGS.collector_max_connections)]
    try:
        time.sleep(0.1)
        with _connect(address) as extra:
            answer = _read_until_closed(extra)
        assert answer.startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.1)
    with _connect(address) as sock:  # and once they are gone, the server takes requests again
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
