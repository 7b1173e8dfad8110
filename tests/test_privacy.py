"""No raw identifier outlives its use, and no secret reaches any output."""

import io
import logging

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from django_distinct import services
from django_distinct.identifiers import identifier_hash
from django_distinct.models import ErasureAttempt, ErasureRequest, Status
from django_distinct.testing.factories import ErasureRequestFactory
from tests.factories import UserFactory
from tests.operators import RESEND, VIEW, operator

pytestmark = pytest.mark.django_db

EMAIL = "ann.private@example.com"
PHONE = "+14155552671"


def send(request):
    return services.send(request.pk, trigger="sweep", only_due=False)


@pytest.mark.parametrize("known", [True, False], ids=["succeeded", "not-found"])
def test_identifiers_are_removed_once_distinct_answers_for_good(
    distinct_server, distinct_fake, known
):
    if known:
        distinct_fake.add_user(email=EMAIL, phone=PHONE)
    request = ErasureRequestFactory(email=EMAIL, phone=PHONE)
    send(request)
    request.refresh_from_db()

    assert request.status in (Status.SUCCEEDED, Status.NOT_FOUND)
    assert (request.email, request.phone) == ("", "")
    assert (request.masked_email, request.masked_phone) == (
        "a***@example.com",
        "+1******2671",
    )
    assert request.email_hash == identifier_hash("email", EMAIL)
    assert request.phone_hash == identifier_hash("phone", PHONE)
    assert request.scrubbed_at == request.completed_at
    row_text = " ".join(str(v) for v in ErasureRequest.objects.values().get().values())
    attempt_text = " ".join(
        str(v) for v in ErasureAttempt.objects.values().get().values()
    )
    for text in (row_text, attempt_text):
        assert "ann.private" not in text and "4155552671" not in text


def test_a_failed_request_keeps_them_until_it_is_resolved(
    distinct_server, distinct_fake
):
    request = ErasureRequestFactory(
        email='"ann@home"@example.com'
    )  # Distinct refuses it
    send(request)
    request.refresh_from_db()
    assert request.status == Status.FAILED
    assert request.email == '"ann@home"@example.com'


def test_transient_failure_keeps_them(distinct_server, distinct_fake):
    distinct_fake.inject("500")
    request = ErasureRequestFactory(email=EMAIL)
    send(request)
    request.refresh_from_db()
    assert request.email == EMAIL


def test_scrubbing_can_be_switched_off(distinct_server, distinct_fake, settings):
    settings.DISTINCT = {**settings.DISTINCT, "SCRUB_IDENTIFIERS": False}
    request = ErasureRequestFactory(email=EMAIL)
    send(request)
    request.refresh_from_db()
    assert request.email == EMAIL
    assert request.scrubbed_at is None


