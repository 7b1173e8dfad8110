"""The workflow, against the Distinct double served on a loopback socket."""

from datetime import timedelta

import pytest
from django.utils import timezone

from django_distinct import services
from django_distinct.identifiers import Identity
from django_distinct.models import ErasureAttempt, ErasureRequest, Source, Status
from django_distinct.outcomes import Outcome
from django_distinct.testing.factories import ErasureRequestFactory

pytestmark = pytest.mark.django_db


def send(request, **kwargs):
    kwargs.setdefault("trigger", "sweep")
    return services.send(request.pk, **kwargs)


def refreshed(request):
    request.refresh_from_db()
    return request


def test_erasure_of_a_known_user(distinct_server, distinct_fake):
    person = distinct_fake.add_user(
        email="ann@example.com", phone="+14155552671", name="Ann", selfie="ann.jpg"
    )
    request = ErasureRequestFactory(
        user_id="42", email="ann@example.com", phone="+14155552671"
    )

    result = send(request)

    assert result.outcome == Outcome.SUCCEEDED
    request = refreshed(request)
    assert request.status == Status.SUCCEEDED
    assert request.attempts == 1
    assert request.last_http_status == 200
    assert request.last_message == "User data deleted successfully."
    assert request.completed_at is not None
    assert request.claim_token is None and request.claimed_until is None

    (received,) = distinct_fake.requests
    assert received.json == {
        "id": "42",
        "email": "ann@example.com",
        "phone": "+14155552671",
    }
    assert received.headers["x-distinct-api-key"] == "test-api-key"
    assert received.headers["Content-Type"] == "application/json"
    assert person.erased and person.name is None and person.selfie is None

    (attempt,) = request.history.all()
    assert attempt.outcome == Outcome.SUCCEEDED
    assert attempt.http_status == 200
    assert attempt.trigger == "sweep"
    assert not attempt.in_doubt


def test_unknown_person_is_not_found_and_final(distinct_server, distinct_fake):
    request = ErasureRequestFactory(email="nobody@example.com")
    assert send(request).outcome == Outcome.NOT_FOUND
    request = refreshed(request)
    assert request.status == Status.NOT_FOUND
    assert request.completed_at is not None
    # Final: a sweep does not send it again.
    assert services.sweep().sent == 0
    assert len(distinct_fake.requests) == 1


def test_second_erasure_of_the_same_person_is_not_found(distinct_server, distinct_fake):
    distinct_fake.add_user(email="ann@example.com")
    first = ErasureRequestFactory(email="ann@example.com")
    again = ErasureRequestFactory(email="ann@example.com")
    assert send(first).outcome == Outcome.SUCCEEDED
    assert send(again).outcome == Outcome.NOT_FOUND


def test_both_identifiers_must_match_and_are_never_retried_alone(
    distinct_server, distinct_fake
):
    # The phone was recycled: it now belongs to someone else at Distinct.
    distinct_fake.add_user(email="ann@example.com", phone="+14155550001")
    other = distinct_fake.add_user(email="bob@example.com", phone="+14155552671")
    request = ErasureRequestFactory(email="ann@example.com", phone="+14155552671")

    assert send(request).outcome == Outcome.NOT_FOUND
    services.sweep()

    assert len(distinct_fake.requests) == 1
    assert not other.erased


def test_validation_answer_fails_without_retry(distinct_server, distinct_fake):
    # Valid to Django (a quoted local part); the double wants one @.
    request = ErasureRequestFactory(email='"ann@home"@example.com')
    result = send(request)
    assert result.outcome == Outcome.REJECTED
    request = refreshed(request)
    assert request.status == Status.FAILED
    assert request.last_http_status == 400
    assert request.failure_reason == (
        "Distinct rejected the request: HTTP 400: "
        "Email must be a valid format (e.g. user@example.com)."
    )
    assert services.sweep().sent == 0


def test_stored_value_that_is_no_longer_valid_is_not_sent(
    distinct_server, distinct_fake
):
    request = ErasureRequestFactory(email="edited-by-hand", phone="")
    result = send(request)
    assert result.sent is False
    assert distinct_fake.requests == []
    request = refreshed(request)
    assert request.status == Status.FAILED
    assert request.failure_reason == "nothing valid to send: email: no @ in the address"


@pytest.mark.parametrize(
    "key_options, status, message",
    [
        pytest.param(None, 401, "Unauthorized.", id="unknown-key"),
        pytest.param({"expired": True}, 403, "API key has expired.", id="expired"),
        pytest.param(
            {"allowed_ips": ["10.9.9.9"]},
            403,
            "Request IP address is not allowed for this API key.",
            id="ip",
        ),
        pytest.param(
            {"can_delete": False},
            400,
            "Insufficient permission scope for this operation.",
            id="scope",
        ),
    ],
)
def test_configuration_refusal_pauses_the_sweep(
    distinct_server, distinct_fake, settings, key_options, status, message
):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "site-key"}
    if key_options is not None:
        distinct_fake.add_api_key("site-key", **key_options)
    requests = ErasureRequestFactory.create_batch(3)

    report = services.sweep()

    assert report.paused == message
    assert report.paused_status == status
    assert report.sent == 0  # a refusal is not a delivery
    assert len(distinct_fake.requests) == 1
    first, *others = (refreshed(r) for r in requests)
    assert first.status == Status.PENDING
    assert first.attempts == 0  # the site's fault, not the request's
    assert first.last_message == message
    assert first.next_attempt_at <= timezone.now()  # first in line once fixed
    assert first.history.get().outcome == Outcome.CONFIG_ERROR
    for request in others:
        assert request.attempts == 0 and not request.history.exists()


