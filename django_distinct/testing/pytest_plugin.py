"""
pytest fixtures for sites that use django-distinct.

Enable them in a ``conftest.py``::

    pytest_plugins = ["django_distinct.testing.pytest_plugin"]

``distinct_server`` serves a fresh ``FakeDistinct`` on a loopback port and
points ``DISTINCT['BASE_URL']`` and ``DISTINCT['API_KEY']`` at it for the
test; ``distinct_fake`` is its in-memory state, where you add users, inject
faults and read what was received.  Both need pytest-django's ``settings``
fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from django_distinct.testing.fake import FakeDistinct
from django_distinct.testing.server import FakeDistinctServer

FAKE_API_KEY = "test-api-key"


@pytest.fixture
def distinct_fake() -> FakeDistinct:
    """Return an empty in-memory Distinct that accepts ``FAKE_API_KEY``."""
    return FakeDistinct(api_key=FAKE_API_KEY)


@pytest.fixture
def distinct_server(
    distinct_fake: FakeDistinct, settings: Any
) -> Iterator[FakeDistinctServer]:
    """Serve ``distinct_fake`` on loopback and send this test's erasures there."""
    with FakeDistinctServer(distinct_fake) as server:
        settings.DISTINCT = server.distinct_settings(
            **{
                key: value
                for key, value in getattr(settings, "DISTINCT", {}).items()
                if key not in ("BASE_URL", "API_KEY")
            }
        )
        yield server
