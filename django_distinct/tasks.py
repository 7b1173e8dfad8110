"""
Send erasures from a task queue instead of the process that deleted users.

With ``DISTINCT['TASK_BACKEND'] = "celery"`` (the ``celery`` extra), each
request recorded by a deletion becomes a ``django_distinct.send_erasure``
task once the transaction commits; a transient failure is retried by
Celery at the app's own backoff, and ``django_distinct.sweep`` is the task
to schedule with Celery beat.  With ``"django"``, Django's own tasks
framework (``django.tasks``, Django 6.0 and later) carries the same two
tasks, and its configured backend runs them.  It retries nothing: a send
that fails for now stays pending, at its own backoff, for the next sweep.
Under ``ImmediateBackend``, Django's default, the tasks run in the deleting
process as the transaction commits.

Celery finds these tasks with ``app.autodiscover_tasks()``.  This module
imports without either framework installed; it then defines nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from . import conf

logger = logging.getLogger(__name__)

BACKENDS = (None, "celery", "django")


def enqueue(pks: list[int], using: str = DEFAULT_DB_ALIAS) -> None:
    """Hand the requests ``pks`` to the configured task backend."""
    backend = conf.get("TASK_BACKEND")
    if backend == "celery":
        for pk in pks:
            celery_send_erasure.delay(pk, using)
    elif backend == "django":
        for pk in pks:
            django_send_erasure.enqueue(pk, using)
    else:
        raise ValueError(f"DISTINCT['TASK_BACKEND'] is {backend!r}")


def _send(pk: int, using: str) -> float | None:
    """Send one request; return seconds until its retry, or ``None``."""
    from . import services
    from .models import Status, Trigger
    from .outcomes import Outcome

    result = services.send(pk, trigger=Trigger.TASK, using=using)
    if result is None or result.outcome != Outcome.RETRY:
        return None
    if result.status != Status.PENDING:
        return None
    wait = (result.request.next_attempt_at - timezone.now()).total_seconds()
    return max(wait, 1.0)


def _sweep(using: str) -> dict[str, int]:
    from . import services

    report = services.sweep(using=using, concurrency=conf.get("TASK_CONCURRENCY"))
    return {
        "sent": report.sent,
        "succeeded": report.succeeded,
        "not_found": report.not_found,
        "failed": report.failed,
        "retrying": report.retrying,
        "errors": report.errors,
    }


try:
    from celery import shared_task
except ImportError:  # the celery extra is not installed
    celery_send_erasure: Any = None
    celery_sweep: Any = None
else:

    @shared_task(bind=True, name="django_distinct.send_erasure", max_retries=None)
    def celery_send_erasure(self: Any, pk: int, using: str = DEFAULT_DB_ALIAS) -> None:
        wait = _send(pk, using)
        if wait is not None:
            # The request keeps its own schedule; Celery only wakes us then.
            # A sweep may get there first, which the claim makes harmless.
            raise self.retry(countdown=wait)

    @shared_task(name="django_distinct.sweep")
    def celery_sweep(using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
        return _sweep(using)


# mypy checks this module against Django 5.2's stubs, which have no
# django.tasks: the import and its decorator are untyped there.
try:
    from django.tasks import task as django_task  # type: ignore[import-untyped]
except ImportError:  # Django before 6.0
    django_send_erasure: Any = None
    django_sweep: Any = None
else:

    @django_task()  # type: ignore[untyped-decorator]
    def django_send_erasure(pk: int, using: str = DEFAULT_DB_ALIAS) -> None:
        # Django's tasks have no retry of their own: a transient failure
        # leaves the request pending for the next sweep.
        _send(pk, using)

    @django_task()  # type: ignore[untyped-decorator]
    def django_sweep(using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
        return _sweep(using)