def test_server_error_is_retried_later(distinct_server, distinct_fake, settings):
    settings.DISTINCT = {**settings.DISTINCT, "BACKOFF_BASE": 60}
    distinct_fake.inject("500")
    request = ErasureRequestFactory()

    before = timezone.now()
    assert send(request).outcome == Outcome.RETRY
    request = refreshed(request)

    assert request.status == Status.PENDING
    assert request.attempts == 1
    assert request.last_http_status == 500
    assert request.last_message == "Internal server error."
    # Half the base delay, up to all of it (jitter).
    assert before + timedelta(seconds=30) <= request.next_attempt_at
    assert request.next_attempt_at <= timezone.now() + timedelta(seconds=60)
    # Not due yet: the sweep leaves it alone.
    assert services.sweep().sent == 0


def test_gives_up_after_max_attempts(distinct_server, distinct_fake, settings):
    settings.DISTINCT = {**settings.DISTINCT, "MAX_ATTEMPTS": 3}
    distinct_fake.inject("503_html", times=None)
    request = ErasureRequestFactory()

    for expected in (1, 2):
        send(request, only_due=False)
        assert refreshed(request).attempts == expected
        assert request.status == Status.PENDING
    send(request, only_due=False)

    request = refreshed(request)
    assert request.status == Status.FAILED
    assert request.attempts == 3
    assert request.failure_reason.startswith(
        "gave up after 3 attempts: HTTP 503: a body that is not JSON ("
    )
    assert request.history.count() == 3


def test_retry_after_is_a_floor(distinct_server, distinct_fake, settings):
    settings.DISTINCT = {**settings.DISTINCT, "BACKOFF_BASE": 1}
    distinct_fake.inject("429", retry_after=900)
    request = ErasureRequestFactory()
    send(request)
    request = refreshed(request)
    assert request.last_http_status == 429
    assert request.next_attempt_at >= timezone.now() + timedelta(seconds=890)


@pytest.mark.parametrize("kind", ["200_non_json", "200_unknown"])
def test_unexpected_200_is_retried_not_trusted(distinct_server, distinct_fake, kind):
    distinct_fake.inject(kind)
    request = ErasureRequestFactory()
    assert send(request).outcome == Outcome.RETRY
    request = refreshed(request)
    assert request.status == Status.PENDING
    assert request.last_http_status == 200
    assert request.last_message.startswith("unexpected answer: ")


def test_read_timeout_is_recorded_as_in_doubt(distinct_server, distinct_fake, settings):
    settings.DISTINCT = {**settings.DISTINCT, "TIMEOUT": (1.0, 0.2)}
    distinct_fake.add_user(email="ann@example.com")
    distinct_fake.inject("slow", delay=1.0)
    request = ErasureRequestFactory(email="ann@example.com")

    assert send(request).outcome == Outcome.RETRY
    attempt = refreshed(request).history.get()
    assert attempt.in_doubt
    assert attempt.http_status is None
    assert attempt.message == "no answer from Distinct within the read timeout"
    assert request.status == Status.PENDING


def test_dropped_connection_is_in_doubt(distinct_server, distinct_fake):
    distinct_fake.inject("drop")
    request = ErasureRequestFactory()
    assert send(request).outcome == Outcome.RETRY
    attempt = refreshed(request).history.get()
    assert attempt.in_doubt
    assert attempt.message == "connection to Distinct dropped before an answer"


def test_refused_connection_is_retried_and_not_in_doubt(settings):
    from django_distinct.testing import FakeDistinctServer

    with FakeDistinctServer() as server:
        url = server.url  # a port that was free a moment ago
    settings.DISTINCT = {**settings.DISTINCT, "BASE_URL": url}
    request = ErasureRequestFactory()

    assert send(request).outcome == Outcome.RETRY
    attempt = refreshed(request).history.get()
    assert not attempt.in_doubt
    assert attempt.message == "could not connect to Distinct"
    assert request.attempts == 1


