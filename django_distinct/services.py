"""
The erasure workflow: record a request, claim it, send it, record the outcome.

The signal handler, the management command, the admin and the REST API all
come through here; only ``client`` speaks HTTP and only ``outcomes`` reads
Distinct's answers.

Delivery is at least once.  A request is written in the same transaction as
the deletion that caused it, and sent only after that transaction commits.
Before sending, a worker claims the row with a conditional UPDATE (a lease
that expires), so two workers never send the same request at once on any
database; the HTTP call runs with no transaction or row lock held.  A worker
that dies mid-send leaves its lease to expire, and the request is sent
again: Distinct's endpoint is idempotent, so a repeat is harmless.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    OperationalError,
    connections,
    transaction,
)
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.module_loading import import_string

from . import bulk, conf, deadlines, evidence
from . import signals as app_signals
from .client import get_client
from .exceptions import DistinctConfigurationError, DistinctTransportError
from .identifiers import (
    Identity,
    Normalized,
    clean_message,
    derived,
    identifier_hash,
    normalize,
    normalize_email,
    normalize_phone,
)
from .models import ErasureAttempt, ErasureRequest, Source, Status, Trigger
from .outcomes import MESSAGE_MAX_LENGTH, Classification, Outcome, classify_response

logger = logging.getLogger(__name__)

# Tries of a claim that another worker's lock got in the way of.
CLAIM_TRIES = 3
# Rows fetched per query while sweeping: memory stays flat however many wait.
SWEEP_BATCH_SIZE = 200
# However long Retry-After asks for, look again within a day.
RETRY_AFTER_CAP = 24 * 60 * 60

_OUTCOME_STATUS: dict[str, str] = {
    Outcome.SUCCEEDED: Status.SUCCEEDED,
    Outcome.NOT_FOUND: Status.NOT_FOUND,
    Outcome.REJECTED: Status.FAILED,
}


# --------------------------------------------------------------------------
# From a user to an erasure request
# --------------------------------------------------------------------------


def identity_for_user(user: Any) -> Identity:
    """Read the identifiers of ``user`` as the settings map them."""
    return identity_reader()(user)


def identity_reader() -> Callable[[Any], Identity]:
    """Return a function reading a user's identifiers, the settings read once.

    A deletion of many users reads each of them with the same settings.
    """
    custom = conf.get("USER_IDENTITY")
    if custom:
        func = import_string(custom) if isinstance(custom, str) else custom

        def read_custom(user: Any) -> Identity:
            result = func(user)
            if isinstance(result, Identity):
                return result
            return Identity(
                id=result.get("id"),
                email=result.get("email"),
                phone=result.get("phone"),
            )

        return read_custom

    id_field = conf.get("USER_ID_FIELD")
    email_field = conf.get("USER_EMAIL_FIELD")
    phone_field = conf.get("USER_PHONE_FIELD")

    def read_fields(user: Any) -> Identity:
        email = email_field
        if not email:
            get_name = getattr(user, "get_email_field_name", None)
            email = get_name() if get_name else "email"
        return Identity(
            id=read_path(user, id_field),
            email=read_path(user, email),
            phone=read_path(user, phone_field) if phone_field else None,
        )

    return read_fields


def read_path(obj: Any, path: str) -> Any:
    """Follow a dotted attribute path; a missing link gives ``None``."""
    for name in path.split("."):
        try:
            obj = getattr(obj, name)
        except (AttributeError, ObjectDoesNotExist):
            return None
        if obj is None:
            return None
    return obj() if callable(obj) else obj


def request_erasure(
    identity: Identity,
    *,
    source: str,
    using: str | None = None,
    send_on_commit: bool | None = None,
    received_at: datetime | None = None,
    actor: str = "",
) -> ErasureRequest:
    """Record that ``identity`` must be erased, and queue the send.

    Call it inside the transaction that removes the person: the row commits
    or rolls back with it.  Identifiers that cannot be cleaned are dropped;
    with none left the request is recorded as failed and never sent.

    While a request for the same person is still pending, no second one is
    made: the open request is returned, with ``was_duplicate`` set on it and
    the duplicate noted in its evidence log.
    """
    (request,) = request_erasures(
        [identity],
        source=source,
        using=using,
        send_on_commit=send_on_commit,
        received_at=received_at,
        actor=actor,
    )
    return request


def request_erasures(
    identities: list[Identity],
    *,
    source: str,
    using: str | None = None,
    send_on_commit: bool | None = None,
    received_at: datetime | None = None,
    actor: str = "",
) -> list[ErasureRequest]:
    """Record many erasures with a few queries, as ``request_erasure`` does one.

    Return the requests in the order of ``identities``: new ones, or the
    open request of a person who already has one (``was_duplicate``).
    """
    using = using or DEFAULT_DB_ALIAS
    recorded = record_erasures(
        identities,
        source=source,
        using=using,
        send_on_commit=send_on_commit,
        received_at=received_at,
        actor=actor,
    )
    new = ErasureRequest.objects.using(using).in_bulk(
        [item for item in recorded if isinstance(item, int)]
    )
    for request in new.values():
        request.was_duplicate = False
    return [new[item] if isinstance(item, int) else item for item in recorded]


def record_erasures(
    identities: list[Identity],
    *,
    source: str,
    using: str | None = None,
    send_on_commit: bool | None = None,
    received_at: datetime | None = None,
    actor: str = "",
) -> list[int | ErasureRequest]:
    """Do what ``request_erasures`` does, giving back the pks of new requests.

    Each item is the pk of the request made for that identity, or the open
    request of a person who already had one (``was_duplicate`` set).  The
    new rows are written column by column, with no model instance built:
    this is the path of a site's own deletions, where thousands of users
    may go in one ``delete()``.
    """
    using = using or DEFAULT_DB_ALIAS
    normalized = [normalize(identity) for identity in identities]
    kept = [derived(n.id, n.email, n.phone) for n in normalized]
    keys = [
        fields.get("person_hash", "") if n.sendable else ""
        for n, fields in zip(normalized, kept, strict=True)
    ]
    wanted = {key for key in keys if key}
    open_requests: dict[str, ErasureRequest] = {}
    if wanted:
        rows = ErasureRequest.objects.using(using).filter(
            status=Status.PENDING, person_hash__in=wanted
        )
        for request in rows.order_by("-pk"):
            open_requests[request.person_hash] = request

    delay = conf.get("SEND_DELAY")
    # One instant for the whole batch: the rows were received together, and
    # columns that share a value are prepared once (see bulk.insert_columns).
    now = timezone.now()
    received = received_at or now
    due = deadlines.due_at(received)
    new = _NewRequests()
    # Index into new.rows of each identity's request, or its open request.
    placed: list[int | ErasureRequest] = []
    in_batch: dict[str, int] = {}
    for item, fields, key in zip(normalized, kept, keys, strict=True):
        if key in in_batch:
            placed.append(in_batch[key])  # the same person twice in this batch
            continue
        existing = open_requests.get(key)
        if existing is not None:
            evidence.record(
                existing,
                "duplicate_received",
                actor=actor,
                detail={"source": source},
                using=using,
            )
            existing.was_duplicate = True
            placed.append(existing)
            continue
        index = new.add(item, fields, source, due)
        if key:
            in_batch[key] = index
        placed.append(index)

    if new.rows:
        pks = new.insert(
            using,
            received_at=received,
            due_at=due,
            next_attempt_at=now + timedelta(seconds=delay) if delay else now,
            created_at=now,
        )
        evidence.record_first(
            [(pk, row.uuid, row.detail) for pk, row in zip(pks, new.rows, strict=True)],
            kind="received",
            actor=actor,
            using=using,
        )
        for row in new.rows:
            row.log()

        if send_on_commit is None:
            send_on_commit = conf.get("SEND_ON_COMMIT") and not delay
        if send_on_commit:
            for pk, row in zip(pks, new.rows, strict=True):
                if row.sendable:
                    queue_after_commit(pk, using=using)
    else:
        pks = []
    return [pks[item] if isinstance(item, int) else item for item in placed]


@dataclass
class _NewRow:
    """What differs between the requests of one batch, and its first entry."""

    uuid: uuid.UUID
    normalized: Normalized
    derived: dict[str, str]
    failure_reason: str
    detail: dict[str, Any]

    @property
    def sendable(self) -> bool:
        return not self.failure_reason

    def log(self) -> None:
        user_id = self.normalized.id or "(no id)"
        if not self.sendable:
            logger.warning(
                "Erasure of user %s cannot be sent: %s", user_id, self.failure_reason
            )
        elif self.normalized.problems:
            logger.warning(
                "Erasure of user %s will be sent without some identifiers: %s",
                user_id,
                "; ".join(self.normalized.problems),
            )


_DERIVED_FIELDS = (
    "person_hash",
    "masked_email",
    "email_hash",
    "masked_phone",
    "phone_hash",
)


class _NewRequests:
    """The new requests of one batch, written as columns (see bulk)."""

    def __init__(self) -> None:
        self.rows: list[_NewRow] = []
        # Rows with the same identifiers and problems share one detail
        # object, which bulk.insert_columns then encodes once.
        self._details: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(
        self, item: Normalized, derived: dict[str, str], source: str, due: Any
    ) -> int:
        failure_reason = (
            ""
            if item.sendable
            else _truncate("nothing valid to send: " + "; ".join(item.problems))
        )
        names = tuple(name for name in ("email", "phone") if getattr(item, name))
        shape = (names, item.problems, source)
        detail = self._details.get(shape)
        if detail is None:
            detail = {
                "source": source,
                "identifiers": list(names),
                "problems": list(item.problems),
                "due_at": due.isoformat(timespec="seconds") if due else None,
            }
            self._details[shape] = detail
        self.rows.append(_NewRow(uuid.uuid4(), item, derived, failure_reason, detail))
        return len(self.rows) - 1

    def insert(self, using: str, **shared: Any) -> list[int]:
        """INSERT the rows; return their pks in order."""
        rows = self.rows
        statuses = [Status.PENDING if row.sendable else Status.FAILED for row in rows]
        completed = shared["created_at"]
        bulk.insert_columns(
            ErasureRequest,
            len(rows),
            using,
            shared={**shared, "updated_at": shared["created_at"]},
            each={
                "uuid": [row.uuid for row in rows],
                "user_id": [row.normalized.id for row in rows],
                "email": [row.normalized.email for row in rows],
                "phone": [row.normalized.phone for row in rows],
                **{
                    name: [row.derived.get(name, "") for row in rows]
                    for name in _DERIVED_FIELDS
                },
                "identifier_problems": [
                    "; ".join(row.normalized.problems)[:500] for row in rows
                ],
                "status": statuses,
                "source": [row.detail["source"] for row in rows],
                "failure_reason": [row.failure_reason for row in rows],
                "completed_at": [None if row.sendable else completed for row in rows],
            },
        )
        return bulk.ids_by_uuid(ErasureRequest, [row.uuid for row in rows], using)


# --------------------------------------------------------------------------
# Sending right after the deletion commits
# --------------------------------------------------------------------------


class _AfterCommitBatch:
    """The requests one transaction recorded, sent once it commits.

    One batch per transaction keeps the web request that deleted users to a
    bounded number of HTTP calls (SEND_ON_COMMIT_LIMIT); the rest stay
    pending for ``distinct_erase``.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self.pks: list[int] = []

    def __call__(self) -> None:
        connection = transaction.get_connection(self.using)
        if getattr(connection, _BATCH_ATTR, None) is self:
            delattr(connection, _BATCH_ATTR)
        if conf.get("TASK_BACKEND"):
            # Imported here: it imports the task framework, which a site
            # without one should not pay for at start-up.
            from . import tasks

            try:
                tasks.enqueue(self.pks, self.using)
            except Exception:
                # As below: the deletion has committed; the sweep has them.
                logger.exception("Queueing erasures after commit failed")
            return
        limit = conf.get("SEND_ON_COMMIT_LIMIT")
        for pk in self.pks[:limit]:
            try:
                result = send(pk, trigger=Trigger.ON_COMMIT, using=self.using)
            except Exception:
                # The deletion has committed; failing the caller's request now
                # would only hide that it succeeded.  The row stays pending.
                logger.exception("Sending erasure #%s after commit failed", pk)
                return
            if result is not None and result.outcome in (
                Outcome.RETRY,
                Outcome.CONFIG_ERROR,
            ):
                # Distinct is struggling or refusing us: leave the rest to
                # the sweep rather than make this request wait on each one.
                return


