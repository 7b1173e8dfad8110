"""The distinct_erase management command."""

import io

import pytest
from django.core.management import CommandError, call_command

from django_distinct.models import ErasureRequest, Source, Status, Trigger
from django_distinct.testing.factories import ErasureRequestFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("distinct_erase", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_sweep_prints_a_summary(distinct_server, distinct_fake):
    distinct_fake.add_user(email="a@example.com")
    ErasureRequestFactory(email="a@example.com")
    ErasureRequestFactory(email="b@example.com")
    ErasureRequestFactory(email='"c@home"@example.com')
    distinct_fake.inject("500", match=lambda body: body["email"] == "d@example.com")
    ErasureRequestFactory(email="d@example.com")

    out, _ = run()

    assert out.splitlines()[-1] == (
        "Sent 4: 1 succeeded, 1 not found, 1 failed, 1 to retry. Still pending: 1."
    )


def test_verbose_sweep_lists_each_request_masked(distinct_server, distinct_fake):
    request = ErasureRequestFactory(user_id="77", email="anna@example.com")
    out, _ = run("-v", "2")
    line = (
        f"#{request.pk} user 77 (a***@example.com): not_found "
        "(HTTP 200: User not found.)"
    )
    assert line in out.splitlines()
    assert "anna@example.com" not in out


def test_limit(distinct_server, distinct_fake):
    ErasureRequestFactory.create_batch(3)
    out, _ = run("--limit", "2")
    assert "Sent 2:" in out
    assert "Still pending: 1." in out


def test_bad_limit():
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        run("--limit", "0")


def test_dry_run_sends_and_changes_nothing(distinct_server, distinct_fake):
    ErasureRequestFactory.create_batch(2)
    ErasureRequestFactory(failed=True)
    out, _ = run("--dry-run", "--retry-failed")
    assert "Would put 1 failed request(s) back to pending." in out
    assert "Would send 2 due request(s)." in out
    assert distinct_fake.requests == []
    assert ErasureRequest.objects.filter(status=Status.FAILED).count() == 1


def test_retry_failed_sends_them_again(distinct_server, distinct_fake):
    distinct_fake.add_user(email="a@example.com")
    request = ErasureRequestFactory(email="a@example.com", failed=True)
    out, _ = run("--retry-failed")
    assert "Put 1 failed request(s) back to pending." in out
    request.refresh_from_db()
    assert request.status == Status.SUCCEEDED


def test_configuration_refusal_exits_non_zero_with_the_reason(
    distinct_server, distinct_fake, settings
):
    distinct_fake.add_api_key("old-key", expired=True)
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "old-key"}
    ErasureRequestFactory.create_batch(4)

    with pytest.raises(CommandError) as info:
        run()

    assert str(info.value) == (
        "Distinct refused this site's configuration (HTTP 403: API key has "
        "expired.). Ask Distinct for a new key and update DISTINCT['API_KEY']. "
        "Sending stopped; nothing else was tried."
    )
    assert "old-key" not in str(info.value)
    assert len(distinct_fake.requests) == 1
    assert ErasureRequest.objects.filter(status=Status.PENDING).count() == 4


def test_ad_hoc_erasure(distinct_server, distinct_fake, settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    person = distinct_fake.add_user(phone="+14155552671", email="z@example.com")
    out, _ = run("--user-id", "crm-9", "--phone", "(415) 555-2671")

    request = ErasureRequest.objects.get()
    assert request.source == Source.COMMAND
    assert request.status == Status.SUCCEEDED
    assert request.history.get().trigger == Trigger.COMMAND
    assert distinct_fake.requests[0].json == {"id": "crm-9", "phone": "+14155552671"}
    assert person.erased
    assert out.strip() == (
        f"#{request.pk} user crm-9 (+1******2671): succeeded "
        "(HTTP 200: User data deleted successfully.)"
    )


def test_ad_hoc_with_a_bad_identifier_keeps_the_good_one(
    distinct_server, distinct_fake
):
    out, err = run("--user-id", "9", "--email", "a@example.com", "--phone", "12")
    assert err.strip() == "Left out: phone: not a valid number"
    assert distinct_fake.requests[0].json == {"id": "9", "email": "a@example.com"}


def test_ad_hoc_with_nothing_valid_is_refused_and_not_recorded(distinct_server):
    with pytest.raises(CommandError, match="Nothing valid to send: email: no @"):
        run("--user-id", "9", "--email", "nope")
    assert ErasureRequest.objects.count() == 0


def test_ad_hoc_dry_run(distinct_server, distinct_fake):
    out, _ = run("--user-id", "9", "--email", "ann@example.com", "--dry-run")
    assert out.strip() == "Would send: user 9 (a***@example.com)"
    assert ErasureRequest.objects.count() == 0
    assert distinct_fake.requests == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user-id", "9"], "--user-id needs --email, --phone or both."),
        (["--email", "a@example.com"], "--email and --phone need --user-id."),
        (
            ["--user-id", "9", "--email", "a@example.com", "--limit", "3"],
            "--retry-failed and --limit apply to sweeps, not to --user-id.",
        ),
    ],
)
def test_argument_errors(args, message):
    with pytest.raises(CommandError) as info:
        run(*args)
    assert str(info.value) == message


