"""Socket plumbing of the local ARM: a threaded HTTP(S) server that hands each request to a function.

Kept apart from `localazure.arm.emulator` so that module reads as ARM semantics rather than socket code.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Incoming:
    """One request as received: `target` is the path with its query; header names are lower-cased."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Reply:
    """An answer: a JSON document (None for an empty body), headers, and real seconds to hold it back."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


#: Turns a request into a reply; None means: close the connection without answering.
App = Callable[[Incoming], Reply | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    server: Server

    def setup(self) -> None:
        started = time.thread_time()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in the worker thread, not in the accept loop
        super().setup()
        self.server.add_cpu(time.thread_time() - started)

    def handle_one_request(self) -> None:
        started = time.thread_time()  # CPU only: waiting for the next keep-alive request costs none
        super().handle_one_request()
        self.server.add_cpu(time.thread_time() - started)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.app(Incoming(self.command, self.path, headers, body))
        if reply is None:
            self.close_connection = True
            return
        if reply.delay > 0:
            time.sleep(reply.delay)
        data = b"" if reply.body is None or self.command == "HEAD" else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_PATCH = do_POST = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


class Server(ThreadingHTTPServer):
    """Serves `app` on 127.0.0.1 (ephemeral port), over TLS when given a context, in a daemon thread."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, app: App, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app
        self._tls = tls
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.cpu_seconds = 0.0
        # A short poll interval keeps stop() quick: shutdown() waits for the loop to notice.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="localazure-arm", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, then cut idle keep-alive connections so their worker threads end."""
        self.shutdown()
        self.server_close()
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):  # already closed by the client
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join()

    def add_cpu(self, seconds: float) -> None:
        with self._open_lock:
            self.cpu_seconds += seconds

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up or failing the TLS handshake is routine here: stay quiet."""