_BATCH_ATTR = "_django_distinct_batch"


def queue_after_commit(pk: int, *, using: str) -> None:
    """Send request ``pk`` once the current transaction on ``using`` commits."""
    connection = transaction.get_connection(using)
    batch = getattr(connection, _BATCH_ATTR, None)
    # A rolled-back transaction discards its callbacks but cannot tell us;
    # a batch that is no longer among them belongs to a finished transaction.
    # (``run_on_commit`` is the list Django keeps of them: (savepoints, func,
    # robust) for each.)
    if batch is not None and any(
        entry[1] is batch for entry in connection.run_on_commit
    ):
        batch.pks.append(pk)
        return
    batch = _AfterCommitBatch(using)
    batch.pks.append(pk)
    setattr(connection, _BATCH_ATTR, batch)
    # Outside a transaction on_commit runs the batch at once: hence the pk
    # goes in first.
    transaction.on_commit(batch, using=using, robust=True)


# --------------------------------------------------------------------------
# Sending one request
# --------------------------------------------------------------------------


@dataclass
class SendResult:
    """What became of one request after one send."""

    request: ErasureRequest
    outcome: str
    message: str
    http_status: int | None = None
    sent: bool = True  # False when no request went out

    @property
    def status(self) -> str:
        return self.request.status


