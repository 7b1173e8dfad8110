"""
Serve a ``FakeDistinct`` over a real socket, for tests and demos.

The server speaks HTTP/1.1 with keep-alive, so a client's connection pooling
shows in ``connections_opened``.  Delayed answers sleep in the connection's
own thread and dropped ones close the socket without a byte of answer.

A control API under ``/_fake/`` lets another process drive the double; it
needs no key and is never recorded in ``fake.requests``:

- ``POST /_fake/users``: a user object, or a list of them, added all or none;
  answers 201 with what was added.
- ``GET /_fake/users``: every user, erased ones included.
- ``GET /_fake/requests``: the request log, the API key header redacted.
- ``GET /_fake/stats``: ``{"connections_opened": ..., "requests": ...}``,
  the TCP connections accepted and the requests logged so far.
- ``POST /_fake/faults``: ``{"kind": ..., "times": ..., "retry_after": ...,
  "delay": ..., "processed": ...}``, as ``FakeDistinct.inject`` takes them
  (no ``match``: a callable cannot cross the wire).
- ``POST /_fake/reset``: forget users, requests and faults.

Bodies are never written to stderr: they carry PII, fake or not.  A request
with ``Transfer-Encoding: chunked`` is refused with 411, since the
project's client always sends a Content-Length.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from django_distinct import __version__
from django_distinct.testing.fake import (
    MSG_SERVER_ERROR,
    FakeDistinct,
    FakeResponse,
    json_answer,
    parse_json,
)

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_fake/"
# Seconds an idle keep-alive connection is held before the server closes it.
IDLE_TIMEOUT = 30


class FakeDistinctServer:
    """Serve ``fake`` on ``host:port`` from a daemon thread.

    ``port=0`` picks a free port; read it from ``port`` or ``url`` once
    started.  A stopped server cannot be started again.
    """

    def __init__(
        self, fake: FakeDistinct | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.fake = fake if fake is not None else FakeDistinct()
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> FakeDistinctServer:
        """Bind the socket and start serving; return the server.

        Raise ``OSError`` when the address cannot be bound.
        """
        if self._stopped:
            raise RuntimeError("a stopped FakeDistinctServer cannot start again")
        if self._httpd is not None:
            return self

        self._httpd = _HTTPServer((self.host, self._requested_port), self.fake)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeDistinctServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every socket; do nothing if not running."""
        if self._httpd is None or self._stopped:
            return
        self._stopped = True

        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeDistinctServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("start the FakeDistinctServer first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Return the base URL, the value for ``DISTINCT["BASE_URL"]``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def distinct_settings(self, **extra: Any) -> dict[str, Any]:
        """Return a ``DISTINCT`` dict that sends erasures to this server.

        For ``override_settings(DISTINCT=server.distinct_settings())`` in a
        ``TestCase``; ``extra`` adds or replaces other keys.
        """
        return {"BASE_URL": self.url, "API_KEY": self.fake.api_key, **extra}

    @property
    def connections_opened(self) -> int:
        """Return how many TCP connections the server has accepted."""
        return self._httpd.connections_opened if self._httpd is not None else 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeDistinct) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.fake = fake
        self.connections_opened = 0
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr for every client that
        # hangs up mid-request, which tests of timeouts do on purpose.
        error = sys.exc_info()[1]
        logger.debug("Connection from %s failed: %r", client_address[0], error)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall
        # for seconds on a machine with slow DNS; the name is never used.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._open_lock:
            self.connections_opened += 1
            self._open.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut the connections still open, idle keep-alive ones included."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm the
    # body would wait for the client's delayed ACK, some 40 ms an answer.
    disable_nagle_algorithm = True
    server_version = f"DistinctDouble/{__version__}"
    timeout = IDLE_TIMEOUT
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        # Silent on purpose: the default writes request lines to stderr, and
        # a test run's stderr ends up in CI logs.
        pass

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return

        if urlsplit(self.path).path.startswith(CONTROL_PREFIX):
            status, payload = self._control(body)
            self._send_json(status, payload)
            return

        try:
            response = self.server.fake.handle(
                method=self.command,
                path=self.path,
                headers=dict(self.headers.items()),
                body=body,
                client_ip=self.client_address[0],
            )
        except Exception:
            logger.exception("The Distinct double failed to answer a request")
            response = json_answer(500, MSG_SERVER_ERROR)

        if response.drop:
            self._drop()
            return
        if response.delay:
            time.sleep(response.delay)
        self._send(response)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(json_answer(411, "Send a Content-Length, not chunks."))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(json_answer(400, "Content-Length is not a number."))
            return None
        return self.rfile.read(length)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: FakeResponse) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up, usually on its read timeout during a delay.
            self.close_connection = True

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        self._send(FakeResponse(status=status, headers=headers, body=body))

    def _control(self, body: bytes) -> tuple[int, Any]:
        fake = self.server.fake
        route = (self.command, urlsplit(self.path).path.rstrip("/"))

        if route == ("GET", "/_fake/users"):
            return 200, [user.as_dict() for user in fake.users]
        if route == ("GET", "/_fake/requests"):
            return 200, [request.as_dict() for request in fake.requests]
        if route == ("GET", "/_fake/stats"):
            stats = {
                "connections_opened": self.server.connections_opened,
                "requests": len(fake.requests),
            }
            return 200, stats
        if route == ("POST", "/_fake/reset"):
            fake.reset()
            return 200, {"reset": True}
        if route == ("POST", "/_fake/users"):
            return self._add_users(fake, body)
        if route == ("POST", "/_fake/faults"):
            return self._inject(fake, body)
        return 404, {"error": "No such control endpoint."}

    def _add_users(self, fake: FakeDistinct, body: bytes) -> tuple[int, Any]:
        payload = parse_json(body)
        many = isinstance(payload, list)
        objects = payload if many else [payload]
        if not all(isinstance(item, dict) for item in objects):
            return 400, {"error": "Send a user object or a list of them."}
        try:
            users = fake.add_users(objects)
        except (TypeError, ValueError) as err:
            return 400, {"error": str(err)}
        added = [user.as_dict() for user in users]
        return 201, added if many else added[0]

    def _inject(self, fake: FakeDistinct, body: bytes) -> tuple[int, Any]:
        payload = parse_json(body)
        if not isinstance(payload, dict) or "kind" not in payload:
            return 400, {"error": 'Send {"kind": ...} and the options of inject.'}
        names = ("retry_after", "delay", "processed")
        options = {name: payload[name] for name in names if name in payload}
        try:
            fault = fake.inject(payload["kind"], payload.get("times", 1), **options)
        except (TypeError, ValueError) as err:
            return 400, {"error": str(err)}
        return 201, {"kind": fault.kind, "times": fault.remaining}
