"""Identifiers as sites really store them, deleted for real: what goes out."""

import pytest

from django_distinct.models import ErasureRequest, Status
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


ROWS = [
    # (email as stored, phone as stored, PHONENUMBER_DEFAULT_REGION, payload)
    ("ANN@EXAMPLE.COM", "", None, {"email": "ANN@example.com"}),
    ("  ann@example.com \t", "", None, {"email": "ann@example.com"}),
    ("ann+shop@example.com", "", None, {"email": "ann+shop@example.com"}),
    ("anna@bücher.de", "", None, {"email": "anna@bücher.de"}),
    ("ann.example.com", "", None, None),
    ("ann.example.com", "+14155552671", None, {"phone": "+14155552671"}),
    ("", "(415) 555-2671", "US", {"phone": "+14155552671"}),
    ("", "(415) 555-2671", None, None),  # never guess a country
    ("", "415 555 2671", "US", {"phone": "+14155552671"}),
    ("", "415-555-2671", "US", {"phone": "+14155552671"}),
    ("", "415.555.2671", "US", {"phone": "+14155552671"}),
    ("", "+1 (415) 555-2671", None, {"phone": "+14155552671"}),
    ("", "0044 20 7946 0958", "GB", {"phone": "+442079460958"}),
    ("", "0044 20 7946 0958", "DE", {"phone": "+442079460958"}),
    ("", "011 44 20 7946 0958", "US", {"phone": "+442079460958"}),
    ("", "00 44 20 7946 0958", None, None),
    ("", "+1 415 555 2671 ext. 204", None, {"phone": "+14155552671"}),
    ("", "+1 415 555 2671 x204", None, {"phone": "+14155552671"}),
    ("", "555-2671", "US", None),  # too short
    ("", "+1 415", None, None),
    ("", "", None, None),
    ("", "   ", "US", None),
    (
        "ann@example.com",
        "+44 20 7946 0958",
        None,
        {
            "email": "ann@example.com",
            "phone": "+442079460958",
        },
    ),
]


@pytest.mark.parametrize(
    "email, phone, region, payload",
    ROWS,
    ids=[f"{e.strip() or '-'}|{p.strip() or '-'}|{r or '-'}" for e, p, r, _ in ROWS],
)
def test_what_is_sent_for_stored_identifiers(
    distinct_server,
    distinct_fake,
    settings,
    django_capture_on_commit_callbacks,
    email,
    phone,
    region,
    payload,
):
    settings.PHONENUMBER_DEFAULT_REGION = region
    settings.DISTINCT = {**settings.DISTINCT, "USER_PHONE_FIELD": "profile.mobile"}
    profile = ProfileFactory(user=UserFactory(email=email), mobile=phone)
    user_id = str(profile.user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        profile.user.delete()

    request = ErasureRequest.objects.get()
    if payload is None:
        assert distinct_fake.requests == []
        assert request.status == Status.FAILED
        assert request.failure_reason.startswith("nothing valid to send: ")
    else:
        (received,) = distinct_fake.requests
        assert received.json == {"id": user_id, **payload}


@pytest.mark.parametrize("email", [None, ""])
def test_none_and_empty_are_never_sent(
    distinct_server, distinct_fake, django_capture_on_commit_callbacks, email
):
    user = UserFactory(email="placeholder@example.com", phone="+14155552671")
    user.email = email  # as a site with a nullable column would hold it
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    (received,) = distinct_fake.requests
    assert received.json == {"id": str(received.json["id"]), "phone": "+14155552671"}
    assert "email" not in received.json
