"""The REST API, through DRF's APIClient."""

import pytest
from rest_framework.test import APIClient

from django_distinct.models import ErasureRequest, Source, Status, Trigger
from django_distinct.testing.factories import ErasureRequestFactory
from tests.operators import ADD, RESEND, VIEW, VIEW_PII, operator

pytestmark = pytest.mark.django_db

LIST = "/distinct/erasure-requests/"


def detail(request):
    return f"{LIST}{request.pk}/"


def as_user(*codenames, **fields):
    client = APIClient()
    client.force_authenticate(operator(*codenames, **fields))
    return client


def test_list_is_paginated_and_masked():
    ErasureRequestFactory.create_batch(3, email="anna@example.com", phone="")
    response = as_user(VIEW).get(LIST, {"page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"].endswith("page=2&page_size=2")
    assert body["results"][0]["email"] == "a***@example.com"
    assert "history" not in body["results"][0]


def test_list_filters_by_status():
    ErasureRequestFactory(failed=True)
    ErasureRequestFactory()
    body = as_user(VIEW).get(LIST, {"status": "failed"}).json()
    assert [r["status"] for r in body["results"]] == ["failed"]


def test_unknown_status_filter_is_a_400():
    response = as_user(VIEW).get(LIST, {"status": "done"})
    assert response.status_code == 400
    assert response.json() == {
        "status": ["Choose one of: pending, succeeded, not_found, failed."]
    }


def test_detail_has_the_history(distinct_server, distinct_fake):
    from django_distinct import services

    distinct_fake.inject("500")
    request = ErasureRequestFactory()
    services.send(request.pk, trigger=Trigger.SWEEP)

    body = as_user(VIEW).get(detail(request)).json()
    assert body["id"] == request.pk
    assert body["status"] == "pending"
    assert body["attempts"] == 1
    assert [
        (a["outcome"], a["http_status"], a["message"]) for a in body["history"]
    ] == [("retry", 500, "Internal server error.")]


def test_pii_permission_unmasks():
    request = ErasureRequestFactory(email="anna@example.com", phone="+14155552671")
    body = as_user(VIEW, VIEW_PII).get(detail(request)).json()
    assert (body["email"], body["phone"]) == ("anna@example.com", "+14155552671")


def test_create_sends_at_once(distinct_server, distinct_fake, settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    distinct_fake.add_user(phone="+14155552671")
    client = as_user(ADD, username="support-bot")

    response = client.post(
        LIST, {"id": "crm-7", "phone": "(415) 555-2671"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["user_id"] == "crm-7"
    assert body["phone"] == "+1******2671"
    assert body["history"][0]["actor"] == "support-bot"
    assert body["history"][0]["trigger"] == "api"
    assert distinct_fake.requests[0].json == {"id": "crm-7", "phone": "+14155552671"}
    assert ErasureRequest.objects.get().source == Source.API


@pytest.mark.parametrize(
    "payload, errors",
    [
        pytest.param(
            {"email": "a@example.com"},
            {"id": ["This field is required."]},
            id="no-id",
        ),
        pytest.param(
            {"id": "7"},
            {"non_field_errors": ["Give an email, a phone, or both."]},
            id="no-identifier",
        ),
        pytest.param(
            {"id": "7", "email": "nope"},
            {"email": ["Enter a valid email address."]},
            id="bad-email",
        ),
        pytest.param(
            {"id": "7", "phone": "+1 415 555"},
            {"phone": ["Enter a valid phone number."]},
            id="bad-phone",
        ),
        pytest.param(
            {"id": "", "email": "a@example.com"},
            {"id": ["This field may not be blank."]},
            id="blank-id",
        ),
        pytest.param(
            {"id": "x" * 256, "email": "a@example.com"},
            {"id": ["Ensure this field has no more than 255 characters."]},
            id="long-id",
        ),
    ],
)
def test_create_validates_by_distincts_rules(distinct_server, payload, errors):
    response = as_user(ADD).post(LIST, payload, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert distinct_server.fake.requests == []
    assert ErasureRequest.objects.count() == 0


def test_resend_one(distinct_server, distinct_fake):
    distinct_fake.add_user(email="a@example.com")
    request = ErasureRequestFactory(email="a@example.com", failed=True)
    response = as_user(VIEW, RESEND, username="ops").post(f"{detail(request)}resend/")
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert request.history.get().actor == "ops"


def test_resend_of_a_final_request_is_a_conflict(distinct_server, distinct_fake):
    request = ErasureRequestFactory(status=Status.NOT_FOUND)
    response = as_user(VIEW, RESEND).post(f"{detail(request)}resend/")
    assert response.status_code == 409
    assert distinct_fake.requests == []


def test_resend_reports_a_configuration_refusal(distinct_server, settings):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "revoked"}
    request = ErasureRequestFactory()
    response = as_user(VIEW, RESEND).post(f"{detail(request)}resend/")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Distinct refused this site's configuration: Unauthorized.",
        "distinct_status": 401,
    }
    assert "revoked" not in response.content.decode()


@pytest.mark.parametrize(
    "codenames, method, url, expected",
    [
        pytest.param((), "get", LIST, 403, id="staff-without-view"),
        pytest.param((VIEW,), "post", LIST, 403, id="create-without-add"),
        pytest.param((VIEW, ADD), "resend", None, 403, id="resend-without-perm"),
    ],
)
def test_permissions(distinct_server, codenames, method, url, expected):
    request = ErasureRequestFactory()
    client = as_user(*codenames)
    if method == "resend":
        response = client.post(f"{detail(request)}resend/")
    elif method == "post":
        response = client.post(url, {"id": "7", "email": "a@b.io"}, format="json")
    else:
        response = client.get(url)
    assert response.status_code == expected
    assert distinct_server.fake.requests == []


def test_ordinary_users_get_nothing():
    ErasureRequestFactory(email="anna@example.com")
    client = as_user(VIEW, VIEW_PII, staff=False)
    response = client.get(LIST)
    assert response.status_code == 403
    assert "anna" not in response.content.decode()


def test_anonymous_gets_401_or_403_and_no_data():
    ErasureRequestFactory(email="anna@example.com")
    response = APIClient().get(LIST)
    assert response.status_code in (401, 403)
    assert "anna" not in response.content.decode()


class EveryoneMayRead:
    def has_permission(self, request, view):
        return request.method == "GET"

    def has_object_permission(self, request, view, obj):
        return True


def test_permission_classes_can_be_swapped(settings):
    settings.DISTINCT = {
        **settings.DISTINCT,
        "API_PERMISSION_CLASSES": ["tests.test_api.EveryoneMayRead"],
    }
    ErasureRequestFactory()
    assert APIClient().get(LIST).status_code == 200
    assert APIClient().post(LIST, {}).status_code in (401, 403)