@dataclass(eq=False)
class _Job:
    """One claimed request on its way through a send."""

    request: ErasureRequest
    token: uuid.UUID
    normalized: Normalized
    attempt: ErasureAttempt | None = None
    classification: Classification | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    owned: bool = False
    noted: bool = False  # the attempt was saved before the call
    unsent: bool = False  # handed back by a sender: the sweep had stopped

    @property
    def sendable(self) -> bool:
        return self.normalized.sendable


def claim(
    pk: int, *, using: str | None = None, only_due: bool = True
) -> uuid.UUID | None:
    """Take request ``pk`` for sending; return the claim token, or ``None``."""
    jobs = _claim([pk], using=using or DEFAULT_DB_ALIAS, only_due=only_due)
    return jobs[0].token if jobs else None


def _claim(pks: list[int], *, using: str, only_due: bool = True) -> list[_Job]:
    """Take those of ``pks`` that are free for sending, with one shared token.

    The conditional UPDATE succeeds for at most one caller per row, on every
    database, so the rows carrying our token afterwards are ours alone.
    Return them in the order of their ids.
    """
    now = timezone.now()
    token = uuid.uuid4()
    rows = ErasureRequest.objects.using(using).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now),
        Q(hold_set_at__isnull=True) | Q(hold_until__lte=now),
        pk__in=pks,
        status=Status.PENDING,
    )
    if only_due:
        rows = rows.filter(next_attempt_at__lte=now)
    lease = timedelta(seconds=conf.get("CLAIM_TIMEOUT"))
    for attempt in range(CLAIM_TRIES):
        try:
            updated = rows.update(
                claim_token=token, claimed_until=now + lease, updated_at=now
            )
        except OperationalError:
            # A deadlock or lock wait with another worker (InnoDB reports
            # them here): nothing was claimed, so trying again is safe, and
            # giving up only leaves the requests for the next sweep.
            if attempt == CLAIM_TRIES - 1:
                logger.warning(
                    "Could not claim %s erasure(s) from #%s; left for later",
                    len(pks),
                    pks[0],
                )
                return []
            time.sleep(random.uniform(0.01, 0.05))
            continue
        if not updated:
            return []
        claimed = ErasureRequest.objects.using(using).filter(claim_token=token)
        return [
            _Job(
                request,
                token,
                normalize(Identity(request.user_id, request.email, request.phone)),
            )
            for request in claimed.order_by("pk")
        ]
    return []


def _unstart(jobs: list[_Job], using: str) -> None:
    """Give back claimed requests that were never sent.

    An attempt noted for one of them is removed: it was written in case the
    call went out, and it did not.
    """
    noted = [job.attempt.pk for job in jobs if job.noted and job.attempt is not None]
    with transaction.atomic(using=using):
        if noted:
            ErasureAttempt.objects.using(using).filter(pk__in=noted).delete()
        for token in {job.token for job in jobs}:
            ErasureRequest.objects.using(using).filter(
                pk__in=[job.request.pk for job in jobs if job.token == token],
                claim_token=token,
            ).update(claim_token=None, claimed_until=None)
    for job in jobs:
        job.noted = False
        job.attempt = None


def send(
    pk: int,
    *,
    trigger: str,
    actor: str = "",
    using: str | None = None,
    only_due: bool = True,
) -> SendResult | None:
    """Claim request ``pk``, send it and record the outcome.

    Return ``None`` when the request is not pending, not yet due (unless
    ``only_due`` is false), or claimed by another worker.
    """
    using = using or DEFAULT_DB_ALIAS
    with database_guard(using):
        jobs = _claim([pk], using=using, only_due=only_due)
        if not jobs:
            return None
        _start(jobs, trigger=trigger, actor=actor, using=using)
    (job,) = jobs
    if job.sendable and job.classification is None:
        _transmit(job)
    with database_guard(using):
        (result,) = _finish(jobs, using)
    if job.owned:
        _announce(result)
    return result


def _start(jobs: list[_Job], *, trigger: str, actor: str, using: str) -> list[_Job]:
    """Get claimed requests ready to go out, and note each send beforehand.

    The attempt is written before the call, so that a process dying before
    the outcome is recorded still leaves a trace of the send whose answer
    was lost.  Requests that cannot or must not be sent get their
    classification here, and no attempt goes out for them; when the
    settings block sending, one request says so for all, and the others
    are returned untouched.
    """
    blocked = conf.sending_blocked()
    started_at = timezone.now()
    going: list[_Job] = []
    held: list[_Job] = []
    refused = False
    for job in jobs:
        if not job.sendable:
            continue
        if blocked and refused:
            held.append(job)
            continue
        job.attempt = ErasureAttempt(
            request=job.request,
            started_at=started_at,
            duration_ms=0,
            outcome=Outcome.UNKNOWN,
            in_doubt=True,
            trigger=trigger,
            actor=actor[:150],
        )
        if blocked:
            # Distinct would answer 401 without a key, and plain HTTP would
            # expose the identifiers on the way: better not to send at all.
            job.classification = Classification(
                Outcome.CONFIG_ERROR, blocked, sent=False
            )
            refused = True
        else:
            going.append(job)
    attempts = [job.attempt for job in going if job.attempt is not None]
    if attempts:
        # All or none: an attempt left by a failed batch would say that a
        # request may have gone out when it never did.
        with transaction.atomic(using=using):
            if connections[using].features.can_return_rows_from_bulk_insert:
                bulk.insert(attempts, using)
            else:
                for attempt in attempts:
                    attempt.save(using=using)
        for job in going:
            job.noted = True
    return held


def _transmit(job: _Job) -> None:
    """Send one started job and keep what came back on it.

    Nothing here touches the database, so any number of threads may run it.
    """
    assert job.attempt is not None
    # Noted when it was queued; this is when it goes out.
    job.attempt.started_at = timezone.now()
    payload = job.normalized.payload()
    classification, elapsed, digest = _post(payload, str(job.request.uuid))
    job.attempt.response_digest = digest
    job.attempt.duration_ms = int(elapsed * 1000)
    job.classification = replace(
        classification, message=clean_message(classification.message, payload)
    )


