"""
Test doubles for Distinct, for this project's tests and for yours.

``FakeDistinct`` answers the delete-user contract from memory;
``FakeDistinctServer`` serves it on a local socket.  To route ``responses``
to a fake, import ``use_responses`` from ``django_distinct.testing.responses``
(it needs the ``testing`` extra).
"""

from __future__ import annotations

from django_distinct.testing.fake import (
    FakeDistinct,
    FakeResponse,
    FakeUser,
    RecordedRequest,
)
from django_distinct.testing.server import FakeDistinctServer

__all__ = [
    "FakeDistinct",
    "FakeDistinctServer",
    "FakeResponse",
    "FakeUser",
    "RecordedRequest",
]
