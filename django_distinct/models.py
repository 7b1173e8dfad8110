"""The record of every erasure request and of each attempt to send it."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import deadlines
from .identifiers import derived
from .outcomes import MESSAGE_MAX_LENGTH, Outcome


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    NOT_FOUND = "not_found", _("Not found")
    FAILED = "failed", _("Failed")


class Source(models.TextChoices):
    USER_DELETION = "user_deletion", _("User deletion")
    COMMAND = "command", _("Management command")
    ADMIN = "admin", _("Admin")
    API = "api", _("REST API")


class Trigger(models.TextChoices):
    """What made one attempt happen."""

    ON_COMMIT = "on_commit", _("After the deletion committed")
    SWEEP = "sweep", _("Sweep")
    TASK = "task", _("Task queue")
    COMMAND = "command", _("Management command")
    ADMIN = "admin", _("Admin")
    API = "api", _("REST API")


TERMINAL = (Status.SUCCEEDED, Status.NOT_FOUND, Status.FAILED)


class ErasureRequest(models.Model):
    """One person to erase at Distinct.

    There is no foreign key to the user: by the time this row matters, the
    user is gone.  ``email`` and ``phone`` hold exactly what is sent, after
    cleaning; an identifier that could not be cleaned is not kept, and
    ``identifier_problems`` says why it was dropped.
    """

    uuid = models.UUIDField(
        _("request id"),
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text=_("Sent to Distinct as X-Request-Id, and named in the receipt."),
    )
    user_id = models.CharField(_("user id"), max_length=255, db_index=True)
    # Keyed hash of the cleaned id, email and phone together: the same person
    # asked twice while a request is open gets the open request back.
    person_hash = models.CharField(
        max_length=64, blank=True, db_index=True, editable=False
    )
    # Cleared once Distinct has answered for good (SCRUB_IDENTIFIERS); the
    # masked forms stay for people, the keyed hashes for lookups.
    email = models.CharField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    masked_email = models.CharField(
        _("email (masked)"), max_length=254, blank=True, editable=False
    )
    masked_phone = models.CharField(
        _("phone (masked)"), max_length=16, blank=True, editable=False
    )
    email_hash = models.CharField(
        max_length=64, blank=True, db_index=True, editable=False
    )
    phone_hash = models.CharField(
        max_length=64, blank=True, db_index=True, editable=False
    )
    scrubbed_at = models.DateTimeField(
        _("identifiers removed at"), null=True, blank=True, editable=False
    )
    identifier_problems = models.CharField(
        _("identifier problems"), max_length=500, blank=True
    )

    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    attempts = models.PositiveIntegerField(
        _("attempts"),
        default=0,
        help_text=_(
            "Attempts counted toward MAX_ATTEMPTS. Refusals of the site's own "
            "configuration are kept in the history but not counted."
        ),
    )
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    last_http_status = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_message = models.CharField(
        _("last message"),
        max_length=MESSAGE_MAX_LENGTH,
        blank=True,
        help_text=_("Distinct's message, or the transport error."),
    )
    failure_reason = models.CharField(
        _("failure reason"), max_length=MESSAGE_MAX_LENGTH, blank=True
    )

    # A worker owns the row between claimed_at and claimed_until; past that,
    # the claim is stale and any worker may take it.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    received_at = models.DateTimeField(
        _("received at"),
        default=timezone.now,
        help_text=_("When the site received the person's request."),
    )
    due_at = models.DateTimeField(_("due at"), null=True, blank=True, db_index=True)
    extension_reason = models.CharField(
        _("extension reason"), max_length=500, blank=True
    )
    extended_at = models.DateTimeField(_("extended at"), null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    # A legal hold keeps a request from being sent until released (or until
    # hold_until passes): Distinct's erasure includes waiver signatures and
    # cannot be undone.
    hold_reason = models.CharField(_("hold reason"), max_length=500, blank=True)
    hold_set_by = models.CharField(_("hold set by"), max_length=150, blank=True)
    hold_set_at = models.DateTimeField(_("hold set at"), null=True, blank=True)
    hold_until = models.DateTimeField(_("hold until"), null=True, blank=True)

    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.CharField(_("cancelled by"), max_length=150, blank=True)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    # Not a column: set on the requests that services.request_erasure and
    # request_erasures return, True when the person already had an open
    # request and got that one back.  Other instances do not have it.
    was_duplicate: bool

    class Meta:
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("resend_erasurerequest", _("Can re-send erasure requests to Distinct")),
            ("view_pii_erasurerequest", _("Can see unmasked emails and phones")),
            (
                "hold_erasurerequest",
                _("Can hold, release, cancel and extend erasure requests"),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="distinct_due_idx"),
        ]

    def __str__(self) -> str:
        # No email or phone: this string ends up in logs and tracebacks.
        return f"Erasure #{self.pk} of user {self.user_id} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.derive_from_identifiers()
        if self.due_at is None:
            self.due_at = deadlines.due_at(self.received_at)
        super().save(*args, **kwargs)

    def derive_from_identifiers(self) -> None:
        """Fill the masked forms and hashes from ``email`` and ``phone``.

        Call it before ``bulk_create``, which skips ``save()``.  Fields whose
        identifier was already removed keep what they hold.
        """
        for name, value in derived(self.user_id, self.email, self.phone).items():
            if name == "person_hash" and self.person_hash:
                continue  # fixed when the request was made
            setattr(self, name, value)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_held(self) -> bool:
        if self.hold_set_at is None:
            return False
        return self.hold_until is None or self.hold_until > timezone.now()

    @property
    def is_overdue(self) -> bool:
        return (
            self.status == Status.PENDING
            and self.due_at is not None
            and self.due_at < timezone.now()
        )


class ErasureAttempt(models.Model):
    """One try at sending an erasure request, whatever came of it."""

    request = models.ForeignKey(
        ErasureRequest,
        on_delete=models.CASCADE,
        related_name="history",
        verbose_name=_("erasure request"),
    )
    started_at = models.DateTimeField(_("started at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(
        _("HTTP status"), null=True, blank=True
    )
    message = models.CharField(_("message"), max_length=MESSAGE_MAX_LENGTH, blank=True)
    in_doubt = models.BooleanField(
        _("in doubt"),
        default=False,
        help_text=_("The request may have reached Distinct before it failed."),
    )
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    actor = models.CharField(
        _("actor"),
        max_length=150,
        blank=True,
        help_text=_("Who re-sent it by hand, if anyone."),
    )
    response_digest = models.CharField(
        _("response digest"),
        max_length=64,
        blank=True,
        help_text=_("SHA-256 of Distinct's answer, as received."),
    )

    class Meta:
        verbose_name = _("erasure attempt")
        verbose_name_plural = _("erasure attempts")
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"Attempt on erasure #{self.request_id}: {self.outcome}"


class ErasureEvent(models.Model):
    """One entry of a request's evidence log: append-only, hash-chained.

    Each entry's ``hash`` is a keyed HMAC of its content and of the previous
    entry's hash, so editing, removing or reordering an entry breaks the
    chain from there on (``distinct_erase --verify``).  Entries hold no raw
    email or phone.
    """

    request = models.ForeignKey(
        ErasureRequest,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=_("erasure request"),
    )
    seq = models.PositiveIntegerField(_("sequence"))
    at = models.DateTimeField(_("at"))
    kind = models.CharField(_("event"), max_length=32)
    actor = models.CharField(_("actor"), max_length=150, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("evidence entry")
        verbose_name_plural = _("evidence log")
        ordering = ["request", "seq"]
        constraints = [
            # Two writers appending at once cannot fork a chain: one of them
            # fails here and appends again after the other.
            models.UniqueConstraint(
                fields=["request", "seq"], name="distinct_event_seq_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Erasure #{self.request_id} event {self.seq}: {self.kind}"
