"""
The evidence log and the receipts built from it.

Distinct answers synchronously and returns no request id, so the proof of
an erasure is what this app records: when the request came, when it was
sent, what Distinct answered, who held or re-sent it.  Each request's
entries form a chain of keyed hashes, so an entry edited, removed or
reordered after the fact shows up in ``verify()``.  Nothing here holds a raw
email or phone: the person appears only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from . import __version__, bulk, conf
from .identifiers import keyed_hash
from .models import ErasureEvent, ErasureRequest

RECEIPT_VERSION = 1
# Appending retries this often when another writer took the same position.
APPEND_TRIES = 5
# The model's column: a longer actor is cut before it is hashed.
ACTOR_MAX_LENGTH = 150


def entry_hash(
    request_uuid: str,
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """Return the keyed hash of one entry, chained to the one before."""
    content = json.dumps(
        [request_uuid, seq, _instant(at), kind, actor, detail, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return keyed_hash("django_distinct.evidence", content)


def _instant(at: datetime) -> str:
    # Microseconds, in UTC when aware: the form every database gives back.
    if timezone.is_aware(at):
        at = at.astimezone(dt_timezone.utc)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


def record(
    request: ErasureRequest,
    kind: str,
    *,
    actor: str = "",
    detail: dict[str, Any] | None = None,
    using: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry to ``request``'s evidence log."""
    using = using or DEFAULT_DB_ALIAS
    entry = Entry(request, kind, actor, detail or {}, at or timezone.now())
    for attempt in range(APPEND_TRIES):
        try:
            with transaction.atomic(using=using):
                record_many([entry], using=using)
        except IntegrityError:
            # Another writer took the next position: read the tail again.
            if attempt == APPEND_TRIES - 1:
                raise
            continue
        return


@dataclass(frozen=True)
class Entry:
    """One entry to append with ``record_many``."""

    request: ErasureRequest
    kind: str
    actor: str
    detail: dict[str, Any]
    at: datetime

    def chained(self, seq: int, prev_hash: str) -> dict[str, Any]:
        """Return this entry's columns as the ``seq``-th of its chain."""
        actor = self.actor[:ACTOR_MAX_LENGTH]
        return {
            "request_id": self.request.pk,
            "seq": seq,
            "at": self.at,
            "kind": self.kind,
            "actor": actor,
            "detail": self.detail,
            "prev_hash": prev_hash,
            "hash": entry_hash(
                str(self.request.uuid),
                seq,
                self.at,
                self.kind,
                actor,
                self.detail,
                prev_hash,
            ),
        }


def record_many(entries: list[Entry], *, using: str | None = None) -> None:
    """Append entries to the logs of many requests, at most one each.

    Two queries whatever the number: the last entry of every chain, then
    one insert.  Call it inside a transaction; when another writer appends
    to one of these chains meanwhile, the unique (request, seq) constraint
    fails the insert and the caller tries the transaction again.
    """
    if not entries:
        return
    using = using or DEFAULT_DB_ALIAS
    pks = [entry.request.pk for entry in entries]
    if len(set(pks)) != len(pks):
        raise ValueError("record_many() takes at most one entry per request")
    last: dict[int, tuple[int, str]] = {}
    tails = (
        ErasureEvent.objects.using(using)
        .filter(request_id__in=pks)
        .order_by("request_id", "seq")
        .values_list("request_id", "seq", "hash")
    )
    for request_id, seq, hash_ in tails:
        last[request_id] = (seq, hash_)
    rows = []
    for entry in entries:
        seq, prev_hash = last.get(entry.request.pk, (0, ""))
        rows.append(entry.chained(seq + 1, prev_hash))
    bulk.insert_columns(
        ErasureEvent,
        len(rows),
        using,
        each={name: [row[name] for row in rows] for name in rows[0]},
    )


