"""
System checks for the ``DISTINCT`` settings.

A bad setting should stop ``manage.py check`` with a clear message, not
surface as a crash at the first deletion.  Ids are stable: a retired one is
never reused.  Messages are translated when the checks run, in the language
active then.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError
from django.db.models import Model
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import conf

DAY = 24 * 60 * 60
# (smallest, largest): past these a value is a typo, and some would overflow.
_INTEGERS = {
    "SEND_ON_COMMIT_LIMIT": (0, 1000),
    "MAX_ATTEMPTS": (1, 1000),
    "ADMIN_RESEND_LIMIT": (1, 10_000),
    "TASK_CONCURRENCY": (1, 64),
}
_SECONDS = {
    "BACKOFF_BASE": 30 * DAY,
    "BACKOFF_MAX": 30 * DAY,
    "CLAIM_TIMEOUT": DAY,
}
_BOOLEANS = ("ERASE_ON_DELETE", "SEND_ON_COMMIT", "SCRUB_IDENTIFIERS")
_FIELDS = ("USER_ID_FIELD", "USER_EMAIL_FIELD", "USER_PHONE_FIELD")


def register() -> None:
    checks.register(check_settings, "django_distinct")
    checks.register(check_deadlines, "django_distinct", checks.Tags.database)


def check_deadlines(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn when erasures are past their deadline (``check --database``)."""
    from .services import overdue

    messages: list[checks.CheckMessage] = []
    for alias in databases or []:
        try:
            count = overdue(alias).count()
        except DatabaseError:
            continue  # not migrated yet: migrate's own checks say so
        if count:
            messages.append(
                checks.Warning(
                    ngettext(
                        "%(count)d erasure request on database '%(alias)s' is "
                        "past its deadline.",
                        "%(count)d erasure requests on database '%(alias)s' are "
                        "past their deadline.",
                        count,
                    )
                    % {"count": count, "alias": alias},
                    hint=_(
                        "See the admin's deadline filter, or run "
                        "manage.py distinct_erase."
                    ),
                    id="django_distinct.W003",
                )
            )
    return messages


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    raw = getattr(settings, "DISTINCT", {})
    if not isinstance(raw, dict):
        return [
            checks.Error(
                _("DISTINCT must be a dict."),
                hint=_("Set DISTINCT = {'API_KEY': ..., ...} in your settings."),
                id="django_distinct.E001",
            )
        ]

    messages: list[checks.CheckMessage] = []
    unknown = sorted(set(raw) - set(conf.DEFAULTS))
    if unknown:
        messages.append(
            checks.Warning(
                _("Unknown DISTINCT setting(s): %(names)s.")
                % {"names": ", ".join(unknown)},
                hint=_("Known settings: %(names)s.")
                % {"names": ", ".join(sorted(conf.DEFAULTS))},
                id="django_distinct.W002",
            )
        )
    key_problem = conf.api_key_problem()
    if conf.api_key() and key_problem:
        messages.append(
            checks.Error(
                # conf's reason, which a refused send also records on its
                # attempt: stored text stays in English, and so does this.
                key_problem[0].upper() + key_problem[1:] + ".",
                hint=_("Copy the key exactly as Distinct issued it."),
                id="django_distinct.E012",
            )
        )
    if not conf.api_key():
        messages.append(
            checks.Warning(
                _(
                    "No Distinct API key is configured: nothing will be sent, "
                    "and erasure requests will stay pending until one is."
                ),
                hint=_(
                    "Set DISTINCT['API_KEY'] or the %(variable)s environment variable."
                )
                % {"variable": conf.API_KEY_ENV},
                id="django_distinct.W001",
            )
        )
    messages += _check_base_url()
    messages += _check_timeout()
    messages += _check_numbers()
    messages += _check_user_mapping()
    messages += _check_task_backend()
    return messages


def _check_task_backend() -> list[checks.CheckMessage]:
    from . import tasks

    backend = conf.get("TASK_BACKEND")
    if backend not in tasks.BACKENDS:
        return [
            checks.Error(
                _("DISTINCT['TASK_BACKEND'] must be None, 'celery' or 'django'."),
                id="django_distinct.E013",
            )
        ]
    if backend == "celery" and tasks.celery_send_erasure is None:
        return [
            checks.Error(
                _("DISTINCT['TASK_BACKEND'] is 'celery' but Celery is not installed."),
                hint="pip install 'django-distinct[celery]'",
                id="django_distinct.E013",
            )
        ]
    if backend == "django" and tasks.django_send_erasure is None:
        return [
            checks.Error(
                _(
                    "DISTINCT['TASK_BACKEND'] is 'django' but django.tasks needs "
                    "Django 6.0 or later."
                ),
                id="django_distinct.E013",
            )
        ]
    return []


