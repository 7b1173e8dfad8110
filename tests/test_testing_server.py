"""Tests of the Distinct double over a real socket, and of its command."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from django_distinct import conf
from django_distinct.testing import FakeDistinct, FakeDistinctServer

ROOT = Path(__file__).resolve().parents[1]
KEY = "test-api-key"
EMAIL = "john.doe@example.com"
PHONE = "+14155552671"
USER_ID = "f090a4a1-c447-461e-84aa-8f36b6431b94"
DELETED = {
    "statusCode": 200,
    "message": "User data deleted successfully.",
    "data": None,
}
NOT_FOUND = {"statusCode": 200, "message": "User not found.", "data": None}


@pytest.fixture
def server():
    with FakeDistinctServer() as server:
        yield server


@pytest.fixture
def john(server):
    return server.fake.add_user(email=EMAIL, phone=PHONE, name="John Doe")


def delete(
    base_url: str,
    body: dict | None = None,
    *,
    session: requests.Session | None = None,
    key: str = KEY,
    timeout: float | tuple[float, float] = 5,
) -> requests.Response:
    sender = session or requests
    return sender.post(
        base_url + conf.DELETE_PATH,
        json=body if body is not None else {"id": USER_ID, "email": EMAIL},
        headers={"x-distinct-api-key": key},
        timeout=timeout,
    )


def test_url_and_port(server):
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_delete_over_the_socket(server, john):
    response = delete(server.url)

    assert response.status_code == 200
    assert response.json() == DELETED
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert john.erased
    assert delete(server.url).json() == NOT_FOUND


def test_refusals_over_the_socket(server, john):
    server.fake.add_api_key("office-key", allowed_ips={"10.0.0.7"})

    unauthorized = delete(server.url, key="wrong")
    wrong_ip = delete(server.url, key="office-key")

    assert (unauthorized.status_code, unauthorized.json()["message"]) == (
        401,
        "Unauthorized.",
    )
    assert (wrong_ip.status_code, wrong_ip.json()["message"]) == (
        403,
        "Request IP address is not allowed for this API key.",
    )
    assert server.fake.requests[1].client_ip == "127.0.0.1"
    assert not john.erased


def test_request_is_recorded_with_its_headers(server, john):
    delete(server.url)

    recorded = server.fake.requests[0]

    assert recorded.method == "POST"
    assert recorded.path == conf.DELETE_PATH
    assert recorded.json == {"id": USER_ID, "email": EMAIL}
    assert recorded.headers["X-Distinct-Api-Key"] == KEY
    assert recorded.headers["content-type"] == "application/json"


def test_other_paths_and_methods(server):
    not_found = requests.post(server.url + "/api/v1/users", json={}, timeout=5)
    wrong_method = requests.get(server.url + conf.DELETE_PATH, timeout=5)

    assert (not_found.status_code, not_found.json()["message"]) == (404, "Not found.")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"


def test_session_reuses_one_connection(server, john):
    with requests.Session() as session:
        first = delete(server.url, session=session)
        second = delete(server.url, session=session)

    assert (first.json(), second.json()) == (DELETED, NOT_FOUND)
    assert server.connections_opened == 1


def test_separate_requests_open_separate_connections(server):
    delete(server.url)
    delete(server.url)

    assert server.connections_opened == 2


def test_drop_closes_the_connection_without_an_answer(server, john):
    server.fake.inject("drop")

    with pytest.raises(requests.exceptions.ConnectionError):
        delete(server.url)

    assert not john.erased
    assert delete(server.url).json() == DELETED
    assert [r.status for r in server.fake.requests] == [None, 200]


def test_drop_on_a_kept_alive_connection(server, john):
    with requests.Session() as session:
        server.fake.add_user(email="jane@example.com")
        delete(server.url, {"id": "jane", "email": "jane@example.com"}, session=session)
        server.fake.inject("drop")

        with pytest.raises(requests.exceptions.ConnectionError):
            delete(server.url, session=session)
        after = delete(server.url, session=session)

    assert after.json() == DELETED
    assert server.connections_opened == 2


def test_slow_answer_past_the_read_timeout_times_out(server, john):
    server.fake.inject("slow", delay=1.0)

    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        delete(server.url, timeout=(2, 0.2))

    assert time.monotonic() - started < 0.9
    # The double ran the contract before sleeping, as a real server would.
    assert john.erased


def test_slow_answer_within_the_timeout_arrives_late(server, john):
    server.fake.inject("slow", delay=0.3)

    started = time.monotonic()
    response = delete(server.url, timeout=5)

    assert time.monotonic() - started >= 0.3
    assert response.json() == DELETED


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        pytest.param("500", 500, "application/json", id="500"),
        pytest.param("502_html", 502, "text/html", id="502-html"),
        pytest.param("503_html", 503, "text/html", id="503-html"),
        pytest.param("200_non_json", 200, "text/html", id="200-non-json"),
        pytest.param("200_unknown", 200, "application/json", id="200-unknown"),
    ],
)
def test_faults_over_the_socket(server, john, kind, status, content_type):
    server.fake.inject(kind)

    response = delete(server.url)

    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(content_type)
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert not john.erased


def test_429_retry_after_over_the_socket(server):
    server.fake.inject("429", retry_after=12)

    response = delete(server.url)

    assert (response.status_code, response.headers["Retry-After"]) == (429, "12")


def test_request_bodies_never_reach_stderr(server, john, capfd):
    delete(server.url)
    requests.get(server.url + "/nowhere?email=" + EMAIL, timeout=5)

    captured = capfd.readouterr()

    assert EMAIL not in captured.err
    assert "nowhere" not in captured.err


def test_stop_is_idempotent_and_closes_kept_alive_connections(john):
    server = FakeDistinctServer().start()
    session = requests.Session()
    assert delete(server.url, session=session).status_code == 200

    server.stop()
    server.stop()

    with pytest.raises(requests.exceptions.ConnectionError):
        delete(server.url, session=session)
    with pytest.raises(requests.exceptions.ConnectionError):
        delete(server.url)
    session.close()


def test_stopped_server_cannot_restart():
    server = FakeDistinctServer()
    with server:
        pass

    with pytest.raises(RuntimeError):
        server.start()


def test_shares_a_given_fake():
    fake = FakeDistinct(api_key="shared-key")
    user = fake.add_user(phone=PHONE)

    with FakeDistinctServer(fake) as server:
        response = delete(server.url, {"id": "1", "phone": PHONE}, key="shared-key")

    assert server.fake is fake
    assert response.json() == DELETED
    assert user.erased


def test_chunked_body_is_refused(server):
    response = requests.post(
        server.url + conf.DELETE_PATH,
        data=iter([b'{"id": "1", ', b'"email": "a@example.com"}']),
        headers={"x-distinct-api-key": KEY},
        timeout=5,
    )

    assert response.status_code == 411
    assert server.fake.requests == []


# The control API.


def test_control_add_one_user_and_list(server):
    added = requests.post(
        server.url + "/_fake/users",
        json={"email": EMAIL, "name": "John Doe"},
        timeout=5,
    )
    listed = requests.get(server.url + "/_fake/users", timeout=5)

    assert added.status_code == 201
    assert added.json()["email"] == EMAIL
    assert added.json()["erased"] is False
    assert [u["name"] for u in listed.json()] == ["John Doe"]
    assert server.fake.users[0].email == EMAIL


def test_control_add_a_list_of_users(server):
    users = [{"email": "a@example.com"}, {"phone": "+442071838750"}]

    added = requests.post(server.url + "/_fake/users", json=users, timeout=5)

    assert added.status_code == 201
    assert [u["email"] for u in added.json()] == ["a@example.com", None]
    assert len(server.fake.users) == 2


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([{"email": "a@example.com"}, {"phone": "555"}], id="bad-phone"),
        pytest.param({"email": "a@example.com", "ssn": "1"}, id="unknown-field"),
        pytest.param(["a@example.com"], id="not-objects"),
        pytest.param("a@example.com", id="a-string"),
    ],
)
def test_control_refuses_bad_users_and_adds_none(server, payload):
    response = requests.post(server.url + "/_fake/users", json=payload, timeout=5)

    assert response.status_code == 400
    assert "error" in response.json()
    assert server.fake.users == []


def test_control_lists_requests_with_the_key_redacted(server, john):
    delete(server.url)

    log = requests.get(server.url + "/_fake/requests", timeout=5).json()

    assert len(log) == 1
    assert log[0]["json"] == {"id": USER_ID, "email": EMAIL}
    assert log[0]["status"] == 200
    assert log[0]["message"] == "User data deleted successfully."
    assert log[0]["headers"]["x-distinct-api-key"] == "[redacted]"
    assert KEY not in json.dumps(log)


def test_control_stats_count_connections_and_requests(server, john):
    with requests.Session() as session:  # one keep-alive connection
        for _ in range(3):
            delete(server.url, session=session)
    delete(server.url)  # a connection of its own

    stats = requests.get(server.url + "/_fake/stats", timeout=5).json()

    # The third connection is the one asking.
    assert stats == {"connections_opened": 3, "requests": 4}


def test_control_reset(server, john):
    delete(server.url)

    response = requests.post(server.url + "/_fake/reset", timeout=5)

    assert response.json() == {"reset": True}
    assert server.fake.users == []
    assert server.fake.requests == []


def test_control_inject_fault(server, john):
    injected = requests.post(
        server.url + "/_fake/faults",
        json={"kind": "429", "times": 2, "retry_after": 9},
        timeout=5,
    )
    statuses = [delete(server.url).status_code for _ in range(3)]

    assert (injected.status_code, injected.json()) == (201, {"kind": "429", "times": 2})
    assert statuses == [429, 429, 200]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"kind": "teapot"}, id="unknown-kind"),
        pytest.param({"times": 1}, id="no-kind"),
        pytest.param({"kind": "slow", "delay": -1}, id="negative-delay"),
    ],
)
def test_control_refuses_bad_faults(server, payload):
    response = requests.post(server.url + "/_fake/faults", json=payload, timeout=5)

    assert response.status_code == 400
    assert delete(server.url).status_code == 200


def test_control_requests_are_not_in_the_log_and_unknown_is_404(server):
    missing = requests.get(server.url + "/_fake/nothing", timeout=5)
    requests.get(server.url + "/_fake/users", timeout=5)

    assert missing.status_code == 404
    assert server.fake.requests == []


# The management command.


def test_command_refuses_a_non_loopback_host():
    with pytest.raises(CommandError, match="loopback"):
        call_command("distinct_fake_server", host="0.0.0.0", port=0)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param("{not json", "not valid JSON", id="not-json"),
        pytest.param('{"email": "a@example.com"}', "list of user", id="not-a-list"),
        pytest.param('[{"phone": "555"}]', "bad user", id="bad-user"),
    ],
)
def test_command_refuses_a_bad_seed_file(tmp_path, content, match):
    seed = tmp_path / "seed.json"
    seed.write_text(content)

    with pytest.raises(CommandError, match=match):
        call_command("distinct_fake_server", port=0, seed=seed)


def test_command_refuses_a_missing_seed_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("distinct_fake_server", port=0, seed=tmp_path / "absent.json")


def test_command_reports_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(CommandError, match="--port"):
            call_command("distinct_fake_server", port=port)


def read_line_or_kill(process: subprocess.Popen[str], seconds: float) -> str:
    timer = threading.Timer(seconds, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        return process.stdout.readline()
    finally:
        timer.cancel()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=str)
def test_command_serves_until_signalled(tmp_path, stop_signal):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([{"email": EMAIL, "name": "John Doe"}]))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "distinct_fake_server"]
        + ["--port", "0", "--api-key", "cli-key", "--seed", str(seed)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line_or_kill(process, 30)
        found = re.fullmatch(
            r"Distinct double listening on (http://127\.0\.0\.1:(\d+))\n", line
        )
        assert found, line
        url = found.group(1)

        refused = delete(url, key=KEY)
        deleted = delete(url, key="cli-key")
        users = requests.get(url + "/_fake/users", timeout=5).json()

        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert int(found.group(2)) > 0
    assert refused.status_code == 401
    assert deleted.json() == DELETED
    assert users[0]["erased"] is True
    assert process.returncode == 0, err
    assert out == ""
    assert EMAIL not in err
