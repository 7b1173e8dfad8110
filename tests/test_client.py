"""The HTTP client, with ``responses`` standing in for Distinct."""

import json

import pytest
import requests
import responses
from responses import matchers

from django_distinct import __version__
from django_distinct.client import MAX_BODY_BYTES, DistinctClient, get_client
from django_distinct.exceptions import (
    DistinctConnectError,
    DistinctTimeoutError,
    DistinctTransportError,
)

URL = "https://distinct.test/api/v1/users/delete"
OK = {"statusCode": 200, "message": "User data deleted successfully.", "data": None}


@pytest.fixture
def client():
    return DistinctClient(api_key="key-123", url=URL, timeout=(1.5, 4.0))


@responses.activate
def test_posts_json_with_the_key_only_in_its_header(client):
    responses.post(
        URL,
        json=OK,
        match=[
            matchers.json_params_matcher({"id": "7", "email": "a@example.com"}),
            matchers.header_matcher(
                {
                    "x-distinct-api-key": "key-123",
                    "Content-Type": "application/json",
                    "User-Agent": f"django-distinct/{__version__} "
                    f"python-requests/{requests.__version__}",
                }
            ),
        ],
    )
    raw = client.delete_user({"id": "7", "email": "a@example.com"})

    assert raw.status == 200
    assert json.loads(raw.body) == OK
    sent = responses.calls[0].request
    assert "key-123" not in sent.url
    assert "key-123" not in sent.body.decode()
    assert "Authorization" not in sent.headers


@responses.activate
def test_uses_the_configured_timeouts(client):
    responses.post(URL, json=OK)
    client.delete_user({"id": "1", "email": "a@example.com"})
    assert responses.calls[0].request.req_kwargs["timeout"] == (1.5, 4.0)


@responses.activate
def test_never_retries_by_itself(client):
    responses.post(URL, status=503, body="busy")
    raw = client.delete_user({"id": "1", "email": "a@example.com"})
    assert raw.status == 503
    assert len(responses.calls) == 1


@responses.activate
def test_does_not_follow_redirects(client):
    responses.post(URL, status=301, headers={"Location": "https://elsewhere.test/"})
    raw = client.delete_user({"id": "1", "email": "a@example.com"})
    assert raw.status == 301
    assert len(responses.calls) == 1


@responses.activate
def test_connection_refused_is_a_connect_error(client):
    responses.post(
        URL,
        body=requests.exceptions.ConnectionError(
            "HTTPSConnectionPool: Max retries exceeded (Caused by "
            "NewConnectionError('Failed to establish a new connection: "
            "[Errno 111] Connection refused'))"
        ),
    )
    with pytest.raises(DistinctConnectError) as info:
        client.delete_user({"id": "1", "email": "a@example.com"})
    assert not info.value.in_doubt
    assert str(info.value) == "could not connect to Distinct"


@responses.activate
def test_connection_dropped_mid_request_is_in_doubt(client):
    responses.post(
        URL,
        body=requests.exceptions.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('Remote end closed "
            "connection without response'))"
        ),
    )
    with pytest.raises(DistinctTransportError) as info:
        client.delete_user({"id": "1", "email": "a@example.com"})
    assert info.value.in_doubt


@responses.activate
def test_read_timeout_is_in_doubt(client):
    responses.post(URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(DistinctTimeoutError) as info:
        client.delete_user({"id": "1", "email": "a@example.com"})
    assert info.value.in_doubt


@responses.activate
def test_connect_timeout_is_not_in_doubt(client):
    responses.post(URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(DistinctConnectError) as info:
        client.delete_user({"id": "1", "email": "a@example.com"})
    assert not info.value.in_doubt


@responses.activate
def test_huge_body_is_capped(client):
    responses.post(URL, status=502, body=b"x" * (MAX_BODY_BYTES * 4))
    raw = client.delete_user({"id": "1", "email": "a@example.com"})
    assert len(raw.body) == MAX_BODY_BYTES


def test_repr_hides_the_key(client):
    assert "key-123" not in repr(client)


def test_ignores_proxy_and_netrc_settings_from_the_environment(client):
    assert client.session.trust_env is False


def test_get_client_reuses_its_session_until_settings_change(settings):
    settings.DISTINCT = {"API_KEY": "one", "BASE_URL": "https://a.test"}
    first = get_client()
    assert get_client() is first

    settings.DISTINCT = {"API_KEY": "two", "BASE_URL": "https://a.test"}
    second = get_client()
    assert second is not first
    assert second.session.headers["x-distinct-api-key"] == "two"
    assert second.url == "https://a.test/api/v1/users/delete"
