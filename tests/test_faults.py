"""Every fault Distinct can show, over the socket: retried, then given up."""

import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_distinct import services
from django_distinct.models import ErasureRequest, Status
from django_distinct.testing.factories import ErasureRequestFactory

pytestmark = pytest.mark.django_db

FAULTS = [
    pytest.param("500", 500, "Internal server error.", False, id="500"),
    pytest.param("502_html", 502, "a body that is not JSON", False, id="502-html"),
    pytest.param("503_html", 503, "a body that is not JSON", False, id="503-html"),
    pytest.param(
        "200_non_json",
        200,
        "unexpected answer: a body that is not JSON",
        False,
        id="200-not-json",
    ),
    pytest.param(
        "200_unknown",
        200,
        "unexpected answer: User deletion has been scheduled.",
        False,
        id="200-unknown-message",
    ),
    pytest.param("429", 429, "Too many requests.", False, id="429"),
    pytest.param(
        "slow", None, "no answer from Distinct within the read timeout", True, id="slow"
    ),
    pytest.param(
        "drop", None, "connection to Distinct dropped before an answer", True, id="drop"
    ),
]


@pytest.fixture
def quick(settings, distinct_server):
    settings.DISTINCT = {
        **settings.DISTINCT,
        "TIMEOUT": (1.0, 0.2),
        "BACKOFF_BASE": 60,
        "MAX_ATTEMPTS": 3,
    }


@pytest.mark.parametrize("kind, http_status, message, in_doubt", FAULTS)
def test_fault_is_retried_with_backoff_then_failed(
    quick, distinct_fake, kind, http_status, message, in_doubt
):
    distinct_fake.inject(kind, times=None, delay=1.0, retry_after=120)
    request = ErasureRequestFactory()

    before = timezone.now()
    report = services.sweep()
    request.refresh_from_db()

    assert report.retrying == 1
    assert request.status == Status.PENDING
    assert request.attempts == 1
    assert request.last_http_status == http_status
    assert request.last_message.startswith(message)
    floor = 120 if kind == "429" else 30  # Retry-After, or half the first delay
    assert request.next_attempt_at >= before + timedelta(seconds=floor)
    attempt = request.history.get()
    assert attempt.in_doubt is in_doubt

    # Due again twice more; the third failure is the last.
    for _ in range(2):
        ErasureRequest.objects.update(next_attempt_at=timezone.now())
        services.sweep()
    request.refresh_from_db()
    assert request.status == Status.FAILED
    assert request.attempts == 3
    status = f"HTTP {http_status}: " if http_status else ""
    assert request.failure_reason.startswith(
        f"gave up after 3 attempts: {status}{message}"
    )
    assert request.history.count() == 3


def test_backoff_doubles_between_attempts(quick, distinct_fake, monkeypatch):
    monkeypatch.setattr(services.random, "uniform", lambda low, high: high)
    distinct_fake.inject("500", times=None)
    request = ErasureRequestFactory()
    waits = []
    for _ in range(2):
        ErasureRequest.objects.update(next_attempt_at=timezone.now())
        started = timezone.now()
        services.sweep()
        request.refresh_from_db()
        waits.append(round((request.next_attempt_at - started).total_seconds()))
    assert waits == [60, 120]


@pytest.mark.parametrize(
    "key_options",
    [None, {"expired": True}, {"allowed_ips": ["10.1.1.1"]}, {"can_delete": False}],
    ids=["401", "403-expired", "403-ip", "400-scope"],
)
def test_refusal_pauses_once_and_spends_no_attempts(
    quick, distinct_fake, settings, caplog, key_options
):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "site-key"}
    if key_options:
        distinct_fake.add_api_key("site-key", **key_options)
    ErasureRequestFactory.create_batch(5)
    caplog.set_level(logging.ERROR, logger="django_distinct")

    with pytest.raises(CommandError):
        call_command("distinct_erase", stdout=open("/dev/null", "w"))

    assert len(distinct_fake.requests) == 1
    assert set(ErasureRequest.objects.values_list("attempts", flat=True)) == {0}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "refused this site's configuration" in errors[0].getMessage()
