"""
The app's settings, read from the ``DISTINCT`` dict at call time.

Every key has a default in ``DEFAULTS``; nothing is written back onto
``django.conf.settings``, so ``override_settings(DISTINCT={...})`` works in
tests and a deploy only needs the keys it changes.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Credentials and endpoint.
    "API_KEY": None,  # falls back to the DISTINCT_API_KEY environment variable
    "BASE_URL": "https://api.distinct.so",
    # Seconds: one number for both, or (connect, read).
    "TIMEOUT": (3.05, 10.0),
    # How a user becomes an erasure request.  Each *_FIELD is an attribute
    # path on the user ("pk", "email", "profile.phone"); USER_IDENTITY, a
    # callable or its dotted path, replaces all three when set.
    "USER_ID_FIELD": "pk",
    "USER_EMAIL_FIELD": None,  # None: the user model's EMAIL_FIELD
    "USER_PHONE_FIELD": "phone",  # a user without this attribute has no phone
    "USER_IDENTITY": None,
    # The deletion signal handler, and sending right after the commit.
    "ERASE_ON_DELETE": True,
    "SEND_ON_COMMIT": True,
    "SEND_ON_COMMIT_LIMIT": 5,  # sends per transaction; the rest wait for the sweep
    # Retries of transient failures.
    "MAX_ATTEMPTS": 12,
    "BACKOFF_BASE": 60,  # seconds before the first retry; doubles each time
    "BACKOFF_MAX": 6 * 60 * 60,
    # How long a worker's claim on a request lasts before others may take it.
    "CLAIM_TIMEOUT": 5 * 60,
    # Privacy: remove the raw email and phone once Distinct has answered for
    # good, keeping a masked form and a keyed hash (HMAC with HASH_KEY, else
    # a key derived from SECRET_KEY).
    "SCRUB_IDENTIFIERS": True,
    "HASH_KEY": None,
    # Deadlines: None means one calendar month from receipt (GDPR); a number
    # of days otherwise (45 for CCPA).  One extension: two months, or days.
    "DEADLINE_DAYS": None,
    "EXTENSION_DAYS": None,
    "DUE_SOON_DAYS": 7,  # "due soon" in the admin and the command's summary
    # Seconds a new request waits before its first send, during which it can
    # be cancelled.  0 sends at once (after the commit).
    "SEND_DELAY": 0,
    # Finished requests and their evidence are purged after this many days
    # by distinct_erase --purge-evidence.
    "EVIDENCE_RETENTION_DAYS": 730,
    # Where sends after a commit run: None in the deleting process (bounded
    # by SEND_ON_COMMIT_LIMIT), "celery" or "django" (django.tasks) in a
    # task queue, one task per request.  TASK_CONCURRENCY is the sweep
    # task's --concurrency.
    "TASK_BACKEND": None,
    "TASK_CONCURRENCY": 4,
    # Requests the admin re-sends within one web request; the rest are left
    # due for distinct_erase.
    "ADMIN_RESEND_LIMIT": 20,
    # Who may use the REST API: DRF permission classes, or their dotted paths.
    "API_PERMISSION_CLASSES": ["django_distinct.api.IsDistinctOperator"],
}

API_KEY_ENV = "DISTINCT_API_KEY"
DELETE_PATH = "/api/v1/users/delete"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def user_settings() -> dict[str, Any]:
    """Return the project's ``DISTINCT`` dict, or an empty one."""
    value = getattr(settings, "DISTINCT", None)
    return value if isinstance(value, dict) else {}


def get(name: str) -> Any:
    """Return the current value of one setting."""
    if name not in DEFAULTS:
        raise KeyError(f"Unknown django-distinct setting: {name}")
    return user_settings().get(name, DEFAULTS[name])


def is_set(name: str) -> bool:
    """Tell whether the project set ``name`` itself."""
    return name in user_settings()


def api_key() -> str:
    """Return the API key from the settings or the environment, or ``""``.

    Surrounding whitespace is dropped: a key read from a file or a secret
    store often ends with a newline, which no HTTP header may carry.
    """
    value = get("API_KEY") or os.environ.get(API_KEY_ENV, "")
    return value.strip() if isinstance(value, str) else value


def api_key_problem() -> str:
    """Return why the API key cannot be sent as a header, or ``""``."""
    key = api_key()
    if not key:
        return f"no API key is configured: set DISTINCT['API_KEY'] or {API_KEY_ENV}"
    if not isinstance(key, str):
        return "DISTINCT['API_KEY'] must be text"
    if not all(" " <= ch <= "~" for ch in key):
        return "DISTINCT['API_KEY'] holds characters an HTTP header cannot carry"
    return ""


def delete_url() -> str:
    """Return the absolute URL of Distinct's delete-user endpoint."""
    return str(get("BASE_URL")).rstrip("/") + DELETE_PATH


def timeout() -> tuple[float, float]:
    """Return ``(connect, read)`` timeouts in seconds."""
    value = get("TIMEOUT")
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    connect, read = value
    return (float(connect), float(read))


def is_insecure_url(url: str) -> bool:
    """Tell whether ``url`` would carry PII in clear text over a network.

    Plain HTTP is allowed under DEBUG and to loopback addresses (a local
    double); anything else must be HTTPS.
    """
    parts = urlsplit(url)
    return (
        parts.scheme != "https"
        and not settings.DEBUG
        and parts.hostname not in LOOPBACK_HOSTS
    )


def sending_blocked() -> str:
    """Return why nothing may be sent with the current settings, or ``""``."""
    problem = api_key_problem()
    if problem:
        return problem
    if is_insecure_url(str(get("BASE_URL"))):
        return (
            "DISTINCT['BASE_URL'] is not HTTPS: the key and identifiers would "
            "cross the network in clear text"
        )
    return ""