def test_ad_hoc_configuration_refusal_exits_non_zero(distinct_server, settings):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "wrong"}
    with pytest.raises(CommandError, match=r"HTTP 401: Unauthorized\."):
        run("--user-id", "9", "--email", "a@example.com")
    assert ErasureRequest.objects.get().status == Status.PENDING


def test_no_api_key_sends_nothing_and_says_why(distinct_server, settings, monkeypatch):
    monkeypatch.delenv("DISTINCT_API_KEY", raising=False)
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": ""}
    request = ErasureRequestFactory()
    with pytest.raises(CommandError) as info:
        run()
    assert str(info.value) == (
        "Erasures cannot be sent: no API key is configured: set "
        "DISTINCT['API_KEY'] or DISTINCT_API_KEY. Sending stopped; nothing "
        "else was tried."
    )
    assert distinct_server.fake.requests == []
    request.refresh_from_db()
    assert request.status == Status.PENDING and request.attempts == 0


def test_running_out_of_attempts_counts_as_failed(
    distinct_server, distinct_fake, settings
):
    settings.DISTINCT = {**settings.DISTINCT, "MAX_ATTEMPTS": 1}
    distinct_fake.inject("500")
    ErasureRequestFactory()
    out, _ = run()
    assert out.splitlines()[-1] == (
        "Sent 1: 0 succeeded, 0 not found, 1 failed, 0 to retry. Still pending: 0."
    )


def test_nothing_valid_to_send_is_reported_apart(distinct_server, distinct_fake):
    ErasureRequestFactory(email="edited-by-hand")
    out, _ = run()
    assert out.splitlines() == [
        "Sent 0: 0 succeeded, 0 not found, 0 failed, 0 to retry. Still pending: 0.",
        "1 had nothing valid to send and failed without a request.",
    ]
    assert distinct_fake.requests == []


def test_retry_failed_leaves_requests_with_nothing_to_send(distinct_server):
    from django_distinct import services

    hopeless = ErasureRequestFactory(
        email="",
        phone="",
        failed=True,
        failure_reason="nothing valid to send: email: no @ in the address",
    )
    assert services.retry_failed() == 0
    hopeless.refresh_from_db()
    assert hopeless.status == Status.FAILED
    assert hopeless.failure_reason == (
        "nothing valid to send: email: no @ in the address"
    )


def test_dry_run_mentions_what_is_not_due_and_a_missing_key(
    distinct_server, settings, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    monkeypatch.delenv("DISTINCT_API_KEY", raising=False)
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": ""}
    ErasureRequestFactory()
    ErasureRequestFactory(next_attempt_at=timezone.now() + timedelta(hours=1))
    out, _ = run("--dry-run")
    assert out.splitlines() == [
        "Would send 1 due request(s).",
        "1 more pending, not due yet.",
        "But nothing would go out: no API key is configured: set "
        "DISTINCT['API_KEY'] or DISTINCT_API_KEY.",
    ]


def test_plain_http_to_a_remote_host_is_refused_at_run_time(settings):
    settings.DEBUG = False
    settings.DISTINCT = {**settings.DISTINCT, "BASE_URL": "http://distinct.invalid"}
    request = ErasureRequestFactory()
    with pytest.raises(CommandError) as info:
        run()
    assert str(info.value) == (
        "Erasures cannot be sent: DISTINCT['BASE_URL'] is not HTTPS: the key "
        "and identifiers would cross the network in clear text. Sending "
        "stopped; nothing else was tried."
    )
    attempt = request.history.get()
    assert attempt.http_status is None and attempt.duration_ms == 0


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_and_plain_output_when_piped(
    distinct_server, distinct_fake
):
    ErasureRequestFactory.create_batch(3)
    terminal = Terminal()
    call_command("distinct_erase", stdout=terminal)
    assert "\r1/3" in terminal.getvalue() and "\r3/3" in terminal.getvalue()

    ErasureRequestFactory.create_batch(2)
    piped, _ = run()
    assert "\r" not in piped


@pytest.mark.parametrize(
    "name, start",
    [
        ("distinct_erase", "Send due erasure requests"),
        ("distinct_fake_server", "Serve an in-memory double"),
    ],
)
def test_help_is_translated_when_the_parser_is_built(monkeypatch, name, start):
    from django.core.management import load_command_class

    from django_distinct.management import base

    command = load_command_class("django_distinct", name)
    assert command.help.startswith(start)  # marked, not translated, on the class

    monkeypatch.setattr(base, "gettext", lambda text: "[fr] " + text)
    text = command.create_parser("manage.py", name).format_help()
    assert "[fr] " + start in " ".join(text.split())