def test_find_by_address_after_scrubbing(distinct_server, distinct_fake, settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    request = ErasureRequestFactory(email=EMAIL, phone=PHONE)
    ErasureRequestFactory(email="someone.else@example.com")
    send(request)

    assert list(services.find("  Ann.Private@EXAMPLE.com ")) == [request]
    assert list(services.find("(415) 555-2671")) == [request]
    assert list(services.find("nobody@example.com")) == []
    assert list(services.find("not a phone")) == []


def test_find_from_the_command(distinct_server, distinct_fake):
    request = ErasureRequestFactory(user_id="42", email=EMAIL)
    send(request)
    out = io.StringIO()
    call_command("distinct_erase", "--find", EMAIL, stdout=out)
    line = out.getvalue().strip()
    assert line.startswith(f"#{request.pk} user 42 (a***@example.com): not_found, ")
    assert EMAIL not in line

    out = io.StringIO()
    call_command("distinct_erase", "--find", "x@example.com", stdout=out)
    assert out.getvalue().strip() == "No erasure request was recorded for that value."


def test_find_from_the_admin_search(client, distinct_server, distinct_fake):
    request = ErasureRequestFactory(email=EMAIL)
    ErasureRequestFactory(email="other@example.com")
    send(request)
    client.force_login(operator(VIEW))
    changelist = reverse("admin:django_distinct_erasurerequest_changelist")
    response = client.get(changelist, {"q": EMAIL.upper()})
    assert list(response.context["cl"].result_list) == [request]


def test_hash_is_keyed(settings):
    settings.DISTINCT = {**settings.DISTINCT, "HASH_KEY": "one"}
    first = identifier_hash("email", EMAIL)
    settings.DISTINCT = {**settings.DISTINCT, "HASH_KEY": "two"}
    assert identifier_hash("email", EMAIL) != first
    settings.DISTINCT = {**settings.DISTINCT, "HASH_KEY": None}
    with override_settings(SECRET_KEY="another-secret-key-for-this-test"):
        other_secret = identifier_hash("email", EMAIL)
    assert identifier_hash("email", EMAIL) != other_secret


KEY = "dk_live_RECOGNISABLE_9f8e7d6c5b4a"


def test_the_api_key_never_reaches_any_output(
    distinct_server, distinct_fake, settings, caplog, client
):
    """Run every failure path with a recognisable key and look for it."""
    caplog.set_level(logging.DEBUG)
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": KEY, "TIMEOUT": (1, 0.3)}
    outputs = []

    def sweep():
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("distinct_erase", "-v", "2", stdout=out, stderr=err)
        except CommandError as exc:
            outputs.append(str(exc))
        outputs.extend([out.getvalue(), err.getvalue()])

    # Refused: unknown, expired, wrong IP, no scope.
    for options in (None, {"expired": True}, {"allowed_ips": ["10.0.0.9"]}):
        if options:
            distinct_fake.add_api_key(KEY, **options)
        ErasureRequestFactory()
        sweep()
    distinct_fake.add_api_key(KEY, can_delete=False)
    sweep()
    # Transient: 500, HTML 502, slow, dropped, then Distinct unreachable.
    distinct_fake.add_api_key(KEY)
    for kind in ("500", "502_html", "slow", "drop"):
        distinct_fake.inject(kind, delay=1.0)
        ErasureRequestFactory()
        sweep()
    # The admin and the API show what happened.
    client.force_login(operator(VIEW, RESEND))
    changelist = reverse("admin:django_distinct_erasurerequest_changelist")
    pks = list(ErasureRequest.objects.values_list("pk", flat=True))
    page = client.post(
        changelist, {"action": "resend", "_selected_action": pks}, follow=True
    )
    outputs.append(page.content.decode())
    for request in ErasureRequest.objects.all():
        outputs.append(
            client.get(
                reverse(
                    "admin:django_distinct_erasurerequest_change", args=[request.pk]
                )
            ).content.decode()
        )
    api = APIClient()
    api.force_authenticate(operator(VIEW, RESEND))
    outputs.append(api.get("/distinct/erasure-requests/").content.decode())
    settings.DISTINCT = {**settings.DISTINCT, "BASE_URL": "http://127.0.0.1:9"}
    ErasureRequestFactory()
    sweep()

    stored = [
        str(value)
        for model in (ErasureRequest, ErasureAttempt)
        for row in model.objects.values()
        for value in row.values()
    ]
    everything = "\n".join([*outputs, caplog.text, *stored])
    assert len(distinct_fake.requests) >= 8  # the paths above really ran
    assert "Unauthorized." in everything and "API key has expired." in everything
    assert KEY not in everything
    assert KEY[8:24] not in everything


def test_logs_mask_identifiers(distinct_server, distinct_fake, caplog, settings):
    caplog.set_level(logging.DEBUG, logger="django_distinct")
    settings.DISTINCT = {**settings.DISTINCT, "SEND_ON_COMMIT": False}
    UserFactory(email=EMAIL, phone=PHONE).delete()
    UserFactory(email="bad-address", phone="+1 415 555").delete()
    distinct_fake.inject("500")
    services.sweep()
    services.sweep()
    assert caplog.records  # something was logged
    assert "ann.private" not in caplog.text
    assert "4155552671" not in caplog.text
    assert "bad-address" not in caplog.text
