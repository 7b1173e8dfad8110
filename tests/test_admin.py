"""The admin pages and actions, through Django's test client."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from django_distinct.models import ErasureRequest, Source, Status, Trigger
from django_distinct.testing.factories import ErasureRequestFactory
from tests.factories import UserFactory
from tests.operators import ADD, RESEND, VIEW, VIEW_PII, operator

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_distinct_erasurerequest_changelist")


def change_url(request):
    return reverse("admin:django_distinct_erasurerequest_change", args=[request.pk])


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def resend(client, *requests):
    return client.post(
        CHANGELIST,
        {"action": "resend", "_selected_action": [r.pk for r in requests]},
        follow=True,
    )


def test_changelist_masks_identifiers(client):
    ErasureRequestFactory(user_id="77", email="anna@example.com", phone="+14155552671")
    client.force_login(operator(VIEW))
    page = client.get(CHANGELIST).content.decode()
    assert "a***@example.com" in page
    assert "+1******2671" in page
    assert "anna@example.com" not in page
    assert "4155552671" not in page


def test_search_on_the_id_sent(client):
    ErasureRequestFactory(user_id="77")
    ErasureRequestFactory(user_id="770")
    client.force_login(operator(VIEW))
    response = client.get(CHANGELIST, {"q": "77"})
    assert [r.user_id for r in response.context["cl"].result_list] == ["77"]


def test_filters_on_status_and_source(client):
    ErasureRequestFactory(failed=True, source=Source.API)
    ErasureRequestFactory()
    client.force_login(operator(VIEW))
    response = client.get(CHANGELIST, {"status__exact": "failed"})
    assert [r.status for r in response.context["cl"].result_list] == ["failed"]
    response = client.get(CHANGELIST, {"source__exact": "api"})
    assert [r.source for r in response.context["cl"].result_list] == ["api"]


def test_detail_is_read_only_with_its_history(client, distinct_server, distinct_fake):
    from django_distinct import services

    distinct_fake.inject("500")
    request = ErasureRequestFactory(email="anna@example.com")
    services.send(request.pk, trigger=Trigger.SWEEP)
    client.force_login(operator(VIEW))

    response = client.get(change_url(request))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Internal server error." in page  # the attempt, inline
    assert 'name="_save"' not in page
    assert "a***@example.com" in page and "anna@example.com" not in page


def test_detail_shows_identifiers_with_the_pii_permission(client):
    request = ErasureRequestFactory(email="anna@example.com")
    client.force_login(operator(VIEW, VIEW_PII))
    assert "anna@example.com" in client.get(change_url(request)).content.decode()


def test_outcomes_cannot_be_edited_added_or_deleted_by_staff(client):
    request = ErasureRequestFactory()
    client.force_login(operator(VIEW, ADD, RESEND))
    client.post(change_url(request), {"status": "succeeded"})
    assert ErasureRequest.objects.get().status == Status.PENDING
    add = reverse("admin:django_distinct_erasurerequest_add")
    assert client.get(add).status_code == 403
    delete = reverse("admin:django_distinct_erasurerequest_delete", args=[request.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ErasureRequest.objects.count() == 1


def test_superuser_may_delete(admin_client):
    request = ErasureRequestFactory()
    delete = reverse("admin:django_distinct_erasurerequest_delete", args=[request.pk])
    admin_client.post(delete, {"post": "yes"})
    assert ErasureRequest.objects.count() == 0


def test_resend_reports_each_outcome(client, distinct_server, distinct_fake):
    distinct_fake.add_user(email="a@example.com")
    ok = ErasureRequestFactory(email="a@example.com", failed=True)
    unknown = ErasureRequestFactory(email="b@example.com")
    invalid = ErasureRequestFactory(email='"c@home"@example.com')
    distinct_fake.inject("500", match=lambda body: body["email"] == "d@example.com")
    busy = ErasureRequestFactory(email="d@example.com")
    done = ErasureRequestFactory(status=Status.SUCCEEDED)
    staff = operator(VIEW, RESEND, username="ops")
    client.force_login(staff)

    response = resend(client, ok, unknown, invalid, busy, done)

    assert messages_of(response) == [
        "Re-sent 4: 1 succeeded, 1 not found, 1 failed, 1 still pending. "
        f"#{invalid.pk}: Distinct rejected the request: HTTP 400: Email must be a "
        "valid format (e.g. user@example.com). "
        "1 already final (succeeded or not found), not sent again."
    ]
    ok.refresh_from_db()
    assert ok.status == Status.SUCCEEDED
    attempt = ok.history.get()
    assert (attempt.trigger, attempt.actor) == (Trigger.ADMIN, "ops")
    done.refresh_from_db()
    assert done.status == Status.SUCCEEDED and not done.history.exists()


def test_resend_stops_at_a_configuration_refusal(
    client, distinct_server, distinct_fake, settings
):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "revoked"}
    requests = ErasureRequestFactory.create_batch(3)
    client.force_login(operator(VIEW, RESEND))

    response = resend(client, *requests)

    assert messages_of(response) == [
        "Stopped: Distinct refused this site's configuration (HTTP 401: "
        "Unauthorized.). Check DISTINCT['API_KEY']: Distinct does not accept "
        "it. 3 request(s) were not sent."
    ]
    assert len(distinct_fake.requests) == 1
    assert set(ErasureRequest.objects.values_list("status", flat=True)) == {"pending"}


def test_large_selection_is_queued(client, distinct_server, distinct_fake, settings):
    settings.DISTINCT = {**settings.DISTINCT, "ADMIN_RESEND_LIMIT": 2}
    requests = ErasureRequestFactory.create_batch(5, failed=True)
    client.force_login(operator(VIEW, RESEND))

    response = resend(client, *requests)

    assert messages_of(response) == [
        "Re-sent 2: 0 succeeded, 2 not found, 0 failed, 0 still pending. "
        "3 requests were queued for distinct_erase."
    ]
    assert len(distinct_fake.requests) == 2
    assert ErasureRequest.objects.filter(status=Status.PENDING).count() == 3


def test_action_hidden_and_refused_without_the_permission(
    client, distinct_server, distinct_fake
):
    request = ErasureRequestFactory()
    client.force_login(operator(VIEW))

    page = client.get(CHANGELIST).content.decode()
    assert "Re-send to Distinct" not in page

    response = resend(client, request)  # a forged POST
    # With no action it may run, the admin just shows the list again.
    assert response.status_code == 200
    assert messages_of(response) == []
    assert distinct_fake.requests == []
    assert not ErasureRequest.objects.get().history.exists()


def test_non_staff_cannot_reach_the_admin(client):
    client.force_login(operator(VIEW, RESEND, staff=False))
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


USERS = reverse("admin:testapp_user_changelist")


def test_erase_at_distinct_keeps_the_account(client, distinct_server, distinct_fake):
    distinct_fake.add_user(email="ann@example.com")
    person = UserFactory(email="ann@example.com")
    staff = operator(ADD, VIEW, username="ops")
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)

    response = client.post(
        USERS,
        {"action": "erase_at_distinct", "_selected_action": [person.pk]},
        follow=True,
    )

    assert messages_of(response) == [
        "Re-sent 1: 1 succeeded, 0 not found, 0 failed, 0 still pending."
    ]
    person.refresh_from_db()  # still here
    request = ErasureRequest.objects.get()
    assert request.source == Source.ADMIN
    assert request.user_id == str(person.pk)
    assert request.history.get().actor == "ops"


def test_erase_at_distinct_needs_its_permission(client, distinct_server, distinct_fake):
    person = UserFactory()
    staff = operator(VIEW)
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)

    assert "Erase at Distinct" not in client.get(USERS).content.decode()
    client.post(USERS, {"action": "erase_at_distinct", "_selected_action": [person.pk]})
    assert ErasureRequest.objects.count() == 0


def test_hold_and_cancel_ask_for_a_reason_then_apply(
    client, distinct_server, distinct_fake, settings
):
    settings.DISTINCT = {**settings.DISTINCT, "SEND_DELAY": 3600}
    from django_distinct import services
    from django_distinct.identifiers import Identity

    first = services.request_erasure(
        Identity(id="1", email="a@example.com"), source="admin"
    )
    second = services.request_erasure(
        Identity(id="2", email="b@example.com"), source="admin"
    )
    client.force_login(operator(VIEW, "hold_erasurerequest", username="legal"))
    selected = {"_selected_action": [first.pk]}

    page = client.post(CHANGELIST, {"action": "set_hold", **selected})
    assert page.status_code == 200
    assert 'name="reason"' in page.content.decode()
    assert not ErasureRequest.objects.get(pk=first.pk).is_held

    client.post(
        CHANGELIST,
        {"action": "set_hold", "apply": "1", "reason": "waiver claim", **selected},
    )
    first.refresh_from_db()
    assert (first.hold_reason, first.hold_set_by) == ("waiver claim", "legal")

    response = client.post(
        CHANGELIST,
        {
            "action": "cancel",
            "apply": "1",
            "reason": "changed their mind",
            "_selected_action": [second.pk],
        },
        follow=True,
    )
    assert messages_of(response)[-1] == (
        "Cancelled 1; 0 could not be (already sent or final)."
    )
    second.refresh_from_db()
    assert second.cancelled_by == "legal"
    assert second.failure_reason == "cancelled by legal: changed their mind"
