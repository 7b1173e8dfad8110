"""
Record an erasure request whenever a user is deleted.

Two receivers share the work.  ``pre_delete`` reads the identifiers while
the user and its related rows (a profile holding the phone, say) still
exist; ``post_delete`` writes the request once the user's row is gone, in
the same transaction.  A single ``delete()``, a queryset ``delete()`` and a
cascade from another model all send both signals for each user.

Deactivating a user (``is_active = False``) deletes nothing and sends
nothing.  Rows removed with raw SQL, ``QuerySet._raw_delete`` or
``TRUNCATE`` bypass signals and so bypass this app too.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, pre_delete

from . import conf, services
from .models import Source

# Where pre_delete leaves the identifiers for post_delete on the same object.
_SNAPSHOT_ATTR = "_django_distinct_identity"


def snapshot_identity(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not conf.get("ERASE_ON_DELETE"):
        return
    instance.__dict__[_SNAPSHOT_ATTR] = services.identity_for_user(instance)


def record_erasure(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    if not conf.get("ERASE_ON_DELETE"):
        return
    identity = instance.__dict__.pop(_SNAPSHOT_ATTR, None)
    if identity is None:
        identity = services.identity_for_user(instance)
    # An exception here propagates on purpose: it rolls the deletion back
    # rather than lose the site's obligation to erase this person.
    services.request_erasure(identity, source=Source.USER_DELETION, using=using)


def user_models() -> list[type]:
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