def test_a_claim_is_exclusive_until_its_lease_ends(settings):
    settings.DISTINCT = {**settings.DISTINCT, "CLAIM_TIMEOUT": 60}
    request = ErasureRequestFactory()

    token = services.claim(request.pk)
    assert token is not None
    assert services.claim(request.pk) is None

    # The worker died; its lease runs out and another may take the row.
    ErasureRequest.objects.filter(pk=request.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    second = services.claim(request.pk)
    assert second is not None and second != token


def test_a_claimed_request_is_not_sent_by_another_worker(
    distinct_server, distinct_fake
):
    request = ErasureRequestFactory()
    services.claim(request.pk)
    assert send(request) is None
    assert services.sweep().sent == 0
    assert distinct_fake.requests == []


def test_a_request_abandoned_mid_send_is_sent_again(distinct_server, distinct_fake):
    distinct_fake.add_user(email="ann@example.com")
    request = ErasureRequestFactory(email="ann@example.com")
    # A worker claimed it, reached Distinct, and died before recording.
    services.claim(request.pk)
    distinct_fake.handle(
        method="POST",
        path="/api/v1/users/delete",
        headers={"x-distinct-api-key": "test-api-key"},
        body=b'{"id": "1", "email": "ann@example.com"}',
    )
    ErasureRequest.objects.filter(pk=request.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )

    report = services.sweep()

    assert report.sent == 1
    # Idempotent: the repeat finds nobody left, which is a final outcome.
    assert refreshed(request).status == Status.NOT_FOUND


def test_late_outcome_after_losing_the_claim_does_not_overwrite(
    distinct_server, distinct_fake, settings, monkeypatch
):
    request = ErasureRequestFactory()
    real_post = services._post

    def slow_worker(payload, request_id):
        answer = real_post(payload, request_id)
        # Meanwhile the lease ran out and another worker took the request.
        ErasureRequest.objects.filter(pk=request.pk).update(
            claim_token="00000000-0000-0000-0000-000000000001"
        )
        return answer

    monkeypatch.setattr(services, "_post", slow_worker)
    send(request)

    request = refreshed(request)
    assert request.status == Status.PENDING
    assert str(request.claim_token) == "00000000-0000-0000-0000-000000000001"
    assert request.history.get().outcome == Outcome.NOT_FOUND


def test_sweep_sends_due_requests_once_and_counts(distinct_server, distinct_fake):
    distinct_fake.add_user(email="a@example.com")
    ErasureRequestFactory(email="a@example.com")
    ErasureRequestFactory(email="b@example.com")
    ErasureRequestFactory(next_attempt_at=timezone.now() + timedelta(hours=1))
    ErasureRequestFactory(status=Status.SUCCEEDED)

    report = services.sweep()

    assert report.sent == 2
    assert (report.succeeded, report.not_found, report.failed) == (1, 1, 0)
    assert sorted(distinct_fake.count_by_id().values()) == [1, 1]


def test_sweep_limit(distinct_server, distinct_fake):
    ErasureRequestFactory.create_batch(5)
    assert services.sweep(limit=2).sent == 2
    assert ErasureRequest.objects.filter(status=Status.PENDING).count() == 3


def test_sweep_visits_each_request_once_across_batches(
    distinct_server, distinct_fake, monkeypatch
):
    monkeypatch.setattr(services, "SWEEP_BATCH_SIZE", 3)
    distinct_fake.inject("500", times=None)
    ErasureRequestFactory.create_batch(7)
    report = services.sweep()
    assert report.sent == 7
    assert set(distinct_fake.count_by_id().values()) == {1}


def test_retry_failed_reopens_with_a_fresh_count():
    failed = ErasureRequestFactory(failed=True, attempts=12)
    ErasureRequestFactory(status=Status.SUCCEEDED)
    assert services.retry_failed() == 1
    failed = refreshed(failed)
    assert failed.status == Status.PENDING
    assert failed.attempts == 0
    assert failed.failure_reason == ""
    assert failed.completed_at is None


def test_request_erasure_records_problems_and_source():
    request = services.request_erasure(
        Identity(id="7", email="x@example.com", phone="12"),
        source=Source.COMMAND,
        send_on_commit=False,
    )
    assert request.source == Source.COMMAND
    assert request.phone == ""
    assert request.identifier_problems == "phone: not a valid number"


def test_backoff_grows_and_is_capped(settings):
    settings.DISTINCT = {**settings.DISTINCT, "BACKOFF_BASE": 10, "BACKOFF_MAX": 100}
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        for _ in range(20):
            delay = services.backoff_delay(attempts)
            assert full / 2 <= delay <= full


def test_backoff_is_jittered(settings):
    settings.DISTINCT = {**settings.DISTINCT, "BACKOFF_BASE": 60}
    assert len({services.backoff_delay(3) for _ in range(20)}) > 1


def test_attempt_history_is_kept_in_order(distinct_server, distinct_fake):
    distinct_fake.inject("500")
    distinct_fake.add_user(email="ann@example.com")
    request = ErasureRequestFactory(email="ann@example.com")
    send(request)
    send(request, only_due=False, trigger="admin", actor="ops")
    outcomes = list(
        ErasureAttempt.objects.filter(request=request).values_list(
            "outcome", "trigger", "actor"
        )
    )
    assert outcomes == [
        (Outcome.RETRY, "sweep", ""),
        (Outcome.SUCCEEDED, "admin", "ops"),
    ]