def _check_base_url() -> list[checks.CheckMessage]:
    url = conf.get("BASE_URL")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            checks.Error(
                _("DISTINCT['BASE_URL'] must be an absolute http(s) URL."),
                hint=_("The default is %(url)s.") % {"url": conf.DEFAULTS["BASE_URL"]},
                id="django_distinct.E003",
            )
        ]
    if parts.path.rstrip("/").endswith(conf.DELETE_PATH):
        return [
            checks.Error(
                _(
                    "DISTINCT['BASE_URL'] includes the endpoint's path; the app "
                    "adds %(path)s itself."
                )
                % {"path": conf.DELETE_PATH},
                hint=_("Give the site root only, e.g. %(url)s.")
                % {"url": conf.DEFAULTS["BASE_URL"]},
                id="django_distinct.E011",
            )
        ]
    if conf.is_insecure_url(url):
        return [
            checks.Error(
                _(
                    "DISTINCT['BASE_URL'] is not HTTPS: emails, phone numbers "
                    "and the API key would cross the network in clear text."
                ),
                hint=_("Use https://, or a loopback address for a local double."),
                id="django_distinct.E004",
            )
        ]
    return []


def _check_timeout() -> list[checks.CheckMessage]:
    value = conf.get("TIMEOUT")
    if _is_number(value) and value > 0:
        return []
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(_is_number(v) and v > 0 for v in value)
    ):
        return []
    return [
        checks.Error(
            _(
                "DISTINCT['TIMEOUT'] must be a positive number of seconds or a "
                "(connect, read) pair of them."
            ),
            hint=_("The default is %(default)s.")
            % {"default": conf.DEFAULTS["TIMEOUT"]},
            id="django_distinct.E005",
        )
    ]


def _check_numbers() -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for name, (smallest, largest) in _INTEGERS.items():
        value = conf.get(name)
        if not (isinstance(value, int) and not isinstance(value, bool)) or not (
            smallest <= value <= largest
        ):
            messages.append(
                checks.Error(
                    _(
                        "DISTINCT['%(name)s'] must be an integer from "
                        "%(smallest)s to %(largest)s."
                    )
                    % {"name": name, "smallest": smallest, "largest": largest},
                    hint=_("The default is %(default)s.")
                    % {"default": conf.DEFAULTS[name]},
                    id="django_distinct.E006",
                )
            )
    for name, largest in _SECONDS.items():
        value = conf.get(name)
        if not (_is_number(value) and 0 < value <= largest):
            messages.append(
                checks.Error(
                    _(
                        "DISTINCT['%(name)s'] must be a number of seconds above "
                        "0 and at most %(largest)s."
                    )
                    % {"name": name, "largest": largest},
                    hint=_("The default is %(default)s.")
                    % {"default": conf.DEFAULTS[name]},
                    id="django_distinct.E006",
                )
            )
    for name in _BOOLEANS:
        if not isinstance(conf.get(name), bool):
            messages.append(
                checks.Error(
                    _("DISTINCT['%(name)s'] must be True or False.") % {"name": name},
                    id="django_distinct.E007",
                )
            )
    if messages:
        return messages

    if conf.get("BACKOFF_MAX") < conf.get("BACKOFF_BASE"):
        messages.append(
            checks.Error(
                _("DISTINCT['BACKOFF_MAX'] is smaller than DISTINCT['BACKOFF_BASE']."),
                id="django_distinct.E006",
            )
        )
    if not _check_timeout() and conf.get("CLAIM_TIMEOUT") <= sum(conf.timeout()):
        messages.append(
            checks.Error(
                _(
                    "DISTINCT['CLAIM_TIMEOUT'] is not longer than one request can "
                    "take (connect + read timeout), so a second worker could "
                    "send a request that is still in flight."
                ),
                hint=_("Keep CLAIM_TIMEOUT well above the sum of TIMEOUT."),
                id="django_distinct.E010",
            )
        )
    return messages


def _check_user_mapping() -> list[checks.CheckMessage]:
    custom = conf.get("USER_IDENTITY")
    if custom:
        try:
            func = import_string(custom) if isinstance(custom, str) else custom
        except ImportError as exc:
            return [
                checks.Error(
                    _("DISTINCT['USER_IDENTITY'] cannot be imported: %(error)s")
                    % {"error": exc},
                    id="django_distinct.E008",
                )
            ]
        if not callable(func):
            return [
                checks.Error(
                    _("DISTINCT['USER_IDENTITY'] must be a callable taking a user."),
                    id="django_distinct.E008",
                )
            ]
        return []

    user_model = get_user_model()
    messages: list[checks.CheckMessage] = []
    for name in _FIELDS:
        if not conf.is_set(name):
            continue
        path = conf.get(name)
        if path is None and name != "USER_ID_FIELD":
            continue
        if not isinstance(path, str) or not path:
            messages.append(
                checks.Error(
                    _(
                        "DISTINCT['%(name)s'] must be an attribute path such as "
                        "'email' or 'profile.phone'."
                    )
                    % {"name": name},
                    id="django_distinct.E009",
                )
            )
            continue
        first = path.split(".", 1)[0]
        if not _has_attribute(user_model, first):
            messages.append(
                checks.Error(
                    _(
                        "DISTINCT['%(name)s'] names '%(first)s', which "
                        "%(model)s does not have."
                    )
                    % {"name": name, "first": first, "model": user_model._meta.label},
                    id="django_distinct.E009",
                )
            )
    return messages


def _has_attribute(model: type[Model], name: str) -> bool:
    if name == "pk" or hasattr(model, name):
        return True
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
