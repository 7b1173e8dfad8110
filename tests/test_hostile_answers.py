"""Answers no well-behaved server gives, over a real socket."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from django_distinct import services
from django_distinct.models import ErasureAttempt, ErasureRequest, Status
from django_distinct.outcomes import Outcome, classify_response, retry_after_seconds
from django_distinct.testing.factories import ErasureRequestFactory
from tests.rawserver import OK, RawServer, response

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw(settings):
    servers = []

    def start(answer, timeout=(1.0, 1.0)):
        server = RawServer(answer)
        servers.append(server)
        settings.DISTINCT = {
            **settings.DISTINCT,
            "BASE_URL": server.url,
            "TIMEOUT": timeout,
        }
        return server

    yield start
    for server in servers:
        server.close()


def send(request):
    return services.send(request.pk, trigger="sweep", only_due=False)


def test_interim_answer_does_not_shift_answers_between_requests(raw):
    def answer(sock, index, body):
        if index == 0:
            sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
            time.sleep(0.3)
            sock.sendall(response("200 OK", OK))
        else:
            sock.sendall(response("500 Internal Server Error", b'{"message": "boom"}'))
        return True

    raw(answer)
    first, second = ErasureRequestFactory.create_batch(2)

    assert send(first).outcome == Outcome.RETRY
    assert first.history.get().in_doubt
    # The 200 meant for the first request must not be read as the second's.
    assert send(second).outcome == Outcome.RETRY
    second.refresh_from_db()
    assert second.status == Status.PENDING
    assert second.last_http_status == 500


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_dripping_answer_is_cut_at_the_deadline(raw, part):
    def answer(sock, index, body):
        if part == "headers":
            sock.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(20):
                sock.sendall(b"a")
                time.sleep(0.25)
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
            for _ in range(20):
                sock.sendall(b" ")
                time.sleep(0.25)
        return False

    raw(answer, timeout=(0.5, 0.5))
    request = ErasureRequestFactory()

    started = time.monotonic()
    result = send(request)
    took = time.monotonic() - started

    assert result.outcome == Outcome.RETRY
    assert took < 2.5  # one second of deadline, not five of dripping
    attempt = request.history.get()
    assert attempt.in_doubt
    assert attempt.message == "no complete answer from Distinct within 1 s"


def test_a_deadline_passing_after_the_answer_leaves_the_connection_alone(raw):
    # The deadline of a call that was answered in time must not shut the
    # kept-alive connection the next call is using.
    connections = []

    def answer(sock, index, body):
        connections.append(sock)
        if index == 1:
            time.sleep(0.4)  # the first call's deadline passes meanwhile
        sock.sendall(response("200 OK", OK))
        return True

    raw(answer, timeout=(0.25, 0.5))  # a deadline of 0.75 s
    first, second = ErasureRequestFactory.create_batch(2)

    assert send(first).outcome == Outcome.SUCCEEDED
    time.sleep(0.5)
    assert send(second).outcome == Outcome.SUCCEEDED
    assert len(set(map(id, connections))) == 1


def test_lower_case_retry_after_is_honoured(raw, settings):
    settings.DISTINCT = {**settings.DISTINCT, "BACKOFF_BASE": 1}

    def answer(sock, index, body):
        sock.sendall(response("429 Too Many Requests", b"", "retry-after: 600"))
        return True

    raw(answer)
    request = ErasureRequestFactory()
    send(request)
    request.refresh_from_db()
    assert request.next_attempt_at >= timezone.now() + timedelta(seconds=590)


@pytest.mark.parametrize(
    "status, message",
    [(400, "x" * 5000), (200, "y" * 5000), (500, "bad\x00byte " * 10)],
    ids=["long-400", "long-200", "nul"],
)
def test_any_message_fits_the_columns(raw, status, message):
    import json

    payload = json.dumps({"statusCode": status, "message": message}).encode()

    def answer(sock, index, body):
        sock.sendall(response(f"{status} Whatever", payload))
        return True

    raw(answer)
    request = ErasureRequestFactory()
    send(request)
    request.refresh_from_db()
    attempt = request.history.get()
    assert len(attempt.message) <= 500 and len(request.last_message) <= 500
    assert len(request.failure_reason) <= 500
    assert "\x00" not in attempt.message


def test_identifiers_echoed_by_the_server_are_masked(raw, caplog):
    import json

    def answer(sock, index, body):
        sent = json.loads(body)
        echo = f"No user with {sent['email']} or {sent['phone']} ({sent['phone'][1:]})"
        message = json.dumps({"statusCode": 400, "message": echo}).encode()
        sock.sendall(response("400 Bad Request", message))
        return True

    raw(answer)
    request = ErasureRequestFactory(
        email="ann.secret@example.com", phone="+14155552671"
    )
    send(request)
    request.refresh_from_db()
    texts = [request.last_message, request.failure_reason, caplog.text]
    texts.append(request.history.get().message)
    for text in texts:
        assert "ann.secret" not in text
        assert "4155552671" not in text
    assert "a***@example.com" in request.last_message


def test_deeply_nested_json_is_just_not_json():
    body = b"[" * 50_000 + b"]" * 50_000
    assert classify_response(500, body).outcome == Outcome.RETRY


@pytest.mark.parametrize("value", ["²", "١٢٠", "99999999999999999999"])
def test_odd_retry_after_values_are_ignored(value):
    assert retry_after_seconds(value) is None


def test_http_date_retry_after_without_time_zone_support(settings):
    settings.USE_TZ = False
    seconds = retry_after_seconds("Wed, 21 Oct 2099 07:28:00 GMT")
    assert seconds > 0


def test_a_database_error_while_recording_is_retried(
    distinct_server, distinct_fake, monkeypatch
):
    monkeypatch.setattr(services, "RECORD_RETRY_DELAYS", (0.01, 0.01, 0.01))
    distinct_fake.add_user(email="ann@example.com")
    request = ErasureRequestFactory(email="ann@example.com")
    real_write = services._write_outcomes
    failures = iter([True, True])  # fail the first two recordings

    def flaky_write(jobs, using):
        real_write(jobs, using)
        if next(failures, False):
            raise OperationalError("database is locked")  # rolls it all back

    monkeypatch.setattr(services, "_write_outcomes", flaky_write)
    assert send(request).outcome == Outcome.SUCCEEDED
    request.refresh_from_db()
    assert request.status == Status.SUCCEEDED
    assert request.history.get().outcome == Outcome.SUCCEEDED
    assert [event.kind for event in request.events.all()] == ["attempt"]
    assert len(distinct_fake.requests) == 1


def test_an_outcome_that_cannot_be_recorded_leaves_evidence(
    distinct_server, distinct_fake, monkeypatch
):
    monkeypatch.setattr(services, "RECORD_RETRY_DELAYS", (0.01,))
    distinct_fake.add_user(email="ann@example.com")
    request = ErasureRequestFactory(email="ann@example.com")

    def broken_write(jobs, using):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(services, "_write_outcomes", broken_write)
    with pytest.raises(OperationalError):
        send(request)

    # Distinct erased the person; the history says a send's answer was lost.
    attempt = request.history.get()
    assert (attempt.outcome, attempt.in_doubt) == (Outcome.UNKNOWN, True)
    request.refresh_from_db()
    assert request.status == Status.PENDING and request.claim_token is not None


def test_one_bad_row_does_not_stop_the_sweep(
    distinct_server, distinct_fake, monkeypatch
):
    first, second, third = ErasureRequestFactory.create_batch(3)
    real_transmit, real_write = services._transmit, services._write_outcomes

    def transmit_or_fail(job):
        if job.request.pk == first.pk:
            raise RuntimeError("poison")
        real_transmit(job)

    def write_or_fail(jobs, using):
        if any(job.request.pk == second.pk for job in jobs):
            raise RuntimeError("poison")
        real_write(jobs, using)

    monkeypatch.setattr(services, "_transmit", transmit_or_fail)
    monkeypatch.setattr(services, "_write_outcomes", write_or_fail)
    report = services.sweep()

    # A bug while sending: nothing is known of the send, so retry it.
    assert report.retrying == 1
    first.refresh_from_db()
    assert first.status == Status.PENDING and first.attempts == 1
    assert first.history.get().in_doubt
    # A bug while recording: the row is left claimed and counted.
    assert report.errors == 1
    second.refresh_from_db()
    assert second.status == Status.PENDING and second.claim_token is not None
    # And the rest goes on.
    third.refresh_from_db()
    assert third.status == Status.NOT_FOUND
    assert report.sent == 2


def test_a_row_that_cannot_be_recorded_costs_only_itself(
    distinct_server, distinct_fake, monkeypatch
):
    requests = ErasureRequestFactory.create_batch(12)
    poison = requests[5].pk
    real_write = services._write_outcomes
    batches = []

    def write_or_fail(jobs, using):
        batches.append(len(jobs))
        if any(job.request.pk == poison for job in jobs):
            raise RuntimeError("poison")
        real_write(jobs, using)

    monkeypatch.setattr(services, "_write_outcomes", write_or_fail)
    report = services.sweep(concurrency=4)

    assert (report.sent, report.errors) == (11, 1)
    assert max(batches) > 1  # outcomes were being recorded together
    statuses = dict(ErasureRequest.objects.values_list("pk", "status"))
    assert statuses.pop(poison) == Status.PENDING
    assert set(statuses.values()) == {Status.NOT_FOUND}


def test_the_command_exits_non_zero_when_a_row_failed(
    distinct_server, distinct_fake, monkeypatch
):
    from django.core.management import CommandError, call_command

    ErasureRequestFactory()

    def broken_write(jobs, using):
        raise RuntimeError("poison")

    monkeypatch.setattr(services, "_write_outcomes", broken_write)
    with pytest.raises(CommandError, match="1 request\\(s\\) could not be processed"):
        call_command("distinct_erase", stdout=open("/dev/null", "w"))


def test_api_key_read_with_a_trailing_newline_works(distinct_server, settings):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "test-api-key\n"}
    request = ErasureRequestFactory()
    assert send(request).outcome == Outcome.NOT_FOUND


@pytest.mark.parametrize(
    "key", ["clé€", 12345, "a\tb"], ids=["non-ascii", "int", "tab"]
)
def test_a_key_no_header_can_carry_pauses_instead_of_retrying(
    distinct_server, settings, key
):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": key}
    requests = ErasureRequestFactory.create_batch(2)
    report = services.sweep()
    assert report.paused.startswith("DISTINCT['API_KEY']")
    assert distinct_server.fake.requests == []
    assert set(ErasureRequest.objects.values_list("attempts", flat=True)) == {0}
    assert requests[0].history.get().outcome == Outcome.CONFIG_ERROR


def test_a_refusal_recorded_after_a_rollback_is_kept_once(settings, monkeypatch):
    # No key: nothing goes out, and the attempt is first written with the
    # outcome, in the transaction that fails once here.
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": ""}
    monkeypatch.setattr(services, "RECORD_RETRY_DELAYS", (0.01,))
    request = ErasureRequestFactory()
    real_write = services._write_outcomes
    failures = iter([True])

    def flaky_write(jobs, using):
        real_write(jobs, using)
        if next(failures, False):
            raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_write_outcomes", flaky_write)
    assert send(request).outcome == Outcome.CONFIG_ERROR
    attempt = request.history.get()
    assert attempt.outcome == Outcome.CONFIG_ERROR and not attempt.in_doubt
    request.refresh_from_db()
    assert request.status == Status.PENDING and request.claim_token is None


def test_a_blocked_sweep_refuses_once_and_leaves_nothing_claimed(settings, monkeypatch):
    monkeypatch.delenv("DISTINCT_API_KEY", raising=False)
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": ""}
    ErasureRequestFactory.create_batch(5)

    report = services.sweep(concurrency=4)

    assert "no API key" in report.paused
    assert report.sent == 0
    assert ErasureAttempt.objects.count() == 1
    assert ErasureAttempt.objects.get().outcome == Outcome.CONFIG_ERROR
    rows = ErasureRequest.objects.all()
    assert {row.status for row in rows} == {Status.PENDING}
    assert not rows.filter(claim_token__isnull=False).exists()
