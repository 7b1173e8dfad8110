"""Proof of erasure: ids, deadlines, duplicates, holds, the evidence log."""

import io
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from django_distinct import evidence, services
from django_distinct import signals as app_signals
from django_distinct.deadlines import add_months, due_at
from django_distinct.identifiers import Identity
from django_distinct.models import ErasureEvent, ErasureRequest, Status
from django_distinct.testing.factories import ErasureRequestFactory
from tests.operators import ADD, RESEND, VIEW, operator

pytestmark = pytest.mark.django_db

UTC = dt_timezone.utc


def at(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "received, due",
    [
        (at(2027, 1, 15, 9, 30), at(2027, 2, 15, 9, 30)),
        (at(2027, 1, 31), at(2027, 2, 28)),
        (at(2028, 1, 31), at(2028, 2, 29)),  # leap year
        (at(2028, 2, 29), at(2028, 3, 29)),
        (at(2027, 3, 31), at(2027, 4, 30)),
        (at(2027, 8, 31), at(2027, 9, 30)),
        (at(2027, 12, 31, 23, 59), at(2028, 1, 31, 23, 59)),
    ],
)
def test_one_calendar_month(received, due):
    assert due_at(received) == due


def test_add_months_across_years():
    assert add_months(at(2027, 11, 30), 3) == at(2028, 2, 29)


def test_deadline_in_days(settings):
    settings.DISTINCT = {**settings.DISTINCT, "DEADLINE_DAYS": 45}
    assert due_at(at(2027, 1, 1)) == at(2027, 2, 15)


def request_for(email="ann@example.com", **kwargs):
    return services.request_erasure(
        Identity(id="7", email=email), source="command", send_on_commit=False, **kwargs
    )


def test_received_at_sets_the_deadline():
    request = request_for(received_at=at(2027, 1, 31, 12))
    assert request.due_at == at(2027, 2, 28, 12)


def test_extension_once_with_a_reason():
    request = request_for(received_at=at(2027, 1, 10))
    services.extend_deadline(request, reason="complex request", actor="dpo")
    assert request.due_at == at(2027, 4, 10)
    assert request.extension_reason == "complex request"
    with pytest.raises(services.StateError):
        services.extend_deadline(request, reason="again", actor="dpo")
    assert [e.kind for e in request.events.all()] == ["received", "deadline_extended"]


def test_request_id_is_sent_to_distinct(distinct_server, distinct_fake):
    request = request_for()
    services.send(request.pk, trigger="sweep")
    assert distinct_fake.requests[0].headers["X-Request-Id"] == str(request.uuid)


def test_duplicate_while_open_returns_the_open_request():
    first = request_for(email="Ann@Example.com")
    again = request_for(email="ann@example.com ")
    assert again.pk == first.pk
    assert again.was_duplicate
    assert ErasureRequest.objects.count() == 1
    assert [e.kind for e in first.events.all()] == ["received", "duplicate_received"]


def test_a_closed_request_is_not_reopened_by_a_new_one(distinct_server, distinct_fake):
    first = request_for()
    services.send(first.pk, trigger="sweep")
    second = request_for()
    assert second.pk != first.pk
    assert not second.was_duplicate


