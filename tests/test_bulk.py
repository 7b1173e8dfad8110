"""The few-statement writes of ``django_distinct.bulk``, on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_distinct import bulk
from django_distinct.models import (
    ErasureAttempt,
    ErasureEvent,
    ErasureRequest,
    Source,
    Status,
)
from django_distinct.outcomes import Outcome
from django_distinct.testing.factories import ErasureRequestFactory

pytestmark = pytest.mark.django_db


def new_requests(count: int) -> list[ErasureRequest]:
    now = timezone.now()
    rows = []
    for n in range(count):
        row = ErasureRequest(
            user_id=str(n), email=f"p{n}@example.com", source=Source.COMMAND
        )
        row.derive_from_identifiers()
        row.created_at = row.updated_at = row.received_at = now
        row.due_at = now + timedelta(days=30)
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    "count", [1, bulk.ROWS_PER_STATEMENT, 2 * bulk.ROWS_PER_STATEMENT + 7]
)
def test_insert_writes_every_row_and_gives_back_its_id(count):
    rows = new_requests(count)
    rows[-1].status = Status.FAILED  # a column where the rows differ
    rows[-1].failure_reason = "nothing valid to send"

    bulk.insert(rows, DEFAULT_DB_ALIAS)

    assert len({row.pk for row in rows}) == count
    for row in rows:
        stored = ErasureRequest.objects.get(pk=row.pk)
        assert (stored.uuid, stored.user_id, stored.email) == (
            row.uuid,
            row.user_id,
            row.email,
        )
        assert stored.email_hash == row.email_hash and stored.email_hash
        assert stored.received_at == row.received_at
        assert not row._state.adding
    # Choices are stored by value, not by the enum member's name.
    assert set(ErasureRequest.objects.values_list("status", flat=True).distinct()) == (
        {"pending", "failed"} if count > 1 else {"failed"}
    )
    assert ErasureRequest.objects.filter(source="command").count() == count


def test_insert_uses_few_statements():
    rows = new_requests(45)
    with CaptureQueriesContext(connection) as queries:
        bulk.insert(rows, DEFAULT_DB_ALIAS)
    # Two statements of 20 rows run together, the 5 left, the ids read back.
    inserts = [q for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) <= 3
    assert ErasureRequest.objects.count() == 45


def test_insert_without_returning_leaves_ids_alone():
    rows = new_requests(3)
    bulk.insert(rows, DEFAULT_DB_ALIAS, returning=False)
    assert [row.pk for row in rows] == [None, None, None]
    assert ErasureRequest.objects.count() == 3


def test_update_each_saves_each_rows_own_values():
    request = ErasureRequestFactory()
    attempts = [
        ErasureAttempt.objects.create(
            request=request,
            started_at=timezone.now(),
            duration_ms=0,
            outcome=Outcome.UNKNOWN,
            in_doubt=True,
            trigger="sweep",
        )
        for _ in range(3)
    ]
    for n, attempt in enumerate(attempts):
        attempt.outcome = Outcome.SUCCEEDED if n else Outcome.RETRY
        attempt.duration_ms = 10 * n
        attempt.in_doubt = n == 0
        attempt.http_status = None if n == 0 else 200

    bulk.update_each(
        attempts,
        ["outcome", "duration_ms", "in_doubt", "http_status"],
        DEFAULT_DB_ALIAS,
    )

    stored = list(
        ErasureAttempt.objects.order_by("pk").values_list(
            "outcome", "duration_ms", "in_doubt", "http_status"
        )
    )
    assert stored == [
        ("retry", 0, True, None),
        ("succeeded", 10, False, 200),
        ("succeeded", 20, False, 200),
    ]


def test_update_each_refuses_what_is_not_a_column():
    request = ErasureRequestFactory()
    with pytest.raises(ValueError, match="not a column"):
        bulk.update_each([request], ["history"], DEFAULT_DB_ALIAS)


def test_insert_columns_shares_fills_defaults_and_calls_callables():
    now = timezone.now()
    details = [{"n": 1}, {"n": 2}]
    request = ErasureRequestFactory()

    bulk.insert_columns(
        ErasureEvent,
        3,
        DEFAULT_DB_ALIAS,
        shared={"request_id": request.pk, "at": now, "kind": "noted", "hash": "h"},
        each={"seq": [10, 11, 12], "detail": [details[0], details[1], details[0]]},
    )

    stored = list(
        ErasureEvent.objects.filter(seq__gte=10)
        .order_by("seq")
        .values_list("seq", "at", "kind", "actor", "detail", "prev_hash")
    )
    # actor and prev_hash were given nowhere: the fields' defaults fill them.
    assert stored == [
        (10, now, "noted", "", {"n": 1}, ""),
        (11, now, "noted", "", {"n": 2}, ""),
        (12, now, "noted", "", {"n": 1}, ""),
    ]


def test_insert_columns_calls_a_callable_default_for_each_row():
    now = timezone.now()
    bulk.insert_columns(
        ErasureRequest,
        4,
        DEFAULT_DB_ALIAS,
        shared={"source": Source.COMMAND, "created_at": now, "updated_at": now},
        each={"user_id": ["a", "b", "c", "d"]},
    )
    uuids = set(ErasureRequest.objects.values_list("uuid", flat=True))
    assert len(uuids) == 4  # uuid4 once per row, not shared
    statuses = set(ErasureRequest.objects.values_list("status", flat=True))
    assert statuses == {"pending"}


def test_insert_columns_refuses_unknown_columns_and_short_lists():
    with pytest.raises(ValueError, match="not columns"):
        bulk.insert_columns(ErasureRequest, 1, DEFAULT_DB_ALIAS, shared={"history": 1})
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        bulk.insert_columns(
            ErasureRequest, 3, DEFAULT_DB_ALIAS, each={"user_id": ["a", "b"]}
        )
    assert ErasureRequest.objects.count() == 0


def test_ids_by_uuid_follows_the_order_asked():
    rows = new_requests(5)
    bulk.insert(rows, DEFAULT_DB_ALIAS, returning=False)
    uuids = [row.uuid for row in reversed(rows)]
    expected = [ErasureRequest.objects.get(uuid=value).pk for value in uuids]
    assert bulk.ids_by_uuid(ErasureRequest, uuids, DEFAULT_DB_ALIAS) == expected