def record_first(
    requests: Sequence[tuple[int, uuid.UUID, dict[str, Any]]],
    *,
    kind: str,
    actor: str = "",
    using: str | None = None,
) -> None:
    """Start the logs of many new requests at once, one entry each.

    ``requests`` holds each request's pk, uuid and the entry's detail.  As
    ``record_many``, without reading tails that new requests cannot have,
    and written column by column: a deletion of many users passes here.
    Rows given the same detail object share its encoding.
    """
    at = timezone.now()
    actor = actor[:ACTOR_MAX_LENGTH]
    bulk.insert_columns(
        ErasureEvent,
        len(requests),
        using or DEFAULT_DB_ALIAS,
        shared={"seq": 1, "at": at, "kind": kind, "actor": actor, "prev_hash": ""},
        each={
            "request_id": [pk for pk, _, _ in requests],
            "detail": [detail for _, _, detail in requests],
            "hash": [
                entry_hash(str(request_uuid), 1, at, kind, actor, detail, "")
                for _, request_uuid, detail in requests
            ],
        },
    )


@dataclass(frozen=True)
class Break:
    """Where a request's chain stops matching its entries."""

    request_pk: int
    request_uuid: str
    seq: int
    reason: str


def verify_request(request: ErasureRequest, events: list[ErasureEvent]) -> Break | None:
    """Recompute ``request``'s chain; return the first break, if any."""
    prev_hash = ""
    for expected_seq, event in enumerate(events, start=1):
        where = (request.pk, str(request.uuid), event.seq)
        if event.seq != expected_seq:
            return Break(*where, f"entry {expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return Break(*where, "does not follow the entry before it")
        computed = entry_hash(
            str(request.uuid),
            event.seq,
            event.at,
            event.kind,
            event.actor,
            event.detail,
            event.prev_hash,
        )
        if not constant_time_compare(computed, event.hash):
            return Break(*where, "content does not match its hash")
        prev_hash = event.hash
    return None


def verify(using: str | None = None) -> tuple[int, list[Break]]:
    """Check every request's chain; return how many were checked, and breaks."""
    using = using or DEFAULT_DB_ALIAS
    breaks = []
    checked = 0
    requests = ErasureRequest.objects.using(using).order_by("pk")
    for request in requests.iterator(chunk_size=500):
        events = list(request.events.using(using).order_by("seq"))
        checked += 1
        found = verify_request(request, events)
        if found is not None:
            breaks.append(found)
    return checked, breaks


def receipt(request: ErasureRequest, using: str | None = None) -> dict[str, Any]:
    """Return the receipt of one request: what was done, and when, for whom.

    The person appears only as a keyed hash; no email or phone is included.
    """
    using = using or DEFAULT_DB_ALIAS
    attempts = list(request.history.using(using).order_by("started_at", "pk"))
    events = list(request.events.using(using).order_by("seq"))
    answered = [a for a in attempts if a.http_status is not None]
    last = answered[-1] if answered else None
    sent = [a for a in attempts if a.outcome != "config_error" or a.http_status]
    broken = verify_request(request, events)
    return {
        "receipt_version": RECEIPT_VERSION,
        "request_id": str(request.uuid),
        "person": request.person_hash,
        "source": request.source,
        "received_at": _iso(request.received_at),
        "due_at": _iso(request.due_at),
        "extension": (
            {"at": _iso(request.extended_at), "reason": request.extension_reason}
            if request.extended_at
            else None
        ),
        "first_sent_at": _iso(sent[0].started_at) if sent else None,
        "completed_at": _iso(request.completed_at),
        "outcome": request.status,
        "failure_reason": request.failure_reason or None,
        "attempts": len(attempts),
        "last_answer": (
            {
                "http_status": last.http_status,
                "message": last.message,
                "response_sha256": last.response_digest or None,
            }
            if last
            else None
        ),
        "hold": (
            {
                "reason": request.hold_reason,
                "set_by": request.hold_set_by,
                "set_at": _iso(request.hold_set_at),
                "until": _iso(request.hold_until),
            }
            if request.hold_set_at
            else None
        ),
        "cancelled": (
            {"at": _iso(request.cancelled_at), "by": request.cancelled_by}
            if request.cancelled_at
            else None
        ),
        "recipient": {"name": "Distinct", "endpoint": conf.delete_url()},
        "issuer": {"app": "django-distinct", "version": __version__},
        "evidence": {
            "entries": len(events),
            "chain_head": events[-1].hash if events else None,
            "chain_intact": broken is None,
        },
    }


def receipt_digest(body: bytes) -> str:
    """Return the SHA-256 of an answer as received."""
    return hashlib.sha256(body).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
