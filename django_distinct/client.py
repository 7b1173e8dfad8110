"""
The only code that speaks HTTP to Distinct.

One ``requests.Session`` per thread and configuration keeps connections
alive between calls.  Retries are the app's own, counted as attempts: the
adapter never retries (urllib3 would not retry a POST anyway, and a hidden
resend would be an uncounted one), and redirects are not followed, since
``requests`` would turn a redirected POST into a GET.

``requests`` bounds each read, not the whole answer: a server that sends a
byte every few seconds could hold a call for ever, past the claim that keeps
other workers off the request.  So every call also has a deadline, the sum
of the connect and read timeouts, after which its socket is shut down.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import __version__, conf
from .exceptions import (
    DistinctConfigurationError,
    DistinctConnectError,
    DistinctTimeoutError,
    DistinctTransportError,
)

logger = logging.getLogger(__name__)

USER_AGENT = f"django-distinct/{__version__} python-requests/{requests.__version__}"
# Distinct's answers are a few hundred bytes; a proxy's error page may not be.
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class RawResponse:
    """An HTTP answer, read defensively and not yet interpreted."""

    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    elapsed: float  # seconds


class _Call:
    """One call in flight: the connection it uses, so the watchdog can end it."""

    def __init__(self) -> None:
        self.connection: HTTPConnection | None = None
        self.expired = False
        self.done = False
        self._lock = threading.Lock()

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            self.connection = connection
            if self.expired:
                self._shut()

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            self._shut()

    def finish(self) -> None:
        """Say the answer is read: from now on expiring it does nothing.

        Called before the connection goes back to the pool, where shutting
        it would break the next call that takes it.
        """
        with self._lock:
            self.done = True

    def _shut(self) -> None:
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                # shutdown, not close: it wakes a recv blocked in the caller's
                # thread, which close does not promise to do.
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Watchdog:
    """One thread that ends the calls whose deadline has passed.

    A timer thread per call would cost a thread start for every request a
    sweep sends; here arming a deadline is a push onto a heap.  Calls that
    finish in time are only marked, and dropped when their deadline comes.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Call]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, call: _Call, seconds: float) -> None:
        """Expire ``call`` in ``seconds`` unless it is done by then."""
        entry = (time.monotonic() + seconds, next(self._order), call)
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="distinct-deadlines", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._changed.wait(wait)
                _, _, call = heapq.heappop(self._heap)
            try:
                call.expire()
            except Exception:
                logger.exception("Ending a call past its deadline failed")

    def _after_fork(self) -> None:
        # The thread does not survive a fork; the child starts its own.
        self._heap = []
        self._changed = threading.Condition()
        self._thread = None


_watchdog = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_watchdog._after_fork)

_current = threading.local()


if TYPE_CHECKING:
    # What _Tracked is always mixed into, so that its super() is checked.
    _ConnectionBase = HTTPConnection
else:
    _ConnectionBase = object


