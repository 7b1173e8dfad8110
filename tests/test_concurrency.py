"""Several sweepers at once never send the same request twice."""

import threading

import pytest
from django.db import connection

from django_distinct import services
from django_distinct.models import ErasureRequest, Status
from django_distinct.testing.factories import ErasureRequestFactory

WORKERS = 4
REQUESTS = 300


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_send_each_request_exactly_once(
    distinct_server, distinct_fake
):
    requests = ErasureRequestFactory.create_batch(REQUESTS)
    for request in requests[::2]:
        distinct_fake.add_user(email=request.email)
    start = threading.Barrier(WORKERS)
    reports, errors = [], []

    def worker():
        try:
            start.wait()
            reports.append(services.sweep())
        except Exception as exc:  # surfaced below, with the others
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    counts = distinct_fake.count_by_id()
    assert len(counts) == REQUESTS
    assert set(counts.values()) == {1}
    assert sum(report.sent for report in reports) == REQUESTS
    # Each worker really took part, or the test proves nothing.
    assert all(report.sent > 0 for report in reports)
    statuses = ErasureRequest.objects.values_list("status", flat=True)
    assert sorted(set(statuses)) == [Status.NOT_FOUND, Status.SUCCEEDED]
    assert ErasureRequest.objects.filter(status=Status.SUCCEEDED).count() == (
        REQUESTS // 2
    )