def test_api_create_twice_gives_the_same_request(distinct_server, settings):
    settings.DISTINCT = {**settings.DISTINCT, "SEND_DELAY": 3600}
    client = APIClient()
    client.force_authenticate(operator(ADD, VIEW))
    body = {"id": "9", "email": "ann@example.com", "received_at": "2027-01-31T10:00Z"}
    first = client.post("/distinct/erasure-requests/", body, format="json")
    second = client.post("/distinct/erasure-requests/", body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["uuid"] == second.json()["uuid"]
    assert first.json()["due_at"].startswith("2027-02-28T10:00")


def test_a_held_request_is_not_sent_until_released(distinct_server, distinct_fake):
    request = request_for()
    services.set_hold(request, reason="waiver kept for a claim", actor="legal")

    assert services.sweep().sent == 0
    assert services.send(request.pk, trigger="admin", only_due=False) is None
    assert distinct_fake.requests == []
    assert request.hold_set_by == "legal"

    services.release_hold(request, actor="legal")
    assert services.sweep().sent == 1
    kinds = [e.kind for e in request.events.all()]
    assert kinds == ["received", "hold_set", "hold_released", "attempt"]


def test_a_hold_until_a_date_lapses_by_itself(distinct_server, distinct_fake):
    request = request_for()
    services.set_hold(
        request,
        reason="until the claim window closes",
        actor="legal",
        until=timezone.now() - timedelta(seconds=1),
    )
    assert services.sweep().sent == 1


def test_send_delay_then_cancel(distinct_server, distinct_fake, settings):
    settings.DISTINCT = {
        **settings.DISTINCT,
        "SEND_DELAY": 3600,
        "SEND_ON_COMMIT": True,
    }
    request = request_for()
    assert request.next_attempt_at > timezone.now() + timedelta(minutes=59)
    assert services.sweep().sent == 0

    received = []
    app_signals.erasure_failed.connect(
        lambda **kw: received.append(kw["request"].pk), weak=False, dispatch_uid="t"
    )
    try:
        services.cancel(request, reason="the person changed their mind", actor="ops")
    finally:
        app_signals.erasure_failed.disconnect(dispatch_uid="t")

    assert request.status == Status.FAILED
    assert request.failure_reason == "cancelled by ops: the person changed their mind"
    assert (request.email, request.cancelled_by) == ("", "ops")
    assert received == [request.pk]
    assert services.retry_failed() == 0
    assert distinct_fake.requests == []


def test_a_sent_request_cannot_be_cancelled(distinct_server, distinct_fake):
    distinct_fake.inject("500")
    request = request_for()
    services.send(request.pk, trigger="sweep")
    with pytest.raises(services.StateError, match="already sent"):
        services.cancel(request, reason="too late", actor="ops")


def test_the_chain_verifies_and_an_edit_breaks_it(distinct_server, distinct_fake):
    distinct_fake.inject("500")
    request = request_for()
    services.send(request.pk, trigger="sweep")
    services.send(request.pk, trigger="admin", only_due=False, actor="ops")
    checked, breaks = evidence.verify()
    assert (checked, breaks) == (1, [])

    # Someone rewrites history: the failed attempt becomes a success.
    second = request.events.get(seq=2)
    ErasureEvent.objects.filter(pk=second.pk).update(
        detail={**second.detail, "outcome": "succeeded"}
    )
    checked, breaks = evidence.verify()
    assert [(b.request_pk, b.seq, b.reason) for b in breaks] == [
        (request.pk, 2, "content does not match its hash")
    ]
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 evidence chain"):
        call_command("distinct_erase", "--verify", stdout=out)
    assert f"Erasure #{request.pk} ({request.uuid}): entry 2" in out.getvalue()


def test_a_removed_entry_breaks_the_chain(distinct_server, distinct_fake):
    request = request_for()
    services.send(request.pk, trigger="sweep")
    request.events.get(seq=1).delete()
    (found,) = evidence.verify()[1]
    assert found.reason == "entry 1 is missing"


def test_verify_command_when_intact():
    request_for()
    out = io.StringIO()
    call_command("distinct_erase", "--verify", stdout=out)
    assert out.getvalue().strip() == "1 evidence chain(s) verified, none broken."


RAW = ("ann.private@example.com", "+14155552671", "4155552671")


def test_receipt_holds_no_pii(distinct_server, distinct_fake, client):
    distinct_fake.add_user(email=RAW[0], phone=RAW[1])
    request = services.request_erasure(
        Identity(id="7", email=RAW[0], phone=RAW[1]),
        source="command",
        send_on_commit=False,
    )
    services.send(request.pk, trigger="sweep")
    request.refresh_from_db()

    receipt = evidence.receipt(request)
    assert receipt["request_id"] == str(request.uuid)
    assert receipt["outcome"] == "succeeded"
    assert receipt["person"] == request.person_hash
    assert receipt["last_answer"]["http_status"] == 200
    assert len(receipt["last_answer"]["response_sha256"]) == 64
    assert receipt["recipient"]["endpoint"].endswith("/api/v1/users/delete")
    assert receipt["evidence"]["chain_intact"] is True
    assert receipt["first_sent_at"] is not None

    api = APIClient()
    api.force_authenticate(operator(VIEW))
    from_api = api.get(f"/distinct/erasure-requests/{request.pk}/receipt/")
    client.force_login(operator(VIEW))
    admin_url = reverse(
        "admin:django_distinct_erasurerequest_receipt", args=[request.pk]
    )
    from_admin = client.get(admin_url)
    out = io.StringIO()
    call_command("distinct_erase", "--receipts", "--since", "2020-01-01", stdout=out)

    assert from_api.json() == receipt
    assert json.loads(from_admin.content) == receipt
    assert json.loads(out.getvalue()) == receipt
    for text in (json.dumps(receipt), from_admin.content.decode(), out.getvalue()):
        for value in RAW:
            assert value not in text


def test_receipts_since_filters(distinct_server):
    old = request_for(email="old@example.com")
    ErasureRequest.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    new = request_for(email="new@example.com")
    out = io.StringIO()
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    call_command("distinct_erase", "--receipts", "--since", since, stdout=out)
    ids = [json.loads(line)["request_id"] for line in out.getvalue().splitlines()]
    assert ids == [str(new.uuid)]


def test_purge_keeps_what_is_young_or_unresolved(settings):
    old = timezone.now() - timedelta(days=800)
    done = ErasureRequestFactory(status=Status.SUCCEEDED, completed_at=old)
    ErasureRequestFactory(status=Status.FAILED, completed_at=old)  # unresolved
    ErasureRequestFactory(status=Status.NOT_FOUND, completed_at=timezone.now())
    out = io.StringIO()
    call_command("distinct_erase", "--purge-evidence", "--dry-run", stdout=out)
    assert out.getvalue().strip() == (
        "Would delete 1 finished request(s) older than 730 days."
    )
    assert ErasureRequest.objects.count() == 3
    call_command("distinct_erase", "--purge-evidence", stdout=io.StringIO())
    assert not ErasureRequest.objects.filter(pk=done.pk).exists()
    assert ErasureRequest.objects.count() == 2


def test_overdue_is_reported_and_signalled_once(distinct_server, settings):
    late = request_for(received_at=timezone.now() - timedelta(days=40))
    soon = request_for(
        email="soon@example.com", received_at=timezone.now() - timedelta(days=27)
    )
    for request in (late, soon):
        services.set_hold(request, reason="legal claim", actor="legal")
    seen = []
    app_signals.erasure_overdue.connect(
        lambda **kw: seen.append(kw["request"].pk), weak=False, dispatch_uid="t"
    )
    try:
        for _ in range(2):
            out = io.StringIO()
            call_command("distinct_erase", stdout=out)
    finally:
        app_signals.erasure_overdue.disconnect(dispatch_uid="t")
    assert "Overdue: 1. Due within 7 days: 1. On hold: 2." in out.getvalue()
    assert seen == [late.pk]


def test_overdue_check_needs_the_database_tag():
    from django.core import checks

    request_for(received_at=timezone.now() - timedelta(days=40))
    ids = [m.id for m in checks.run_checks(databases=["default"])]
    assert "django_distinct.W003" in ids
    assert "django_distinct.W003" not in [m.id for m in checks.run_checks()]


def test_admin_deadline_filter_and_column(client):
    late = request_for(received_at=timezone.now() - timedelta(days=40))
    request_for(email="fresh@example.com")
    client.force_login(operator(VIEW))
    changelist = reverse("admin:django_distinct_erasurerequest_changelist")
    response = client.get(changelist, {"deadline": "overdue"})
    assert list(response.context["cl"].result_list) == [late]
    assert "(overdue)" in response.content.decode()


def test_api_hold_release_cancel_extend(distinct_server, settings):
    settings.DISTINCT = {**settings.DISTINCT, "SEND_DELAY": 3600}
    request = request_for()
    url = f"/distinct/erasure-requests/{request.pk}"
    api = APIClient()
    api.force_authenticate(operator(VIEW, RESEND))
    assert api.post(f"{url}/hold/", {"reason": "x"}).status_code == 403

    api.force_authenticate(operator(VIEW, "hold_erasurerequest", username="legal"))
    held = api.post(f"{url}/hold/", {"reason": "waiver claim"}, format="json")
    assert held.status_code == 200
    assert held.json()["hold_set_by"] == "legal"
    assert api.post(f"{url}/hold/", {}, format="json").status_code == 400
    assert api.post(f"{url}/release/").json()["hold_reason"] == ""
    extended = api.post(f"{url}/extend/", {"reason": "complex"}, format="json")
    assert extended.json()["extension_reason"] == "complex"
    assert api.post(f"{url}/extend/", {"reason": "again"}).status_code == 409
    cancelled = api.post(f"{url}/cancel/", {"reason": "changed mind"}, format="json")
    assert cancelled.json()["status"] == "failed"
    assert api.post(f"{url}/release/").status_code == 409


def test_outcome_signals(distinct_server, distinct_fake):
    distinct_fake.add_user(email="ann@example.com")
    seen = []

    def receiver(signal, **kwargs):
        seen.append((signal, kwargs["request"].pk, kwargs["result"].outcome))

    for signal in (app_signals.erasure_succeeded, app_signals.erasure_not_found):
        signal.connect(receiver, weak=False, dispatch_uid="t")
    try:
        known = request_for()
        unknown = request_for(email="nobody@example.com")
        services.sweep()
    finally:
        for signal in (app_signals.erasure_succeeded, app_signals.erasure_not_found):
            signal.disconnect(dispatch_uid="t")
    assert seen == [
        (app_signals.erasure_succeeded, known.pk, "succeeded"),
        (app_signals.erasure_not_found, unknown.pk, "not_found"),
    ]
