"""
The only code that speaks HTTP to Distinct.

One ``requests.Session`` per thread and configuration keeps connections
alive between calls.  Retries are the app's own, counted as attempts: the
adapter never retries (urllib3 would not retry a POST anyway, and a hidden
resend would be an uncounted one), and redirects are not followed, since
``requests`` would turn a redirected POST into a GET.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from . import __version__, conf
from .exceptions import (
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
    headers: dict[str, str]
    body: bytes
    elapsed: float  # seconds


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
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
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

    def __repr__(self) -> str:
        # Never the session headers: they hold the key.
        return f"<DistinctClient {self.url}>"

    def delete_user(self, payload: dict[str, str]) -> RawResponse:
        """POST ``payload`` and return the answer, whatever its status.

        Raise ``DistinctTransportError`` when there is no answer to read.
        """
        started = time.monotonic()
        try:
            response = self.session.post(
                self.url,
                json=payload,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
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
        except requests.exceptions.RequestException as exc:
            raise DistinctTransportError(
                f"request failed ({type(exc).__name__})"
            ) from exc

        try:
            body = _read_capped(response)
        except requests.exceptions.RequestException as exc:
            raise DistinctTimeoutError(
                f"answer from Distinct cut off ({type(exc).__name__})"
            ) from exc
        finally:
            response.close()
        return RawResponse(
            status=response.status_code,
            headers=dict(response.headers),
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
    error = DistinctTransportError("connection to Distinct dropped before an answer")
    error.in_doubt = True
    return error


_local = threading.local()


def get_client() -> DistinctClient:
    """Return this thread's client for the current settings.

    The client is rebuilt when the key, URL or timeout change, so
    ``override_settings`` in tests takes effect at once.
    """
    config = (conf.api_key(), conf.delete_url(), conf.timeout())
    cached = getattr(_local, "client", None)
    if cached is not None and cached[0] == config:
        return cached[1]
    if cached is not None:
        cached[1].close()
    client = DistinctClient(api_key=config[0], url=config[1], timeout=config[2])
    _local.client = (config, client)
    return client