def _announce(result: SendResult) -> None:
    """Send the app's own signal for a request that reached an outcome."""
    signals: dict[str, Signal] = {
        Status.SUCCEEDED: app_signals.erasure_succeeded,
        Status.NOT_FOUND: app_signals.erasure_not_found,
        Status.FAILED: app_signals.erasure_failed,
    }
    signal = signals.get(result.status)
    if signal is not None:
        signal.send(sender=ErasureRequest, request=result.request, result=result)


# Seconds to wait before trying again to record outcomes; a locked SQLite
# database or a failover is usually over within them.
RECORD_RETRY_DELAYS = (0.25, 1.0, 3.0)


def _finish(
    jobs: list[_Job], using: str, *, delays: tuple[float, ...] | None = None
) -> list[SendResult]:
    """Record the outcomes of ``jobs`` together and return them.

    The answers are already in hand and cannot be asked for again without a
    second send, so a database error here is retried, after each of
    ``delays`` (``RECORD_RETRY_DELAYS`` by default), before giving up.
    """
    now = timezone.now()
    for job in jobs:
        if job.sendable:
            assert job.classification is not None and job.attempt is not None
            job.attempt.outcome = job.classification.outcome
            job.attempt.http_status = job.classification.http_status
            job.attempt.message = job.classification.message
            job.attempt.in_doubt = job.classification.in_doubt
            job.changes = _changes_for(job.request, job.classification, now)
        else:
            job.changes = _unsendable_changes(job, now)

    if delays is None:
        delays = RECORD_RETRY_DELAYS
    for delay in (*delays, None):
        try:
            with transaction.atomic(using=using):
                _write_outcomes(jobs, using)
            break
        except DatabaseError:
            if delay is None:
                raise
            logger.warning(
                "Could not record the outcome of %s erasure(s) from #%s; "
                "trying again in %s s",
                len(jobs),
                jobs[0].request.pk,
                delay,
                exc_info=True,
            )
            time.sleep(delay)

    results = []
    for job in jobs:
        request = job.request
        if not job.owned:
            # Our lease ran out mid-send and another worker took the request;
            # it will record its own outcome.  The attempt is still history.
            logger.warning(
                "Erasure #%s: claim expired while sending; outcome %s kept "
                "only in the attempt history",
                request.pk,
                job.classification.outcome if job.classification else "none",
            )
        for name, value in job.changes.items():
            setattr(request, name, value)
        request.claim_token = request.claimed_until = None
        if job.classification is None:
            logger.warning(
                "Erasure #%s cannot be sent: %s", request.pk, request.failure_reason
            )
            results.append(
                SendResult(
                    request, Outcome.REJECTED, request.failure_reason, sent=False
                )
            )
            continue
        _log_outcome(request, job.classification)
        results.append(
            SendResult(
                request,
                job.classification.outcome,
                job.classification.message,
                job.classification.http_status,
                sent=job.classification.sent,
            )
        )
    return results


# What an attempt learns from Distinct's answer.
_ATTEMPT_OUTCOME_FIELDS = (
    "started_at",
    "outcome",
    "http_status",
    "message",
    "in_doubt",
    "duration_ms",
    "response_digest",
)


def _write_outcomes(jobs: list[_Job], using: str) -> None:
    """Save the attempts, their evidence and the requests' new states.

    Runs in one transaction, which starts by writing to the request rows:
    that takes their locks before anything reads them (SQLite would
    otherwise have to upgrade a read lock, which two writers cannot both
    do), and before the inserts that reference them (which take shared
    locks on them in InnoDB, so a concurrent claim could deadlock us).
    """
    requests = ErasureRequest.objects.using(using)
    pks = [job.request.pk for job in jobs]
    mine = requests.filter(pk__in=pks, claim_token__in={job.token for job in jobs})
    mine.update(updated_at=timezone.now())
    holders = dict(mine.values_list("pk", "claim_token"))
    groups: dict[tuple[Any, ...], list[int]] = {}
    for job in jobs:
        job.owned = holders.get(job.request.pk) == job.token
        if job.owned:
            key = tuple(sorted(job.changes.items()))
            groups.setdefault(key, []).append(job.request.pk)
    # Requests that came to the same outcome change the same way: one
    # UPDATE each for the group, not one per request.
    for key, group in groups.items():
        requests.filter(pk__in=group).update(
            claim_token=None, claimed_until=None, **dict(key)
        )

    noted = [job.attempt for job in jobs if job.attempt and job.noted]
    if noted:
        bulk.update_each(noted, _ATTEMPT_OUTCOME_FIELDS, using)
    new = [job.attempt for job in jobs if job.attempt and not job.noted]
    for attempt in new:
        attempt.pk = None  # a rolled-back try may have given it one
    if new:
        ErasureAttempt.objects.using(using).bulk_create(new)
    entries = []
    for job in jobs:
        if job.attempt is None:
            continue
        attempt = job.attempt
        detail = {
            "trigger": attempt.trigger,
            "outcome": attempt.outcome,
            "http_status": attempt.http_status,
            "message": attempt.message,
            "in_doubt": attempt.in_doubt,
            "duration_ms": attempt.duration_ms,
            "response_sha256": attempt.response_digest,
            "status": job.changes.get("status", job.request.status)
            if job.owned
            else job.request.status,
            "identifiers_removed": job.owned and "scrubbed_at" in job.changes,
        }
        entries.append(
            evidence.Entry(
                job.request, "attempt", attempt.actor, detail, attempt.started_at
            )
        )
    evidence.record_many(entries, using=using)


def _post(
    payload: dict[str, str], request_id: str
) -> tuple[Classification, float, str]:
    """Send one payload.

    Return its classification, the seconds it took, and the SHA-256 of the
    answer as received (``""`` when there was none).
    """
    client = get_client()
    started = time.monotonic()
    try:
        raw = client.delete_user(payload, request_id=request_id)
    except DistinctTransportError as exc:
        return (
            Classification(Outcome.RETRY, str(exc), None, in_doubt=exc.in_doubt),
            time.monotonic() - started,
            "",
        )
    except DistinctConfigurationError as exc:
        return Classification(Outcome.CONFIG_ERROR, str(exc), sent=False), 0.0, ""
    except Exception as exc:
        # Whatever went wrong, the request may have gone out: record it as in
        # doubt and retry, rather than leave the row claimed with no trace.
        logger.exception("Unexpected error sending an erasure to Distinct")
        return (
            Classification(
                Outcome.RETRY,
                f"unexpected error ({type(exc).__name__})",
                None,
                in_doubt=True,
            ),
            time.monotonic() - started,
            "",
        )
    classification = classify_response(raw.status, raw.body, raw.headers)
    return classification, raw.elapsed, evidence.receipt_digest(raw.body)


