"""
When an erasure is due.

GDPR Art. 12(3) gives one month from receipt: the same day of the next
month, or that month's last day when it has no such day (31 January is due
28 or 29 February).  Other laws count days (CCPA: 45); set
``DISTINCT['DEADLINE_DAYS']`` for those.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from . import conf


def add_months(moment: datetime, months: int) -> datetime:
    """Return ``moment`` moved by whole calendar months, clamped to month end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at(received_at: datetime) -> datetime:
    """Return the deadline of a request received at ``received_at``."""
    days = conf.get("DEADLINE_DAYS")
    if days:
        return received_at + timedelta(days=days)
    return add_months(received_at, 1)


def extended(due: datetime) -> datetime:
    """Return ``due`` after the one extension the rules allow.

    Two further months under GDPR Art. 12(3), or ``EXTENSION_DAYS`` days.
    """
    days = conf.get("EXTENSION_DAYS")
    if days:
        return due + timedelta(days=days)
    return add_months(due, 2)
