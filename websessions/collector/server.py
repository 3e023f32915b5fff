"""The collector's HTTP server: uvicorn (httptools parser, uvloop) plus a head watchdog.

uvicorn 0.54 bounds idle keep-alive connections (``timeout_keep_alive``) and, with
``limit_concurrency``, answers 503 beyond a number of connections; it has no timeout for a request
head (a fresh socket that never sends a byte, or headers sent a byte at a time, stay open forever:
``HttpToolsProtocol`` only arms its keep-alive timer after a response) and no limit on the head's
size (httptools buffers a header of any length). :class:`GuardedHttpToolsProtocol` adds both, in
about forty lines over uvicorn's own protocol:

- a timer from a connection's start, and from the first byte of each request, to its end of
  headers: past ``collector_header_timeout_s`` the connection is closed (with a 408 if part of a
  head had arrived);
- a byte count of the head: past ``collector_max_head_bytes`` a 431 and the connection is closed;
- a connection beyond ``collector_max_connections`` is answered 503 and closed at once.

The body's own timeout and size limit are the app's (:mod:`websessions.collector.app`), which
sees the body arrive chunk by chunk.

What the server layer itself answers (before the app): a malformed request line or header, a
``Content-Length`` that is negative, non-numeric or repeated, a length together with chunked
encoding, or a bad chunk: 400 ``Invalid HTTP request received.`` and the connection is closed
(llhttp's strict parsing).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from websessions.settings import Settings

log = logging.getLogger(__name__)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head timeout, a head size limit and a connection cap."""

    header_timeout_s: float = 5.0
    max_head_bytes: int = 32768
    max_connections: int = 1000

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._answer_and_close(503, "too many connections")
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._answer_and_close(431, f"request head exceeds {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what comes next is the next request's head (counted, not yet timed)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a pipelined head waits for the running request; look again later
            return
        if self._head_bytes:
            self._answer_and_close(408, f"request head not received within {self.header_timeout_s:g}s")
        else:
            self.transport.close()

    def _answer_and_close(self, status: int, message: str) -> None:
        """A plain-text answer written directly to the socket (no request cycle runs), then close."""
        if self.cycle is None or self.cycle.response_complete:
            body = message.encode()
            self.transport.write(
                STATUS_LINE[status]
                + b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                % len(body)
                + body
            )
        self.transport.close()


def _protocol_class(settings: Settings) -> type[GuardedHttpToolsProtocol]:
    return type(
        "CollectorProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout_s": settings.collector_header_timeout_s,
            "max_head_bytes": settings.collector_max_head_bytes,
            "max_connections": settings.collector_max_connections,
        },
    )


def listening_socket(settings: Settings, port: int | None = None) -> socket.socket:
    """The collector's socket, with SO_REUSEPORT so several worker processes can share the port."""
    sock = socket.socket(socket.AF_INET6 if ":" in settings.collector_host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.collector_host, settings.collector_port if port is None else port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _serve_socket(settings: Settings, sock: socket.socket, ready: threading.Event | None) -> None:
    import uvicorn

    from websessions.collector.app import CollectorApp
    from websessions.collector.publisher import AsyncPublisher

    publisher = AsyncPublisher(settings, asyncio.get_running_loop())
    config = uvicorn.Config(
        CollectorApp(settings, publisher),
        http=_protocol_class(settings),
        lifespan="off",
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_keep_alive=settings.collector_keepalive_s,  # type: ignore[arg-type]  (a float works)
        limit_concurrency=settings.collector_max_connections,
        timeout_graceful_shutdown=int(settings.collector_delivery_timeout_s + settings.collector_body_timeout_s),
    )
    server = uvicorn.Server(config)

    async def announce() -> None:
        while not server.started and not server.should_exit:
            await asyncio.sleep(0.02)
        if server.started:
            log.info("collector [%d] listening on http://%s:%d", os.getpid(), *sock.getsockname()[:2])
            if ready is not None:
                ready.set()

    announcer = asyncio.ensure_future(announce())
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()
        publisher.close()


def _run_worker(settings: Settings, sock: socket.socket, ready: threading.Event | None) -> None:
    import uvloop

    uvloop.run(_serve_socket(settings, sock, ready))


def _die_with_parent() -> None:
    """A worker gets SIGTERM when the first process dies, even by ``kill -9`` (Linux's PR_SET_PDEATHSIG),
    so no orphaned worker keeps the port."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(0)


def serve(settings: Settings, port: int | None = None, ready: threading.Event | None = None) -> None:
    """Serve until SIGTERM or SIGINT (then exit 0): ``collector_workers`` processes (one event loop and one Kafka
    producer each) accepting from one listening socket."""
    sock = listening_socket(settings, port)
    # uvicorn re-raises the signal that stopped it once it has shut down: make that an exception, so
    # the producer is flushed and the workers are reaped instead of the process just dying.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    workers = max(1, settings.collector_workers)
    children: list[int] = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:  # a worker: serve, then leave without running the parent's cleanup
            _die_with_parent()
            code = 0
            try:
                _run_worker(settings, sock, None)
            except SystemExit:
                pass
            except BaseException:  # noqa: BLE001 - the worker's exit code says it failed
                log.exception("collector worker failed")
                code = 1
            os._exit(code)
        children.append(pid)
    try:
        _run_worker(settings, sock, ready)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        sock.close()