def _changes_for(
    request: ErasureRequest, result: Classification, now: datetime
) -> dict[str, Any]:
    """Return the fields of ``request`` that ``result`` changes at ``now``."""
    changes: dict[str, Any] = {
        "last_http_status": result.http_status,
        "last_message": _truncate(result.message),
        "updated_at": now,
    }
    if result.outcome == Outcome.CONFIG_ERROR:
        # Not the request's fault: it keeps its place and its attempts.
        return changes

    attempts = request.attempts + 1
    changes["attempts"] = attempts
    status = _OUTCOME_STATUS.get(result.outcome)
    if status is not None:
        changes["status"] = status
        changes["completed_at"] = now
        if status == Status.FAILED:
            changes["failure_reason"] = _truncate(
                f"Distinct rejected the request: {_with_status(result)}"
            )
        elif conf.get("SCRUB_IDENTIFIERS"):
            # Distinct has answered for good: nothing left to send them for.
            changes.update(email="", phone="", scrubbed_at=now)
        return changes

    if attempts >= conf.get("MAX_ATTEMPTS"):
        changes["status"] = Status.FAILED
        changes["completed_at"] = now
        changes["failure_reason"] = _truncate(
            f"gave up after {attempts} attempts: {_with_status(result)}"
        )
        return changes

    delay = backoff_delay(attempts, result.retry_after)
    changes["next_attempt_at"] = now + timedelta(seconds=delay)
    return changes


