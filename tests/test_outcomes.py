import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.http import http_date

from django_distinct.outcomes import (
    Outcome,
    classify_response,
    fold,
    refusal_text,
    retry_after_seconds,
)


def body(status_code, message):
    return json.dumps(
        {"statusCode": status_code, "message": message, "data": None}
    ).encode()


# Every row of Distinct's documented response table.
DOCUMENTED = [
    pytest.param(
        200, 200, "User data deleted successfully.", Outcome.SUCCEEDED, id="deleted"
    ),
    pytest.param(200, 200, "User not found.", Outcome.NOT_FOUND, id="not-found"),
    pytest.param(
        400, 400, "Either email or phone is required.", Outcome.REJECTED, id="no-ids"
    ),
    pytest.param(400, 400, "User id is required.", Outcome.REJECTED, id="no-id"),
    pytest.param(
        400,
        400,
        "Email must be a valid format (e.g. user@example.com).",
        Outcome.REJECTED,
        id="bad-email",
    ),
    pytest.param(
        400,
        400,
        "Phone number must be a valid E.164 format (e.g. +14155552671).",
        Outcome.REJECTED,
        id="bad-phone",
    ),
    pytest.param(
        400,
        500,
        "Insufficient permission scope for this operation.",
        Outcome.CONFIG_ERROR,
        id="scope-400-body-500",
    ),
    pytest.param(401, 401, "Unauthorized.", Outcome.CONFIG_ERROR, id="unauthorized"),
    pytest.param(
        403,
        403,
        "Request IP address is not allowed for this API key.",
        Outcome.CONFIG_ERROR,
        id="ip-not-allowed",
    ),
    pytest.param(
        403, 403, "API key has expired.", Outcome.CONFIG_ERROR, id="key-expired"
    ),
    pytest.param(500, 500, "Internal server error.", Outcome.RETRY, id="server-error"),
]


@pytest.mark.parametrize("http_status, code, message, outcome", DOCUMENTED)
def test_documented_response(http_status, code, message, outcome):
    result = classify_response(http_status, body(code, message))
    assert result.outcome == outcome
    assert result.http_status == http_status
    # The operator sees Distinct's exact words.
    assert result.message == message


@pytest.mark.parametrize(
    "message",
    [
        "user data deleted successfully",
        "  User data deleted   successfully.  ",
        "USER DATA DELETED SUCCESSFULLY.",
        "User data deleted successfully..",
    ],
)
def test_success_is_matched_tolerantly(message):
    assert classify_response(200, body(200, message)).outcome == Outcome.SUCCEEDED


def test_not_found_is_matched_tolerantly():
    assert classify_response(200, body(200, "user not found")).outcome == (
        Outcome.NOT_FOUND
    )


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(body(200, "User data queued for deletion."), id="other-message"),
        pytest.param(body(500, "User data deleted successfully."), id="code-500"),
        pytest.param(b'{"statusCode": 200, "data": null}', id="no-message"),
        pytest.param(b"OK", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b'["User data deleted successfully."]', id="json-list"),
        pytest.param(b'{"message": 7}', id="message-not-text"),
    ],
)
def test_unknown_200_is_never_a_success(payload):
    result = classify_response(200, payload)
    assert result.outcome == Outcome.RETRY
    assert result.message.startswith("unexpected answer: ")


def test_html_502_is_transient_and_its_body_is_not_kept():
    page = b"<html><body><h1>502 Bad Gateway</h1>" + b"x" * 5000 + b"</body></html>"
    result = classify_response(502, page, {"Content-Type": "text/html"})
    assert result.outcome == Outcome.RETRY
    assert result.message == f"a body that is not JSON ({len(page)} bytes)"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 599])
def test_server_errors_are_transient(status):
    assert classify_response(status, b"oops").outcome == Outcome.RETRY


@pytest.mark.parametrize("status", [408, 425, 429])
def test_retryable_client_statuses(status):
    assert classify_response(status, b"").outcome == Outcome.RETRY


def test_429_retry_after_seconds():
    result = classify_response(429, b"", {"Retry-After": "120"})
    assert result.outcome == Outcome.RETRY
    assert result.retry_after == 120.0


def test_retry_after_http_date():
    when = timezone.now() + timedelta(seconds=300)
    seconds = retry_after_seconds(http_date(when.timestamp()))
    assert 295 <= seconds <= 300


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_bad_retry_after_is_ignored(value):
    assert retry_after_seconds(value) is None


def test_400_with_body_500_other_message_is_a_server_error():
    result = classify_response(400, body(500, "Database unavailable."))
    assert result.outcome == Outcome.RETRY
    assert result.message == "Database unavailable."


def test_unknown_400_is_rejected_with_what_it_said():
    result = classify_response(400, body(400, "Field 'foo' is not allowed."))
    assert result.outcome == Outcome.REJECTED
    assert result.message == "Field 'foo' is not allowed."


@pytest.mark.parametrize("status", [400, 413, 422])
def test_non_json_4xx_is_a_proxy_and_retried(status):
    result = classify_response(status, b"<html>Bad Request</html>")
    assert result.outcome == Outcome.RETRY
    assert result.message == "a body that is not JSON (24 bytes)"


def test_json_4xx_is_distinct_speaking_and_final():
    assert classify_response(422, body(422, "Nope.")).outcome == Outcome.REJECTED


def test_401_without_json_still_reaches_the_operator():
    result = classify_response(401, b"denied")
    assert result.outcome == Outcome.CONFIG_ERROR
    assert result.message == "a body that is not JSON (6 bytes)"


@pytest.mark.parametrize(
    "status, message",
    [
        (301, "redirected elsewhere (not followed)"),
        (308, "redirected elsewhere (not followed)"),
        (404, "no delete-user endpoint at this BASE_URL"),
        (405, "no delete-user endpoint at this BASE_URL"),
        (407, "a proxy asked for authentication"),
    ],
)
def test_wrong_endpoint_is_a_configuration_error(status, message):
    result = classify_response(status, b"", {"Location": "https://elsewhere.test/"})
    assert result.outcome == Outcome.CONFIG_ERROR
    assert result.message == message


@pytest.mark.parametrize(
    "status, message, hint",
    [
        (401, "Unauthorized.", "Check DISTINCT['API_KEY']"),
        (403, "API key has expired.", "Ask Distinct for a new key"),
        (403, "Request IP address is not allowed", "allow this server's IP"),
        (400, "Insufficient permission scope", "a key that may delete users"),
        (404, "no delete-user endpoint", "Check DISTINCT['BASE_URL']"),
    ],
)
def test_refusals_say_what_to_change(status, message, hint):
    text = refusal_text(status, message)
    assert text.startswith(f"Distinct refused this site's configuration (HTTP {status}")
    assert hint in text


def test_blocked_sending_is_not_blamed_on_distinct():
    assert refusal_text(None, "no API key is configured") == (
        "Erasures cannot be sent: no API key is configured."
    )


def test_other_2xx_is_not_a_success():
    assert classify_response(204, b"").outcome == Outcome.RETRY


def test_message_is_trimmed_to_storable_length():
    result = classify_response(500, body(500, "x" * 10_000))
    assert len(result.message) == 500


def test_fold():
    assert fold("  User  not Found. ") == "user not found"
