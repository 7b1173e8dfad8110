"""
Classify what Distinct answered.

The status decides first and the body second: a 502 from a proxy is an
HTML page, and parsing it as Distinct's JSON would turn an outage into a
validation error.  Messages are compared after folding case, whitespace and
a trailing full stop, because the wording is Distinct's and may drift in
small ways; a 200 whose message is unknown is never taken for a success.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MESSAGE_MAX_LENGTH = 500


class Outcome(models.TextChoices):
    """What one attempt came to."""

    UNKNOWN = "unknown", _("Sent; no answer recorded")
    SUCCEEDED = "succeeded", _("Erased")
    NOT_FOUND = "not_found", _("Not found at Distinct")
    REJECTED = "rejected", _("Rejected as invalid")
    CONFIG_ERROR = "config_error", _("Refused: configuration")
    RETRY = "retry", _("Temporary failure")


@dataclass(frozen=True)
class Classification:
    """The outcome of one answer, with what an operator needs to see."""

    outcome: str
    message: str
    http_status: int | None = None
    retry_after: float | None = None  # seconds, when the server asked for it
    in_doubt: bool = False  # the request may have been acted on
    sent: bool = True  # False when nothing went over the network


def fold(message: str) -> str:
    """Return ``message`` lower-cased, with spaces collapsed, no end dot."""
    return re.sub(r"\s+", " ", message).strip().rstrip(".").strip().casefold()


DELETED = fold("User data deleted successfully.")
NOT_FOUND = fold("User not found.")
PERMISSION_SCOPE = fold("Insufficient permission scope for this operation.")
VALIDATION = frozenset(
    fold(m)
    for m in (
        "Either email or phone is required.",
        "User id is required.",
        "Email must be a valid format (e.g. user@example.com).",
        "Phone number must be a valid E.164 format (e.g. +14155552671).",
    )
)


def parse_body(body: bytes) -> dict[str, Any] | None:
    """Return the body as a JSON object, or ``None`` if it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def body_message(data: dict[str, Any] | None) -> str:
    """Return Distinct's ``message``, trimmed to what we store."""
    if data is None:
        return ""
    message = data.get("message")
    if not isinstance(message, str):
        return ""
    return " ".join(message.split())[:MESSAGE_MAX_LENGTH]


def retry_after_seconds(value: str | None) -> float | None:
    """Return a ``Retry-After`` header as seconds from now, if it is valid."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,9}", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    # Aware, whatever USE_TZ says: an HTTP date is always in GMT.
    now = datetime.datetime.now(datetime.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def describe_unexpected(data: dict[str, Any] | None, size: int) -> str:
    """Say what an answer we do not recognise looked like, without its body.

    The status is stored beside the message, so it is not repeated here.
    """
    if data is None:
        return f"a body that is not JSON ({size} bytes)"
    return body_message(data) or "no message"


def classify_response(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> Classification:
    """Classify one HTTP answer from the delete-user endpoint."""
    headers = headers or {}

    if status >= 500 or status in (408, 425, 429):
        data = parse_body(body)
        return Classification(
            Outcome.RETRY,
            body_message(data) or describe_unexpected(data, len(body)),
            status,
            retry_after=retry_after_seconds(headers.get("Retry-After")),
        )

    data = parse_body(body)
    message = body_message(data)
    folded = fold(message)

    if status == 200:
        code = data.get("statusCode", 200) if data else None
        if code == 200 and folded == DELETED:
            return Classification(Outcome.SUCCEEDED, message, status)
        if code == 200 and folded == NOT_FOUND:
            return Classification(Outcome.NOT_FOUND, message, status)
        return Classification(
            Outcome.RETRY,
            "unexpected answer: " + describe_unexpected(data, len(body)),
            status,
        )

    if status == 400:
        if folded == PERMISSION_SCOPE:
            # Documented quirk: HTTP 400 whose body says statusCode 500.  It
            # is the key's scope, not a server fault, so retrying is useless.
            return Classification(Outcome.CONFIG_ERROR, message, status)
        if data is not None and data.get("statusCode") == 500:
            return Classification(Outcome.RETRY, message or "server error", status)
        if folded in VALIDATION or data is not None:
            return Classification(Outcome.REJECTED, message or "no message", status)
        # Not Distinct's JSON: a proxy or firewall in the way, which may
        # pass the same request later.
        return Classification(
            Outcome.RETRY, describe_unexpected(data, len(body)), status
        )

    if status in (401, 403):
        reason = message or describe_unexpected(data, len(body))
        return Classification(Outcome.CONFIG_ERROR, reason, status)

    if 300 <= status < 400 or status in (404, 405, 407):
        # Wrong BASE_URL, or a proxy in the way: nothing a retry would fix.
        if status == 407:
            reason = "a proxy asked for authentication"
        elif status >= 400:
            reason = "no delete-user endpoint at this BASE_URL"
        else:
            reason = "redirected elsewhere (not followed)"
        return Classification(Outcome.CONFIG_ERROR, reason, status)

    if 400 <= status < 500:
        outcome = Outcome.REJECTED if data is not None else Outcome.RETRY
        return Classification(outcome, describe_unexpected(data, len(body)), status)

    return Classification(
        Outcome.RETRY,
        "unexpected answer: " + describe_unexpected(data, len(body)),
        status,
    )


def configuration_hint(status: int | None, message: str) -> str:
    """Say what an operator should change after a refused configuration."""
    if status is None:
        return ""
    if status == 401:
        return gettext("Check DISTINCT['API_KEY']: Distinct does not accept it.")
    if status == 403 and "expired" in fold(message):
        return gettext("Ask Distinct for a new key and update DISTINCT['API_KEY'].")
    if status == 403:
        return gettext(
            "Ask Distinct to allow this server's IP address for the key, or "
            "send from an allowed address."
        )
    if status == 400:
        return gettext("Ask Distinct for a key that may delete users.")
    return gettext(
        "Check DISTINCT['BASE_URL']: give the site root, e.g. https://api.distinct.so."
    )


def refusal_text(status: int | None, reason: str) -> str:
    """Return the sentence operators see when sending is refused or blocked."""
    if status is None:
        return gettext("Erasures cannot be sent: %(reason)s.") % {"reason": reason}
    text = gettext(
        "Distinct refused this site's configuration (HTTP %(status)s: %(reason)s)."
    ) % {"status": status, "reason": reason}
    return f"{text} {configuration_hint(status, reason)}"