def _with_status(result: Classification) -> str:
    if result.http_status is None:
        return result.message
    return f"HTTP {result.http_status}: {result.message}"


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Return seconds to wait after the ``attempts``-th failed try.

    Exponential from BACKOFF_BASE, capped at BACKOFF_MAX, with the upper
    half jittered so that requests failed together do not retry together;
    a server's Retry-After is a floor.
    """
    base = float(conf.get("BACKOFF_BASE"))
    ceiling = float(conf.get("BACKOFF_MAX"))
    # The exponent is capped so a large MAX_ATTEMPTS cannot overflow a float.
    delay: float = min(ceiling, base * 2 ** min(attempts - 1, 64))
    delay = delay / 2 + random.uniform(0, delay / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


def _unsendable_changes(job: _Job, now: datetime) -> dict[str, Any]:
    problems = job.request.identifier_problems or "; ".join(job.normalized.problems)
    return {
        "status": Status.FAILED,
        "failure_reason": _truncate(f"nothing valid to send: {problems}"),
        "completed_at": now,
        "updated_at": now,
    }


def _log_outcome(request: ErasureRequest, result: Classification) -> None:
    who = (request.pk, request.user_id)
    if result.outcome == Outcome.SUCCEEDED:
        logger.info("Erasure #%s of user %s: erased at Distinct", *who)
    elif result.outcome == Outcome.NOT_FOUND:
        logger.info("Erasure #%s of user %s: Distinct has no such user", *who)
    elif result.outcome == Outcome.CONFIG_ERROR and result.http_status is None:
        logger.error("Erasures cannot be sent: %s", result.message)
    elif result.outcome == Outcome.CONFIG_ERROR:
        logger.error(
            "Distinct refused this site's configuration (HTTP %s): %s",
            result.http_status,
            result.message,
        )
    elif request.status == Status.FAILED:
        logger.error("Erasure #%s of user %s failed: %s", *who, request.failure_reason)
    else:
        logger.warning(
            "Erasure #%s of user %s not done (%s); attempt %s, next at %s",
            *who,
            result.message,
            request.attempts,
            request.next_attempt_at.isoformat(timespec="seconds"),
        )


def _truncate(text: str) -> str:
    return (
        text
        if len(text) <= MESSAGE_MAX_LENGTH
        else text[: MESSAGE_MAX_LENGTH - 1] + "…"
    )


# --------------------------------------------------------------------------
# Sweeping
# --------------------------------------------------------------------------


@dataclass
class SweepReport:
    """What a sweep or a re-send came to, and why it stopped early if it did.

    ``sent`` counts requests that got an answer, or at least went out:
    succeeded, not found, failed for good, or left to retry.  A refusal of
    the site's configuration stops the run and is reported apart.
    """

    succeeded: int = 0
    not_found: int = 0
    failed: int = 0  # sent, and failed for good (rejected, or out of attempts)
    retrying: int = 0  # sent, failed for now, due again later
    unsendable: int = 0  # nothing valid left to send: failed with no request
    skipped: int = 0  # taken by another worker meanwhile
    errors: int = 0  # rows a sweep could not process (see the log)
    paused: str = ""  # why sending stopped: Distinct's reason, or ours
    paused_status: int | None = None
    # Re-sends only.
    queued: int = 0  # left pending, due now, for distinct_erase
    already_final: int = 0  # succeeded or not found: not sent again
    not_attempted: int = 0  # left pending when a refusal stopped the batch
    failures: list[tuple[int, str]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.succeeded + self.not_found + self.failed + self.retrying

    @property
    def processed(self) -> int:
        return self.sent + self.unsendable + (1 if self.paused else 0)

    def add(self, result: SendResult) -> None:
        if result.outcome == Outcome.CONFIG_ERROR:
            self.paused = result.message
            self.paused_status = result.http_status
        elif not result.sent:
            self.unsendable += 1
            self.failures.append((result.request.pk, result.request.failure_reason))
        elif result.status == Status.SUCCEEDED:
            self.succeeded += 1
        elif result.status == Status.NOT_FOUND:
            self.not_found += 1
        elif result.status == Status.FAILED:
            self.failed += 1
            self.failures.append((result.request.pk, result.request.failure_reason))
        else:
            self.retrying += 1


def due(using: str | None = None) -> Any:
    """Return the pending requests that are due and not claimed."""
    now = timezone.now()
    return ErasureRequest.objects.using(using or DEFAULT_DB_ALIAS).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now),
        Q(hold_set_at__isnull=True) | Q(hold_until__lte=now),
        status=Status.PENDING,
        next_attempt_at__lte=now,
    )


def sweep(
    *,
    limit: int | None = None,
    using: str | None = None,
    on_result: Callable[[SendResult], None] | None = None,
    concurrency: int = 1,
    stop: threading.Event | None = None,
) -> SweepReport:
    """Send every due request, at most ``limit``, ``concurrency`` at a time.

    Due requests are read and claimed a few at a time, so memory does not
    grow with how many wait.  Stop at the first refusal of the
    configuration (401, 403, permission scope): every other request would
    be refused the same way.  Setting ``stop`` ends the sweep after the
    requests in flight.
    """
    return _Sweep(
        using=using or DEFAULT_DB_ALIAS,
        width=max(1, concurrency),
        limit=limit,
        stop=stop or threading.Event(),
        on_result=on_result,
    ).run()


class _Sweep:
    """One sweep: this thread reads the database, K threads talk HTTP.

    Sending threads only make HTTP calls; every query is made here, and
    several at once.  A claim takes a few requests with one UPDATE, their
    attempts are noted with one INSERT, and they queue for the senders;
    the outcomes that came back meanwhile are recorded in one transaction.
    Several requests per sender are started and queued (as many as the
    claim lease allows, see ``_queue_depth``), so that the senders never
    wait for this thread, and this thread records the answers of many
    requests per transaction: under one interpreter lock, each statement
    it saves is time the senders get.  At most ``width`` requests are on
    the wire at once.

    An interrupted or paused sweep sends nothing more: the requests that
    were queued are given back, and the attempts noted for them removed,
    since they never went out.
    """

    def __init__(
        self,
        *,
        using: str,
        width: int,
        limit: int | None,
        stop: threading.Event,
        on_result: Callable[[SendResult], None] | None,
    ) -> None:
        self.using = using
        self.width = width
        self.limit = limit
        self.stop = stop
        self.on_result = on_result
        self.queued = _queue_depth()
        self.report = SweepReport()
        self.taken = 0  # requests claimed, or found claimed by another worker
        self.waiting: deque[_Job] = deque()  # claimed, not yet started
        self.in_flight = 0  # started: queued for a sender, or being sent
        self.outbox: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.inbox: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.closing = False
        # Set by the sender that met a refusal of the configuration, so that
        # the requests queued behind it stay unsent.
        self.refused = threading.Event()
        self.due = _due_pks(using, self.halted)

    def halted(self) -> bool:
        return (
            self.closing
            or self.refused.is_set()
            or self.stop.is_set()
            or bool(self.report.paused)
        )

    def run(self) -> SweepReport:
        senders = [
            threading.Thread(
                target=self._sender, name=f"distinct-sweep-{n}", daemon=True
            )
            for n in range(self.width)
        ]
        for sender in senders:
            sender.start()
        try:
            while True:
                if not self.halted():
                    self._dispatch()
                if not self.in_flight:
                    break
                done = self._collect()
                self.in_flight -= len(done)
                unsent = [job for job in done if job.unsent]
                if unsent:
                    self._give_back(unsent)
                self._record([job for job in done if not job.unsent])
        finally:
            # Whatever is still queued comes back unsent, and is given back.
            self.closing = True
            for _ in senders:
                self.outbox.put(None)
            for sender in senders:
                sender.join()
            left: list[_Job] = []
            while True:
                try:
                    left.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            self._give_back([job for job in left if job.unsent] + list(self.waiting))
            # Answers that came back after an error here: record them if we can.
            self._record([job for job in left if not job.unsent])
        return self.report

    def _collect(self) -> list[_Job]:
        """Wait for answers: the first, then more for a moment.

        Up to two per sender are recorded together; the queue holds more
        than that, so the senders stay busy meanwhile.
        """
        done = [self.inbox.get()]
        wanted = min(self.in_flight, COLLECTED_PER_SENDER * self.width)
        until = time.monotonic() + COLLECT_WAIT
        while len(done) < wanted:
            left = until - time.monotonic()
            try:
                done.append(
                    self.inbox.get(timeout=left)
                    if left > 0
                    else self.inbox.get_nowait()
                )
            except queue.Empty:
                break
        return done

    def _sender(self) -> None:
        while (job := self.outbox.get()) is not None:
            if self.halted():
                job.unsent = True
                self.inbox.put(job)
                continue
            try:
                _transmit(job)
            except Exception as exc:
                # _post answers for the network; this is our own bug.  The
                # request may have gone out: in doubt, and retried.
                logger.exception("Erasure #%s could not be sent", job.request.pk)
                job.classification = Classification(
                    Outcome.RETRY,
                    f"unexpected error ({type(exc).__name__})",
                    None,
                    in_doubt=True,
                )
            if (
                job.classification is not None
                and job.classification.outcome == Outcome.CONFIG_ERROR
            ):
                self.refused.set()
            self.inbox.put(job)

    def _dispatch(self) -> None:
        """Claim and start enough requests to keep the senders' queue full."""
        room = (1 + self.queued) * self.width - self.in_flight
        if room <= 0:
            return
        with database_guard(self.using):
            while len(self.waiting) < room and self._claim_more(
                room - len(self.waiting)
            ):
                pass
            jobs = [self.waiting.popleft() for _ in range(min(room, len(self.waiting)))]
            if not jobs:
                return
            try:
                held = _start(jobs, trigger=Trigger.SWEEP, actor="", using=self.using)
            except DatabaseError:
                # Nothing went out and no attempt was noted: give the claims
                # back rather than have a later sweep wait for them to lapse.
                logger.exception("Could not start sending %s erasure(s)", len(jobs))
                self.report.errors += len(jobs)
                self._give_back(jobs)
                return
        self.waiting.extendleft(reversed(held))
        ready = [job for job in jobs if job not in held]
        for job in ready:
            if job.noted:
                self.outbox.put(job)
                self.in_flight += 1
        # Unsendable, or refused by the settings: recorded without a send.
        finished = [job for job in ready if not job.noted]
        if finished:
            self._record(finished)

    def _claim_more(self, want: int) -> bool:
        """Claim up to ``want`` due requests; return whether any were left."""
        if self.limit is not None:
            want = min(want, self.limit - self.taken)
        pks = list(itertools.islice(self.due, want))
        if not pks:
            return False
        jobs = _claim(pks, using=self.using)
        self.taken += len(pks)
        self.report.skipped += len(pks) - len(jobs)
        self.waiting.extend(jobs)
        return True

    def _give_back(self, jobs: list[_Job]) -> None:
        """Release requests this sweep claimed and will not send."""
        if not jobs:
            return
        try:
            with database_guard(self.using):
                _unstart(jobs, self.using)
        except DatabaseError:
            # The claims lapse by themselves; a noted attempt stays in doubt.
            logger.exception("Could not give back %s erasure(s)", len(jobs))

    def _record(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        try:
            with database_guard(self.using):
                results = _finish(jobs, self.using)
        except Exception:
            if len(jobs) == 1:
                # This outcome is lost to the database, not to the log; the
                # claim lapses and the request is sent again (harmlessly:
                # Distinct's endpoint is idempotent).
                logger.exception(
                    "Could not record the outcome of erasure #%s", jobs[0].request.pk
                )
                self.report.errors += 1
                return
            # One bad row must not cost the others their outcome: record
            # each alone (already retried together, so not again).
            logger.warning(
                "Could not record %s outcomes together; recording each alone",
                len(jobs),
                exc_info=True,
            )
            for job in jobs:
                self._record_alone(job)
            return
        self._report(jobs, results)

    def _record_alone(self, job: _Job) -> None:
        try:
            with database_guard(self.using):
                results = _finish([job], self.using, delays=())
        except Exception:
            logger.exception(
                "Could not record the outcome of erasure #%s", job.request.pk
            )
            self.report.errors += 1
            return
        self._report([job], results)

    def _report(self, jobs: list[_Job], results: list[SendResult]) -> None:
        for job, result in zip(jobs, results, strict=True):
            self.report.add(result)
            if self.on_result is not None:
                self.on_result(result)
            if job.owned:
                _announce(result)


# Requests started (attempt noted, claim held) and queued per sending
# thread, beyond the one it is sending, at most.  A process killed
# mid-sweep leaves their attempts in doubt although they never went out.
QUEUED_PER_SENDER = 5


def _queue_depth() -> int:
    """Return how many requests per sender may wait queued, claims allowing.

    The last request in the queue waits for as many calls as are queued
    ahead of it, each bounded by the client's deadline (connect plus read
    timeout), and then makes its own: its claim must outlast them all, or
    another worker could take it and send it too.  With the defaults (a
    lease of 300 s, calls of at most 13 s) that allows the full queue; a
    lease of a few calls allows none, and the sweep waits for the database
    between sends as it must.
    """
    call = sum(conf.timeout())
    calls_per_lease = int(conf.get("CLAIM_TIMEOUT") // call) if call > 0 else 0
    # One call of margin, for the time between the claim and the queue.
    return max(0, min(QUEUED_PER_SENDER, calls_per_lease - 2))


# Answers recorded in one transaction, per sending thread; and the seconds
# the sweep waits for them before recording those it has.
COLLECTED_PER_SENDER = 2
COLLECT_WAIT = 0.02


def _due_pks(using: str, halted: Callable[[], bool]) -> Iterator[int]:
    """Yield due requests' ids in order, a batch at a time, until told to stop."""
    last_pk = 0
    while not halted():
        with database_guard(using):
            batch = list(
                due(using)
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:SWEEP_BATCH_SIZE]
            )
        if not batch:
            return
        for pk in batch:
            if halted():
                return
            last_pk = pk
            yield pk


_sqlite_lock = threading.RLock()


def database_guard(using: str | None) -> AbstractContextManager[Any]:
    """Serialise this process's database work on SQLite, across threads.

    SQLite allows one writer at a time and answers a second with "database
    is locked" instead of waiting in every configuration; sending threads
    take turns at the database and overlap only in their HTTP calls.
    Other databases need no such care.
    """
    if connections[using or DEFAULT_DB_ALIAS].vendor == "sqlite":
        return _sqlite_lock
    return nullcontext()


def resend(
    pks: Iterable[int],
    *,
    trigger: str,
    actor: str = "",
    using: str | None = None,
    limit: int | None = None,
) -> SweepReport:
    """Send the given requests now, as a person asked.

    Failed requests are reopened with a fresh count; succeeded and not-found
    ones are final and left alone (a repeat would only answer "not found"
    and blur the record).  Past ``limit``, requests are left pending and due
    now for ``distinct_erase`` instead of being sent in this call.
    """
    using = using or DEFAULT_DB_ALIAS
    pks = sorted(set(pks))
    rows = ErasureRequest.objects.using(using).filter(pk__in=pks)
    report = SweepReport()
    report.already_final = rows.filter(
        status__in=[Status.SUCCEEDED, Status.NOT_FOUND]
    ).count()
    retry_failed(using, pks)
    for pk, reason in rows.filter(status=Status.FAILED).values_list(
        "pk", "failure_reason"
    ):
        # Nothing to send: retry_failed left these alone.
        report.unsendable += 1
        report.failures.append((pk, reason))

    pending = list(
        rows.filter(status=Status.PENDING).order_by("pk").values_list("pk", flat=True)
    )
    now_pks, later = (
        (pending, []) if limit is None else (pending[:limit], pending[limit:])
    )
    if later:
        report.queued = _make_due(later, using)

    for index, pk in enumerate(now_pks):
        result = send(pk, trigger=trigger, actor=actor, using=using, only_due=False)
        if result is None:
            report.skipped += 1
            continue
        report.add(result)
        if report.paused:
            rest = now_pks[index + 1 :]
            report.not_attempted = _make_due(rest, using) if rest else 0
            break
    return report


def _make_due(pks: list[int], using: str) -> int:
    now = timezone.now()
    return (
        ErasureRequest.objects.using(using)
        .filter(pk__in=pks, status=Status.PENDING)
        .update(next_attempt_at=now, updated_at=now)
    )


def retry_failed(
    using: str | None = None, pks: Iterable[int] | None = None, actor: str = ""
) -> int:
    """Put failed requests back to pending, due now, with a fresh count.

    A request with no email and no phone stays failed: it could only fail
    again the same way.  So does a cancelled one: cancelling was a decision.
    """
    using = using or DEFAULT_DB_ALIAS
    rows = (
        ErasureRequest.objects.using(using)
        .filter(status=Status.FAILED, cancelled_at__isnull=True)
        .exclude(email="", phone="")
    )
    if pks is not None:
        rows = rows.filter(pk__in=list(pks))
    reopened = 0
    for request in rows.order_by("pk").iterator(chunk_size=SWEEP_BATCH_SIZE):
        now = timezone.now()
        with transaction.atomic(using=using):
            changed = (
                ErasureRequest.objects.using(using)
                .filter(pk=request.pk, status=Status.FAILED)
                .update(
                    status=Status.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    failure_reason="",
                    completed_at=None,
                    updated_at=now,
                )
            )
            if changed:
                evidence.record(
                    request,
                    "reopened",
                    actor=actor,
                    detail={"previous_reason": request.failure_reason},
                    using=using,
                )
        reopened += changed
    return reopened


# --------------------------------------------------------------------------
# Deadlines, holds and cancellation
# --------------------------------------------------------------------------


class StateError(ValueError):
    """The request is not in a state that allows this change."""


def _change(
    request: ErasureRequest,
    kind: str,
    fields: dict[str, Any],
    *,
    actor: str,
    detail: dict[str, Any],
    using: str | None,
    only_if: dict[str, Any],
) -> ErasureRequest:
    using = using or DEFAULT_DB_ALIAS
    now = timezone.now()
    with transaction.atomic(using=using):
        changed = (
            ErasureRequest.objects.using(using)
            .filter(pk=request.pk, **only_if)
            .update(updated_at=now, **fields)
        )
        if not changed:
            raise StateError(f"erasure #{request.pk} cannot be changed that way now")
        evidence.record(request, kind, actor=actor, detail=detail, using=using)
    request.refresh_from_db(using=using)
    return request


def set_hold(
    request: ErasureRequest,
    *,
    reason: str,
    actor: str,
    until: datetime | None = None,
    using: str | None = None,
) -> ErasureRequest:
    """Keep a pending request from being sent, for a reason, maybe until a date.

    A request being sent right now keeps its claim: the hold takes effect
    for every later attempt.
    """
    if not reason.strip():
        raise StateError("a hold needs a reason")
    now = timezone.now()
    return _change(
        request,
        "hold_set",
        {
            "hold_reason": reason.strip()[:500],
            "hold_set_by": actor[:150],
            "hold_set_at": now,
            "hold_until": until,
        },
        actor=actor,
        detail={
            "reason": reason.strip()[:500],
            "until": until.isoformat(timespec="seconds") if until else None,
        },
        using=using,
        only_if={"status": Status.PENDING},
    )


def release_hold(
    request: ErasureRequest, *, actor: str, using: str | None = None
) -> ErasureRequest:
    """Lift a hold; the request is due again at once."""
    return _change(
        request,
        "hold_released",
        {
            "hold_reason": "",
            "hold_set_by": "",
            "hold_set_at": None,
            "hold_until": None,
            "next_attempt_at": timezone.now(),
        },
        actor=actor,
        detail={"reason": request.hold_reason},
        using=using,
        only_if={"hold_set_at__isnull": False},
    )


def extend_deadline(
    request: ErasureRequest, *, reason: str, actor: str, using: str | None = None
) -> ErasureRequest:
    """Extend the deadline once, with the reason the law asks for."""
    if not reason.strip():
        raise StateError("an extension needs a reason")
    new_due = deadlines.extended(request.due_at or request.received_at)
    return _change(
        request,
        "deadline_extended",
        {
            "due_at": new_due,
            "extension_reason": reason.strip()[:500],
            "extended_at": timezone.now(),
        },
        actor=actor,
        detail={
            "reason": reason.strip()[:500],
            "due_at": new_due.isoformat(timespec="seconds"),
        },
        using=using,
        only_if={"extended_at__isnull": True},
    )


def cancel(
    request: ErasureRequest, *, reason: str, actor: str, using: str | None = None
) -> ErasureRequest:
    """Cancel a request that was never sent (during SEND_DELAY, say).

    It becomes ``failed`` with the reason, is never re-opened by
    ``retry_failed``, and its identifiers are removed.  A request that was
    sent even once cannot be cancelled: Distinct may already have acted.
    """
    if not reason.strip():
        raise StateError("a cancellation needs a reason")
    using = using or DEFAULT_DB_ALIAS
    if request.history.using(using).exists():
        raise StateError(
            f"erasure #{request.pk} was already sent; it cannot be cancelled"
        )
    now = timezone.now()
    request = _change(
        request,
        "cancelled",
        {
            "status": Status.FAILED,
            "failure_reason": _truncate(f"cancelled by {actor}: {reason.strip()}"),
            "cancelled_at": now,
            "cancelled_by": actor[:150],
            "completed_at": now,
            "email": "",
            "phone": "",
            "scrubbed_at": now,
        },
        actor=actor,
        detail={"reason": reason.strip()[:500]},
        using=using,
        only_if={"status": Status.PENDING, "attempts": 0, "claim_token__isnull": True},
    )
    app_signals.erasure_failed.send(sender=ErasureRequest, request=request, result=None)
    return request


def overdue(using: str | None = None, *, within_days: int = 0) -> Any:
    """Return pending requests past their deadline, or due within some days."""
    limit = timezone.now() + timedelta(days=within_days)
    return ErasureRequest.objects.using(using or DEFAULT_DB_ALIAS).filter(
        status=Status.PENDING, due_at__lt=limit
    )


def announce_overdue(using: str | None = None) -> int:
    """Send ``erasure_overdue`` once for each request newly past its deadline."""
    using = using or DEFAULT_DB_ALIAS
    count = 0
    for request in overdue(using).filter(overdue_notified_at__isnull=True):
        marked = (
            ErasureRequest.objects.using(using)
            .filter(pk=request.pk, overdue_notified_at__isnull=True)
            .update(overdue_notified_at=timezone.now())
        )
        if marked:
            count += 1
            app_signals.erasure_overdue.send(sender=ErasureRequest, request=request)
    return count


def purge_evidence(
    using: str | None = None, *, dry_run: bool = False, days: int | None = None
) -> int:
    """Delete finished requests, with their history, older than the retention.

    Finished means succeeded, not found, or cancelled; a failed request is
    an obligation not yet met and stays.  Return how many were (or, with
    ``dry_run``, would be) deleted.
    """
    days = conf.get("EVIDENCE_RETENTION_DAYS") if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    rows = ErasureRequest.objects.using(using or DEFAULT_DB_ALIAS).filter(
        Q(status__in=[Status.SUCCEEDED, Status.NOT_FOUND])
        | Q(cancelled_at__isnull=False),
        completed_at__lt=cutoff,
    )
    if dry_run:
        return rows.count()
    count = 0
    pks = list(rows.values_list("pk", flat=True))
    for start in range(0, len(pks), SWEEP_BATCH_SIZE):
        batch = pks[start : start + SWEEP_BATCH_SIZE]
        ErasureRequest.objects.using(using or DEFAULT_DB_ALIAS).filter(
            pk__in=batch
        ).delete()
        count += len(batch)
    return count


def find(identifier: str, using: str | None = None) -> Any:
    """Return the requests recorded for an email or phone, even scrubbed ones.

    The value is cleaned as at recording (a phone in national form needs
    ``PHONENUMBER_DEFAULT_REGION``) and compared by keyed hash; nothing
    matches a value that cannot be cleaned.
    """
    rows = ErasureRequest.objects.using(using or DEFAULT_DB_ALIAS)
    if "@" in identifier:
        email, _problem = normalize_email(identifier)
        return (
            rows.filter(email_hash=identifier_hash("email", email))
            if email
            else rows.none()
        )
    phone, _problem = normalize_phone(identifier)
    return (
        rows.filter(phone_hash=identifier_hash("phone", phone))
        if phone
        else rows.none()
    )


def describe(request: ErasureRequest) -> str:
    """Return a one-line, masked summary of ``request`` for people."""
    who = ", ".join(
        part for part in (request.masked_email, request.masked_phone) if part
    )
    return f"#{request.pk} user {request.user_id or '-'} ({who or 'no identifiers'})"


__all__ = [
    "SendResult",
    "Source",
    "SweepReport",
    "backoff_delay",
    "claim",
    "describe",
    "due",
    "find",
    "identity_for_user",
    "queue_after_commit",
    "request_erasure",
    "resend",
    "retry_failed",
    "send",
    "sweep",
]
