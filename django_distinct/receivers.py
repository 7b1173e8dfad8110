"""
Record an erasure request whenever a user is deleted.

Two receivers share the work.  ``pre_delete`` reads the identifiers while
the user and its related rows (a profile holding the phone, say) still
exist; ``post_delete`` writes the requests once the users' rows are gone,
in the same transaction, together for all the users of one ``delete()``.
A single ``delete()``, a queryset ``delete()`` and a cascade from another
model all send both signals for each user.

Deactivating a user (``is_active = False``) deletes nothing and sends
nothing.  Rows removed with raw SQL, ``QuerySet._raw_delete`` or
``TRUNCATE`` bypass signals and so bypass this app too.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, pre_delete

from . import conf, services
from .identifiers import Identity
from .models import Source

# Where pre_delete leaves the identifiers for post_delete on the same object.
_SNAPSHOT_ATTR = "_django_distinct_identity"
# Where one delete() call keeps the users it removes, on its origin (the
# instance or queryset delete() was called on).
_RUN_ATTR = "_django_distinct_deletion"


class _Deletion:
    """The users one ``delete()`` call removes, recorded when the last is gone.

    Django sends ``pre_delete`` for every collected object before it sends
    any ``post_delete``, so counting the first tells when the last of the
    second has come: the requests are then written with a few bulk queries,
    still inside the deletion's transaction.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self.expected = 0
        self.identities: list[Identity] = []
        self.read = services.identity_reader()
        # Django replaces this list whenever the transaction commits or rolls
        # back (or a savepoint does); while it is the same list, the run's
        # callback is still in it.
        self.hooks: list[Any] | None = None

    def __call__(self) -> None:
        # Registered with on_commit only to learn whether the deletion's
        # transaction is still the current one (see _current_run).
        pass


def _current_run(origin: Any, using: str, *, start: bool) -> _Deletion | None:
    holder = getattr(origin, "__dict__", None)
    if holder is None:
        return None
    run: _Deletion | None = holder.get(_RUN_ATTR)
    if run is not None and (run.using != using or not _pending(run)):
        # Left by a delete() whose transaction rolled back, or another
        # database's: start afresh rather than wait for users that are gone.
        run = None
        del holder[_RUN_ATTR]
    if run is None and start:
        run = _Deletion(using)
        transaction.on_commit(run, using=using)
        run.hooks = transaction.get_connection(using).run_on_commit
        holder[_RUN_ATTR] = run
    return run


def _pending(run: _Deletion) -> bool:
    # Django keeps a transaction's callbacks as (savepoints, func, robust);
    # a rollback discards them, which is how a stale run shows itself.
    hooks = transaction.get_connection(run.using).run_on_commit
    if hooks is run.hooks:
        return True  # checked once per user: the common case costs nothing
    if any(entry[1] is run for entry in hooks):
        run.hooks = hooks  # a savepoint of someone else's rolled back
        return True
    return False


def snapshot_identity(
    sender: Any, instance: Any, using: str, origin: Any = None, **kwargs: Any
) -> None:
    if not conf.get("ERASE_ON_DELETE"):
        return
    run = _current_run(origin, using, start=True)
    if run is None:
        instance.__dict__[_SNAPSHOT_ATTR] = services.identity_for_user(instance)
        return
    instance.__dict__[_SNAPSHOT_ATTR] = run.read(instance)
    run.expected += 1


def record_erasure(
    sender: Any, instance: Any, using: str, origin: Any = None, **kwargs: Any
) -> None:
    if not conf.get("ERASE_ON_DELETE"):
        return
    identity = instance.__dict__.pop(_SNAPSHOT_ATTR, None)
    if identity is None:
        identity = services.identity_for_user(instance)
    run = _current_run(origin, using, start=False)
    # An exception below propagates on purpose: it rolls the deletion back
    # rather than lose the site's obligation to erase these people.
    if run is None:
        services.request_erasure(identity, source=Source.USER_DELETION, using=using)
        return
    run.identities.append(identity)
    if len(run.identities) >= run.expected:
        del origin.__dict__[_RUN_ATTR]
        services.record_erasures(
            run.identities, source=Source.USER_DELETION, using=using
        )


def user_models() -> list[type[Model]]:
    """Return the user model and its proxies: each sends its own signals."""
    user_model = get_user_model()
    return [
        model for model in apps.get_models() if model._meta.concrete_model is user_model
    ]


def connect() -> None:
    """Connect the receivers once for each user model class."""
    for model in user_models():
        label = model._meta.label_lower
        pre_delete.connect(
            snapshot_identity,
            sender=model,
            dispatch_uid=f"django_distinct.snapshot_identity.{label}",
        )
        post_delete.connect(
            record_erasure,
            sender=model,
            dispatch_uid=f"django_distinct.record_erasure.{label}",
        )


def disconnect() -> None:
    """Undo ``connect()``."""
    for model in user_models():
        label = model._meta.label_lower
        pre_delete.disconnect(
            sender=model, dispatch_uid=f"django_distinct.snapshot_identity.{label}"
        )
        post_delete.disconnect(
            sender=model, dispatch_uid=f"django_distinct.record_erasure.{label}"
        )
