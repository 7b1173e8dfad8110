"""Tests of the in-memory Distinct double and its ``responses`` adapter."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
import responses

from django_distinct import conf
from django_distinct.testing import FakeDistinct
from django_distinct.testing.fake import FAULT_KINDS, FakeResponse
from django_distinct.testing.responses import use_responses

KEY = "test-api-key"
EMAIL = "john.doe@example.com"
PHONE = "+14155552671"
USER_ID = "f090a4a1-c447-461e-84aa-8f36b6431b94"
JSON_TYPE = {"Content-Type": "application/json"}


def post(
    fake: FakeDistinct,
    body: Any,
    *,
    key: str | None = KEY,
    client_ip: str = "127.0.0.1",
    path: str = conf.DELETE_PATH,
    method: str = "POST",
) -> FakeResponse:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["x-distinct-api-key"] = key
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return fake.handle(
        method=method, path=path, headers=headers, body=raw, client_ip=client_ip
    )


def answer(status_code: int, message: str) -> dict[str, Any]:
    return {"statusCode": status_code, "message": message, "data": None}


@pytest.fixture
def fake() -> FakeDistinct:
    fake = FakeDistinct()
    fake.add_api_key("expired-key", expired=True)
    fake.add_api_key("office-key", allowed_ips={"10.0.0.7"})
    fake.add_api_key("read-only-key", can_delete=False)
    return fake


@pytest.fixture
def john(fake: FakeDistinct):
    return fake.add_user(
        email=EMAIL,
        phone=PHONE,
        name="John Doe",
        date_of_birth="1990-04-01",
        address="1 Market St",
        selfie="selfie.jpg",
        waiver_signature="sig.png",
    )


# Every row of the reference's response table.

TABLE = [
    pytest.param(
        {"id": USER_ID, "email": EMAIL},
        {},
        200,
        answer(200, "User data deleted successfully."),
        id="200-deleted",
    ),
    pytest.param(
        {"id": USER_ID, "email": "nobody@example.com"},
        {},
        200,
        answer(200, "User not found."),
        id="200-not-found",
    ),
    pytest.param(
        {"id": USER_ID},
        {},
        400,
        answer(400, "Either email or phone is required."),
        id="400-no-email-or-phone",
    ),
    pytest.param(
        {"email": EMAIL},
        {},
        400,
        answer(400, "User id is required."),
        id="400-no-id",
    ),
    pytest.param(
        {"id": USER_ID, "email": "john.doe"},
        {},
        400,
        answer(400, "Email must be a valid format (e.g. user@example.com)."),
        id="400-bad-email",
    ),
    pytest.param(
        {"id": USER_ID, "phone": "4155552671"},
        {},
        400,
        answer(400, "Phone number must be a valid E.164 format (e.g. +14155552671)."),
        id="400-bad-phone",
    ),
    pytest.param(
        {"id": USER_ID, "email": EMAIL},
        {"key": "read-only-key"},
        400,
        answer(500, "Insufficient permission scope for this operation."),
        id="400-insufficient-scope-body-says-500",
    ),
    pytest.param(
        {"id": USER_ID, "email": EMAIL},
        {"key": None},
        401,
        answer(401, "Unauthorized."),
        id="401-missing-key",
    ),
    pytest.param(
        {"id": USER_ID, "email": EMAIL},
        {"key": "not-a-key"},
        401,
        answer(401, "Unauthorized."),
        id="401-unknown-key",
    ),
    pytest.param(
        {"id": USER_ID, "email": EMAIL},
        {"key": "office-key", "client_ip": "10.0.0.8"},
        403,
        answer(403, "Request IP address is not allowed for this API key."),
        id="403-ip-not-allowed",
    ),
    pytest.param(
        {"id": USER_ID, "email": EMAIL},
        {"key": "expired-key"},
        403,
        answer(403, "API key has expired."),
        id="403-key-expired",
    ),
]


@pytest.mark.parametrize(("body", "options", "status", "expected"), TABLE)
def test_response_table(fake, john, body, options, status, expected):
    response = post(fake, body, **options)

    assert response.status == status
    assert response.json() == expected
    assert response.headers["Content-Type"] == "application/json"
    assert john.erased is (expected["message"] == "User data deleted successfully.")


def test_documented_500_body_for_injected_server_error(fake, john):
    fake.inject("500")

    response = post(fake, {"id": USER_ID, "email": EMAIL})

    assert response.status == 500
    assert response.json() == answer(500, "Internal server error.")
    assert not john.erased


def test_body_bytes_match_the_reference_exactly(fake, john):
    response = post(fake, {"id": USER_ID, "email": EMAIL})

    assert response.body == (
        b'{"statusCode": 200, "message": "User data deleted successfully.", '
        b'"data": null}'
    )


def test_allowed_ip_may_use_its_key(fake, john):
    response = post(
        fake, {"id": USER_ID, "phone": PHONE}, key="office-key", client_ip="10.0.0.7"
    )

    assert response.json()["message"] == "User data deleted successfully."


def test_empty_allowlist_admits_no_address(fake, john):
    fake.add_api_key("locked-key", allowed_ips=[])

    response = post(fake, {"id": USER_ID, "email": EMAIL}, key="locked-key")

    assert response.status == 403
    assert not john.erased


def test_key_header_name_is_case_insensitive(fake, john):
    response = fake.handle(
        method="post",
        path=conf.DELETE_PATH,
        headers={"X-Distinct-API-Key": KEY},
        body=json.dumps({"id": USER_ID, "email": EMAIL}).encode(),
    )

    assert response.status == 200
    assert john.erased


# Check order: each pair breaks two rules, and the earlier check must win.

ORDER = [
    pytest.param(
        "not-a-key",
        "127.0.0.1",
        b"not json",
        answer(401, "Unauthorized."),
        id="key-before-body",
    ),
    pytest.param(
        "expired-office-key",
        "10.9.9.9",
        {"id": USER_ID, "email": EMAIL},
        answer(403, "API key has expired."),
        id="expiry-before-ip",
    ),
    pytest.param(
        "read-only-key",
        "127.0.0.1",
        {"id": ""},
        answer(500, "Insufficient permission scope for this operation."),
        id="scope-before-body",
    ),
]


@pytest.mark.parametrize(("key", "client_ip", "body", "expected"), ORDER)
def test_check_order(fake, key, client_ip, body, expected):
    fake.add_api_key("expired-office-key", expired=True, allowed_ips={"10.0.0.7"})

    response = post(fake, body, key=key, client_ip=client_ip)

    assert response.json() == expected


def test_ip_check_before_scope(fake):
    fake.add_api_key("office-read-only", allowed_ips={"10.0.0.7"}, can_delete=False)

    response = post(fake, {"id": USER_ID, "email": EMAIL}, key="office-read-only")

    assert response.json() == answer(
        403, "Request IP address is not allowed for this API key."
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({}, "User id is required.", id="id-before-contact"),
        pytest.param(
            {"id": USER_ID, "email": "x", "phone": "y"},
            "Email must be a valid format (e.g. user@example.com).",
            id="email-before-phone",
        ),
        pytest.param(
            {"id": USER_ID, "email": EMAIL, "phone": "y"},
            "Phone number must be a valid E.164 format (e.g. +14155552671).",
            id="good-email-bad-phone",
        ),
    ],
)
def test_body_check_order(fake, body, message):
    assert post(fake, body).json() == answer(400, message)


# Strictness: what the double refuses so our client's bugs show.

NOT_A_JSON_OBJECT = answer(400, "Request body must be a JSON object.")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"id=1&email=x", id="form-encoded"),
        pytest.param(b'[{"id": "1"}]', id="list"),
        pytest.param(b'"just a string"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"id": "\xff"}', id="not-utf8"),
    ],
)
def test_body_must_be_a_json_object(fake, raw):
    response = post(fake, raw)

    assert response.status == 400
    assert response.json() == NOT_A_JSON_OBJECT


@pytest.mark.parametrize(
    "user_id",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(None, id="null"),
        pytest.param(42, id="number"),
        pytest.param(["1"], id="list"),
    ],
)
def test_id_must_be_a_non_blank_string(fake, john, user_id):
    response = post(fake, {"id": user_id, "email": EMAIL})

    assert response.json() == answer(400, "User id is required.")
    assert not john.erased


BAD_EMAIL = answer(400, "Email must be a valid format (e.g. user@example.com).")
BAD_PHONE = answer(
    400, "Phone number must be a valid E.164 format (e.g. +14155552671)."
)


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("", id="empty-string"),
        pytest.param(None, id="null"),
        pytest.param(123, id="number"),
        pytest.param("john.doe@", id="no-domain"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("john.doe@example", id="undotted-domain"),
        pytest.param("john doe@example.com", id="space"),
        pytest.param(" john.doe@example.com", id="leading-space"),
        pytest.param("john.doe@example.com\n", id="trailing-newline"),
        pytest.param("john@doe@example.com", id="two-ats"),
        pytest.param("john.doe@example..com", id="empty-label"),
    ],
)
def test_email_strictness(fake, john, email):
    response = post(fake, {"id": USER_ID, "email": email, "phone": PHONE})

    assert response.status == 400
    assert response.json() == BAD_EMAIL
    assert not john.erased


@pytest.mark.parametrize(
    "phone",
    [
        pytest.param("", id="empty-string"),
        pytest.param(None, id="null"),
        pytest.param(14155552671, id="number"),
        pytest.param("14155552671", id="no-plus"),
        pytest.param("+1 415 555 2671", id="spaces"),
        pytest.param("+1-415-555-2671", id="dashes"),
        pytest.param("+1(415)5552671", id="parentheses"),
        pytest.param("+04155552671", id="leading-zero-country"),
        pytest.param("+1", id="too-short"),
        pytest.param("+1234567890123456", id="sixteen-digits"),
        pytest.param("+14155552671\n", id="trailing-newline"),
        pytest.param("+\u0661\u0664\u0661\u0665\u0665\u0665", id="arabic-digits"),
    ],
)
def test_phone_strictness(fake, john, phone):
    response = post(fake, {"id": USER_ID, "email": EMAIL, "phone": phone})

    assert response.status == 400
    assert response.json() == BAD_PHONE
    assert not john.erased


@pytest.mark.parametrize(
    "phone",
    [
        pytest.param("+12", id="shortest"),
        pytest.param("+123456789012345", id="fifteen-digits"),
    ],
)
def test_phone_length_bounds_accepted(fake, phone):
    assert post(fake, {"id": USER_ID, "phone": phone}).json() == answer(
        200, "User not found."
    )


def test_unknown_body_keys_are_ignored(fake, john):
    response = post(fake, {"id": USER_ID, "email": EMAIL, "name": "John"})

    assert response.json()["message"] == "User data deleted successfully."


# Matching.

DELETED = answer(200, "User data deleted successfully.")
NOT_FOUND = answer(200, "User not found.")


@pytest.mark.parametrize(
    ("identifiers", "expected"),
    [
        pytest.param({"email": EMAIL}, DELETED, id="email"),
        pytest.param({"phone": PHONE}, DELETED, id="phone"),
        pytest.param({"email": EMAIL, "phone": PHONE}, DELETED, id="both"),
        pytest.param({"email": "JOHN.Doe@Example.COM"}, DELETED, id="email-case"),
        pytest.param(
            {"email": EMAIL, "phone": "+14155550000"}, NOT_FOUND, id="phone-differs"
        ),
        pytest.param(
            {"email": "jane@example.com", "phone": PHONE},
            NOT_FOUND,
            id="email-differs",
        ),
    ],
)
def test_matching(fake, john, identifiers, expected):
    response = post(fake, {"id": USER_ID, **identifiers})

    assert response.json() == expected
    assert john.erased is (expected == DELETED)


def test_both_identifiers_must_belong_to_the_same_user(fake):
    alice = fake.add_user(email="alice@example.com", phone="+442071838750")
    bob = fake.add_user(email="bob@example.com", phone="+14155552671")

    response = post(
        fake, {"id": USER_ID, "email": "alice@example.com", "phone": "+14155552671"}
    )

    assert response.json() == NOT_FOUND
    assert not alice.erased
    assert not bob.erased


def test_matching_ignores_id(fake, john):
    response = post(fake, {"id": "some-other-id", "email": EMAIL})

    assert response.json() == DELETED


def test_delete_erases_pii_and_keeps_the_record(fake, john):
    other = fake.add_user(email="jane@example.com", name="Jane")

    post(fake, {"id": USER_ID, "phone": PHONE})

    assert fake.users == [john, other]
    assert john.erased
    assert (
        john.email,
        john.phone,
        john.name,
        john.date_of_birth,
        john.address,
        john.selfie,
        john.waiver_signature,
    ) == (None,) * 7
    assert other.as_dict() == {
        "email": "jane@example.com",
        "phone": None,
        "name": "Jane",
        "date_of_birth": None,
        "address": None,
        "selfie": None,
        "waiver_signature": None,
        "erased": False,
    }


def test_re_delete_answers_not_found(fake, john):
    first = post(fake, {"id": USER_ID, "email": EMAIL, "phone": PHONE})
    again_email = post(fake, {"id": USER_ID, "email": EMAIL})
    again_phone = post(fake, {"id": USER_ID, "phone": PHONE})

    assert first.json() == DELETED
    assert (again_email.status, again_email.json()) == (200, NOT_FOUND)
    assert (again_phone.status, again_phone.json()) == (200, NOT_FOUND)
    assert len(fake.users) == 1


def test_new_user_may_reuse_an_erased_users_email(fake, john):
    post(fake, {"id": USER_ID, "email": EMAIL})
    newcomer = fake.add_user(email=EMAIL)

    response = post(fake, {"id": "second", "email": EMAIL})

    assert response.json() == DELETED
    assert newcomer.erased


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({}, ValueError, id="no-identifier"),
        pytest.param({"phone": "+1 415 555 2671"}, ValueError, id="bad-phone"),
        pytest.param({"email": "not-an-email"}, ValueError, id="bad-email"),
        pytest.param({"email": "JOHN.DOE@example.com"}, ValueError, id="dup-email"),
        pytest.param({"phone": PHONE}, ValueError, id="dup-phone"),
        pytest.param({"email": "x@example.com", "ssn": "1"}, TypeError, id="unknown"),
        pytest.param(
            {"email": "x@example.com", "erased": True}, TypeError, id="erased"
        ),
    ],
)
def test_add_user_refuses(fake, john, fields, error):
    with pytest.raises(error):
        fake.add_user(**fields)

    assert fake.users == [john]


def test_add_users_is_all_or_nothing(fake):
    with pytest.raises(ValueError, match="user 1"):
        fake.add_users([{"email": "a@example.com"}, {"email": "a@example.com"}])

    assert fake.users == []


def test_add_user_errors_hold_no_pii(fake, john):
    with pytest.raises(ValueError) as caught:
        fake.add_user(email=EMAIL)

    assert EMAIL not in str(caught.value)


def test_allowed_ips_must_not_be_a_string(fake):
    with pytest.raises(TypeError):
        fake.add_api_key("k", allowed_ips="10.0.0.7")


# Routing outside the endpoint.


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        pytest.param("GET", conf.DELETE_PATH, 405, "Method not allowed.", id="get"),
        pytest.param("DELETE", conf.DELETE_PATH, 405, "Method not allowed.", id="del"),
        pytest.param("POST", conf.DELETE_PATH + "/", 404, "Not found.", id="slash"),
        pytest.param("POST", "/api/v1/users", 404, "Not found.", id="other-path"),
    ],
)
def test_routing(fake, john, method, path, status, message):
    response = post(
        fake, {"id": USER_ID, "email": EMAIL}, method=method, path=path, key=None
    )

    assert response.status == status
    assert response.json() == answer(status, message)
    assert response.headers["Content-Type"] == "application/json"
    assert ("Allow" in response.headers) is (status == 405)
    assert not john.erased


def test_query_string_is_ignored_for_routing(fake, john):
    response = post(
        fake, {"id": USER_ID, "email": EMAIL}, path=conf.DELETE_PATH + "?x=1"
    )

    assert response.json() == DELETED
    assert fake.requests[0].path == conf.DELETE_PATH + "?x=1"


# The request log.


def test_every_request_is_recorded(fake, john):
    post(fake, {"id": USER_ID, "email": EMAIL}, client_ip="192.0.2.1")
    post(fake, b"garbage", key=None)

    first, second = fake.requests

    assert first.method == "POST"
    assert first.path == conf.DELETE_PATH
    assert first.json == {"id": USER_ID, "email": EMAIL}
    assert first.client_ip == "192.0.2.1"
    assert (first.status, first.message) == (200, "User data deleted successfully.")
    assert first.headers["X-DISTINCT-API-KEY"] == KEY
    assert first.headers.get("content-type") == "application/json"
    assert first.fault is None
    assert (second.json, second.body) == (None, b"garbage")
    assert (second.status, second.message) == (401, "Unauthorized.")
    assert first.time <= second.time


def test_as_dict_redacts_the_key_and_serialises(fake):
    post(fake, {"id": USER_ID, "email": EMAIL})

    dumped = json.loads(json.dumps(fake.requests[0].as_dict()))

    assert dumped["headers"]["x-distinct-api-key"] == "[redacted]"
    assert KEY not in json.dumps(dumped)
    assert dumped["json"] == {"id": USER_ID, "email": EMAIL}
    assert dumped["status"] == 200


def test_posts_for_and_count_by_id(fake, john):
    post(fake, {"id": "a", "email": EMAIL})
    post(fake, {"id": "a", "email": EMAIL})
    post(fake, {"id": "b", "phone": PHONE})
    post(fake, {"id": "a", "email": EMAIL}, method="GET")
    post(fake, {"id": 7, "email": EMAIL})

    assert [r.message for r in fake.posts_for("a")] == [
        "User data deleted successfully.",
        "User not found.",
    ]
    assert fake.count_by_id() == {"a": 2, "b": 1}


def test_reset_forgets_users_requests_and_faults_but_keeps_keys(fake, john):
    fake.inject("500", times=None)
    post(fake, {"id": USER_ID, "email": EMAIL})

    fake.reset()
    fake.add_user(email=EMAIL)
    response = post(
        fake, {"id": USER_ID, "email": EMAIL}, key="office-key", client_ip="10.0.0.7"
    )

    assert response.json() == DELETED
    assert len(fake.requests) == 1
    assert len(fake.users) == 1


# Faults.

FAULTS = [
    pytest.param(
        "500", 500, "application/json", answer(500, "Internal server error."), id="500"
    ),
    pytest.param("502_html", 502, "text/html", None, id="502-html"),
    pytest.param("503_html", 503, "text/html", None, id="503-html"),
    pytest.param("200_non_json", 200, "text/html", None, id="200-non-json"),
    pytest.param(
        "200_unknown",
        200,
        "application/json",
        answer(200, "User deletion has been scheduled."),
        id="200-unknown",
    ),
    pytest.param(
        "429", 429, "application/json", answer(429, "Too many requests."), id="429"
    ),
]


@pytest.mark.parametrize(("kind", "status", "content_type", "body"), FAULTS)
def test_fault_replaces_the_answer(fake, john, kind, status, content_type, body):
    fake.inject(kind)

    faulted = post(fake, {"id": USER_ID, "email": EMAIL})
    after = post(fake, {"id": USER_ID, "email": EMAIL})

    assert faulted.status == status
    assert faulted.headers["Content-Type"].startswith(content_type)
    if body is None:
        with pytest.raises(ValueError):
            faulted.json()
        assert faulted.body.startswith(b"<html>")
    else:
        assert faulted.json() == body
    assert after.json() == DELETED
    assert [r.fault for r in fake.requests] == [kind, None]
    assert fake.requests[0].status == status


def test_429_carries_retry_after(fake):
    fake.inject("429", retry_after=7)

    response = post(fake, {"id": USER_ID, "email": EMAIL})

    assert response.headers["Retry-After"] == "7"


def test_slow_answers_the_contract_late(fake, john):
    fake.inject("slow", delay=2.5)

    response = post(fake, {"id": USER_ID, "email": EMAIL})

    assert response.delay == 2.5
    assert response.json() == DELETED
    assert john.erased
    assert fake.requests[0].fault == "slow"


def test_drop_answers_nothing_and_deletes_nothing(fake, john):
    fake.inject("drop")

    response = post(fake, {"id": USER_ID, "email": EMAIL})

    assert response.drop is True
    assert not john.erased
    assert (fake.requests[0].status, fake.requests[0].message) == (None, None)
    assert fake.requests[0].fault == "drop"


@pytest.mark.parametrize("kind", ["drop", "500", "502_html"])
def test_processed_fault_erases_behind_the_failure(fake, john, kind):
    fake.inject(kind, processed=True)

    post(fake, {"id": USER_ID, "email": EMAIL})
    retry = post(fake, {"id": USER_ID, "email": EMAIL})

    assert john.erased
    assert retry.json() == NOT_FOUND


def test_fault_times_and_forever(fake):
    fake.inject("500", times=2)

    statuses = [post(fake, {"id": USER_ID, "email": EMAIL}).status for _ in range(3)]

    assert statuses == [500, 500, 200]

    fake.inject("503_html", times=None)

    assert {post(fake, {"id": USER_ID, "email": EMAIL}).status for _ in range(5)} == {
        503
    }


def test_fault_match_selects_requests(fake):
    fault = fake.inject("500", match=lambda body: body["id"] == "victim")

    other = post(fake, {"id": "bystander", "email": EMAIL})
    hit = post(fake, {"id": "victim", "email": EMAIL})
    after = post(fake, {"id": "victim", "email": EMAIL})

    assert (other.status, hit.status, after.status) == (200, 500, 200)
    assert fault.remaining == 0


def test_faults_are_used_in_injection_order(fake):
    fake.inject("500")
    fake.inject("429")

    statuses = [post(fake, {"id": USER_ID, "email": EMAIL}).status for _ in range(3)]

    assert statuses == [500, 429, 200]


def test_faults_skip_other_routes(fake):
    fake.inject("500")

    wrong_method = post(fake, {"id": USER_ID, "email": EMAIL}, method="GET")
    endpoint = post(fake, {"id": USER_ID, "email": EMAIL})

    assert (wrong_method.status, endpoint.status) == (405, 500)


def test_fault_runs_before_the_key_check(fake):
    fake.inject("502_html")

    assert post(fake, {"id": USER_ID, "email": EMAIL}, key=None).status == 502


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"kind": "teapot"}, id="unknown-kind"),
        pytest.param({"kind": "500", "times": 0}, id="zero-times"),
        pytest.param({"kind": "slow", "delay": -1}, id="negative-delay"),
    ],
)
def test_inject_refuses(fake, kwargs):
    with pytest.raises(ValueError):
        fake.inject(**kwargs)


def test_fault_kinds_are_the_documented_eight():
    assert set(FAULT_KINDS) == {
        "500",
        "502_html",
        "503_html",
        "200_non_json",
        "200_unknown",
        "429",
        "slow",
        "drop",
    }


# Thread safety.


def test_concurrent_deletes_of_one_user_erase_it_once(fake, john):
    results: list[str] = []
    start = threading.Barrier(16)

    def delete() -> None:
        start.wait()
        results.append(post(fake, {"id": USER_ID, "email": EMAIL}).json()["message"])

    threads = [threading.Thread(target=delete) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (
        sorted(results)
        == ["User data deleted successfully."] + ["User not found."] * 15
    )
    assert len(fake.requests) == 16


# The responses adapter.


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_responses_adapter_answers_from_the_fake(fake, john, rsps, settings):
    use_responses(fake, rsps)
    url = conf.delete_url()

    response = requests.post(
        url, json={"id": USER_ID, "email": EMAIL}, headers={"x-distinct-api-key": KEY}
    )

    assert url.startswith(settings.DISTINCT["BASE_URL"])
    assert response.status_code == 200
    assert response.json() == DELETED
    assert response.headers["Content-Type"] == "application/json"
    assert john.erased
    assert fake.requests[0].headers["x-distinct-api-key"] == KEY


def test_responses_adapter_takes_a_base_url_and_client_ip(fake, john, rsps):
    use_responses(fake, rsps, "https://elsewhere.test/", client_ip="10.0.0.7")

    response = requests.post(
        "https://elsewhere.test" + conf.DELETE_PATH,
        json={"id": USER_ID, "email": EMAIL},
        headers={"x-distinct-api-key": "office-key"},
    )

    assert response.json() == DELETED
    assert fake.requests[0].client_ip == "10.0.0.7"


def test_responses_adapter_passes_faults_and_headers(fake, rsps):
    use_responses(fake, rsps)
    fake.inject("429", retry_after=30)
    fake.inject("503_html")

    throttled = requests.post(conf.delete_url(), json={"id": USER_ID, "email": EMAIL})
    unavailable = requests.post(conf.delete_url(), json={"id": USER_ID, "email": EMAIL})

    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "30")
    assert unavailable.status_code == 503
    assert unavailable.headers["Content-Type"].startswith("text/html")


def test_responses_adapter_drop_raises_connection_error(fake, john, rsps):
    use_responses(fake, rsps)
    fake.inject("drop")

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            conf.delete_url(),
            json={"id": USER_ID, "email": EMAIL},
            headers={"x-distinct-api-key": KEY},
        )

    assert not john.erased
    assert len(fake.requests) == 1


def test_responses_adapter_slow_raises_read_timeout_after_deleting(fake, john, rsps):
    use_responses(fake, rsps)
    fake.inject("slow", delay=0.01)

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            conf.delete_url(),
            json={"id": USER_ID, "email": EMAIL},
            headers={"x-distinct-api-key": KEY},
            timeout=5,
        )

    assert john.erased
