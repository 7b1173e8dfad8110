"""
Errors raised by django-distinct.

    DistinctError
    ├── DistinctTransportError      no usable HTTP answer
    │   ├── DistinctConnectError    never reached Distinct
    │   └── DistinctTimeoutError    sent, answer late: the outcome is in doubt
    └── DistinctConfigurationError  Distinct refused the key, IP or scope

Messages never hold the API key, an email or a phone number.
"""

from __future__ import annotations


class DistinctError(Exception):
    """Base class of every error this app raises about Distinct."""


class DistinctTransportError(DistinctError):
    """Distinct could not be reached, or gave no usable answer."""

    #: True when the request may have reached Distinct before it failed.
    in_doubt = False


class DistinctConnectError(DistinctTransportError):
    """The connection failed before the request was sent."""


class DistinctTimeoutError(DistinctTransportError):
    """The request went out but no answer came in time."""

    in_doubt = True


class DistinctConfigurationError(DistinctError):
    """Distinct rejected this site's credentials or network location.

    Retrying cannot help until someone changes the API key, its scope or the
    IP allowlist, so a sweep stops at the first one.
    """

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