class _Tracked(_ConnectionBase):
    """Tell the call in flight on this thread which connection it got."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        call = getattr(_current, "call", None)
        if call is not None:
            call.attach(self)
        super().request(*args, **kwargs)


class _TrackedHTTPConnection(_Tracked, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _HTTPPool,
            "https": _HTTPSPool,
        }


class DistinctClient:
    """Send delete-user requests to one Distinct endpoint."""

    def __init__(
        self,
        *,
        api_key: str,
        url: str,
        timeout: tuple[float, float],
        pool_size: int = 10,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.deadline = timeout[0] + timeout[1]
        self.session = requests.Session()
        adapter = _Adapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "x-distinct-api-key": api_key,
            }
        )
        # requests would otherwise read proxies and credentials from the
        # environment and ~/.netrc, and could send an Authorization header of
        # its own alongside ours.
        self.session.trust_env = False
        self._adapter = adapter
        self._headers = dict(self.session.headers)

    def __repr__(self) -> str:
        # Never the session headers: they hold the key.
        return f"<DistinctClient {self.url}>"

    def delete_user(
        self, payload: dict[str, str], *, request_id: str | None = None
    ) -> RawResponse:
        """POST ``payload`` and return the answer, whatever its status.

        ``request_id`` goes out as ``X-Request-Id``, so both sides can name
        the call in a dispute.

        Raise ``DistinctTransportError`` when there is no answer to read, and
        ``DistinctConfigurationError`` when the request cannot even be built
        (an API key no HTTP header can carry, say).
        """
        call = _Call()
        started = time.monotonic()
        _current.call = call
        _watchdog.arm(call, self.deadline)
        try:
            raw = self._exchange(payload, started, request_id, call)
            if call.expired:
                # The socket was shut under a body without a length: what
                # was read is a fragment, not an answer.
                raise _in_doubt("answer cut off at the deadline")
            return raw
        except DistinctTransportError as exc:
            if call.expired:
                raise DistinctTimeoutError(
                    f"no complete answer from Distinct within {self.deadline:g} s"
                ) from exc
            raise
        finally:
            call.finish()
            _current.call = None

    def _exchange(
        self,
        payload: dict[str, str],
        started: float,
        request_id: str | None,
        call: _Call,
    ) -> RawResponse:
        headers = self._headers
        if request_id:
            headers = {**headers, "X-Request-Id": request_id}
        try:
            # Straight to the adapter: Session.request would merge settings,
            # cookies and hooks this client never uses, which costs about a
            # third of the CPU of each call, and a sweep makes thousands.
            request = requests.PreparedRequest()
            request.prepare(method="POST", url=self.url, headers=headers, json=payload)
            response = self._adapter.send(request, timeout=self.timeout, stream=True)
        except requests.exceptions.ConnectTimeout as exc:
            raise DistinctConnectError("timed out connecting to Distinct") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise DistinctTimeoutError(
                "no answer from Distinct within the read timeout"
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise DistinctConnectError("TLS handshake with Distinct failed") from exc
        except requests.exceptions.ConnectionError as exc:
            raise _connection_error(exc) from exc
        except (
            requests.exceptions.InvalidHeader,
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            UnicodeError,
        ) as exc:
            raise DistinctConfigurationError(
                f"the request could not be built ({type(exc).__name__}): check "
                "DISTINCT['API_KEY'] and DISTINCT['BASE_URL']"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise DistinctTransportError(
                f"request failed ({type(exc).__name__})"
            ) from exc

        try:
            if response.status_code < 200:
                # An interim answer (103 Early Hints, say) that urllib3 handed
                # over as if final: the real one is still on the wire, and
                # pooling the connection would give it to the next request.
                self.session.close()
                raise _in_doubt(
                    f"interim answer HTTP {response.status_code} from Distinct; "
                    "the final one was not read"
                )
            body = _read_capped(response)
        except requests.exceptions.RequestException as exc:
            raise _in_doubt(
                f"answer from Distinct cut off ({type(exc).__name__})"
            ) from exc
        finally:
            call.finish()
            response.close()
        return RawResponse(
            status=response.status_code,
            headers=response.headers,
            body=body,
            elapsed=time.monotonic() - started,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()


def _read_capped(response: requests.Response) -> bytes:
    chunks = []
    size = 0
    for chunk in response.iter_content(chunk_size=8192):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _in_doubt(message: str) -> DistinctTransportError:
    error = DistinctTransportError(message)
    error.in_doubt = True
    return error


def _connection_error(
    exc: requests.exceptions.ConnectionError,
) -> DistinctTransportError:
    """Tell a refused connection from one dropped after the request went out."""
    text = str(exc)
    never_sent = (
        "NewConnectionError",
        "NameResolutionError",
        "Failed to establish a new connection",
        "Failed to resolve",
    )
    if any(marker in text for marker in never_sent):
        return DistinctConnectError("could not connect to Distinct")
    # RemoteDisconnected, ConnectionResetError, ProtocolError: the request may
    # have been read and acted on before the connection went away.
    return _in_doubt("connection to Distinct dropped before an answer")


_local = threading.local()
# What a cached client was built from: the key, the URL and the timeouts.
_ClientConfig = tuple[str, str, tuple[float, float]]


def get_client() -> DistinctClient:
    """Return this thread's client for the current settings.

    The client is rebuilt when the key, URL or timeout change, so
    ``override_settings`` in tests takes effect at once.
    """
    config = (conf.api_key(), conf.delete_url(), conf.timeout())
    cached: tuple[_ClientConfig, DistinctClient] | None = getattr(
        _local, "client", None
    )
    if cached is not None and cached[0] == config:
        return cached[1]
    if cached is not None:
        cached[1].close()
    client = DistinctClient(api_key=config[0], url=config[1], timeout=config[2])
    _local.client = (config, client)
    return client
