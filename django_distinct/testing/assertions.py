"""Assertions about erasure requests, for sites' own tests."""

from __future__ import annotations

from typing import Any

from django_distinct.identifiers import (
    identifier_hash,
    normalize_email,
    normalize_phone,
)
from django_distinct.models import ErasureRequest


def assert_erasure_requested(
    user_id: Any = None,
    *,
    email: str | None = None,
    phone: Any = None,
    status: str | None = None,
) -> ErasureRequest:
    """Assert exactly one erasure request matches, and return it.

    Identifiers are compared in the form the app sends them, so
    ``phone="(415) 555-2671"`` finds ``+14155552671`` when the project's
    default region is US, and by keyed hash, so finished requests whose
    identifiers were removed are found too.  Failure messages name fields,
    never values of other people's requests.
    """
    rows = ErasureRequest.objects.all()
    wanted = []
    if user_id is not None:
        rows = rows.filter(user_id=str(user_id))
        wanted.append(f"user_id={user_id}")
    if email is not None:
        cleaned = normalize_email(email)[0] or email
        rows = rows.filter(email_hash=identifier_hash("email", cleaned))
        wanted.append("email")
    if phone is not None:
        cleaned = normalize_phone(phone)[0] or str(phone)
        rows = rows.filter(phone_hash=identifier_hash("phone", cleaned))
        wanted.append("phone")
    who = ", ".join(wanted) or "any"

    matching = rows if status is None else rows.filter(status=status)
    found = list(matching[:2])
    if not found:
        others = sorted(set(rows.values_list("status", flat=True)))
        if status is not None and others:
            raise AssertionError(
                f"No erasure request matches {who}, status={status}; "
                f"there is one with status {', '.join(others)}."
            )
        raise AssertionError(f"No erasure request matches {who}.")
    if len(found) > 1:
        raise AssertionError(f"More than one erasure request matches {who}.")
    return found[0]


def assert_no_erasure_requested(user_id: Any) -> None:
    """Assert that no erasure request was recorded for ``user_id``."""
    if ErasureRequest.objects.filter(user_id=str(user_id)).exists():
        raise AssertionError(f"An erasure request exists for user_id={user_id}.")
