import pytest
from django.test import override_settings

from django_distinct.checks import check_settings


def ids(**overrides):
    with override_settings(**overrides):
        return [message.id for message in check_settings()]


GOOD = {"API_KEY": "k", "BASE_URL": "https://api.distinct.so"}


def test_good_settings_pass():
    assert ids(DISTINCT=GOOD) == []


def test_not_a_dict():
    assert ids(DISTINCT=["API_KEY"]) == ["django_distinct.E001"]


def test_missing_api_key_is_a_warning(monkeypatch):
    monkeypatch.delenv("DISTINCT_API_KEY", raising=False)
    assert ids(DISTINCT={}) == ["django_distinct.W001"]


def test_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("DISTINCT_API_KEY", "from-env")
    assert ids(DISTINCT={}) == []


def test_unknown_key_is_named():
    with override_settings(DISTINCT={**GOOD, "API_KYE": "k2"}):
        (message,) = check_settings()
    assert message.id == "django_distinct.W002"
    assert "API_KYE" in message.msg


@pytest.mark.parametrize(
    "url, debug, expected",
    [
        pytest.param(
            "http://api.distinct.so", False, ["django_distinct.E004"], id="http"
        ),
        pytest.param("http://api.distinct.so", True, [], id="http-debug"),
        pytest.param("http://127.0.0.1:8765", False, [], id="loopback"),
        pytest.param("http://localhost:8765", False, [], id="localhost"),
        pytest.param(
            "ftp://api.distinct.so", False, ["django_distinct.E003"], id="ftp"
        ),
        pytest.param("api.distinct.so", False, ["django_distinct.E003"], id="relative"),
        pytest.param(None, False, ["django_distinct.E003"], id="none"),
    ],
)
def test_base_url(url, debug, expected):
    assert ids(DISTINCT={**GOOD, "BASE_URL": url}, DEBUG=debug) == expected


@pytest.mark.parametrize(
    "value, ok",
    [
        (5, True),
        (2.5, True),
        ((3, 10), True),
        ([3, 10], True),
        (0, False),
        (-1, False),
        ("10", False),
        ((3,), False),
        ((3, 0), False),
        (None, False),
        (True, False),
    ],
)
def test_timeout(value, ok):
    expected = [] if ok else ["django_distinct.E005"]
    assert ids(DISTINCT={**GOOD, "TIMEOUT": value}) == expected


@pytest.mark.parametrize(
    "name, value",
    [
        ("MAX_ATTEMPTS", 0),
        ("MAX_ATTEMPTS", "3"),
        ("MAX_ATTEMPTS", 2.5),
        ("SEND_ON_COMMIT_LIMIT", -1),
        ("CLAIM_TIMEOUT", 0),
        ("BACKOFF_BASE", 0),
        ("BACKOFF_MAX", "1h"),
    ],
)
def test_bad_numbers(name, value):
    assert ids(DISTINCT={**GOOD, name: value}) == ["django_distinct.E006"]


def test_send_on_commit_limit_zero_is_allowed():
    assert ids(DISTINCT={**GOOD, "SEND_ON_COMMIT_LIMIT": 0}) == []


def test_backoff_max_below_base():
    settings = {**GOOD, "BACKOFF_BASE": 600, "BACKOFF_MAX": 60}
    assert ids(DISTINCT=settings) == ["django_distinct.E006"]


@pytest.mark.parametrize("name", ["ERASE_ON_DELETE", "SEND_ON_COMMIT"])
def test_booleans(name):
    assert ids(DISTINCT={**GOOD, name: "yes"}) == ["django_distinct.E007"]


def test_claim_timeout_must_outlast_a_request():
    settings = {**GOOD, "TIMEOUT": (5, 30), "CLAIM_TIMEOUT": 20}
    assert ids(DISTINCT=settings) == ["django_distinct.E010"]


def test_identity_callable_must_import():
    settings = {**GOOD, "USER_IDENTITY": "tests.nowhere.identity"}
    assert ids(DISTINCT=settings) == ["django_distinct.E008"]


def test_identity_must_be_callable():
    settings = {**GOOD, "USER_IDENTITY": "django_distinct.conf.DEFAULTS"}
    assert ids(DISTINCT=settings) == ["django_distinct.E008"]


@pytest.mark.parametrize(
    "name, path, ok",
    [
        ("USER_EMAIL_FIELD", "email", True),
        ("USER_PHONE_FIELD", "phone", True),
        ("USER_PHONE_FIELD", "profile.mobile", True),
        ("USER_PHONE_FIELD", None, True),
        ("USER_ID_FIELD", "pk", True),
        ("USER_ID_FIELD", "username", True),
        ("USER_PHONE_FIELD", "mobile", False),
        ("USER_EMAIL_FIELD", "e_mail", False),
        ("USER_ID_FIELD", None, False),
        ("USER_ID_FIELD", "", False),
    ],
)
def test_user_field_paths(name, path, ok):
    expected = [] if ok else ["django_distinct.E009"]
    assert ids(DISTINCT={**GOOD, name: path}) == expected


def test_checks_run_with_manage_py_check(capsys):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with override_settings(DISTINCT={**GOOD, "MAX_ATTEMPTS": 0}):
        with pytest.raises(SystemCheckError, match="django_distinct.E006"):
            call_command("check")


def test_base_url_with_the_endpoint_path():
    settings = {**GOOD, "BASE_URL": "https://api.distinct.so/api/v1/users/delete"}
    assert ids(DISTINCT=settings) == ["django_distinct.E011"]


@pytest.mark.parametrize(
    "name, value",
    [
        ("BACKOFF_BASE", float("inf")),
        ("BACKOFF_MAX", 1e20),
        ("CLAIM_TIMEOUT", 10**12),
        ("MAX_ATTEMPTS", 5000),
        ("TIMEOUT", float("nan")),
    ],
)
def test_absurd_numbers_are_refused(name, value):
    expected = "django_distinct.E005" if name == "TIMEOUT" else "django_distinct.E006"
    assert expected in ids(DISTINCT={**GOOD, name: value})


def test_claim_timeout_may_be_a_float():
    assert ids(DISTINCT={**GOOD, "CLAIM_TIMEOUT": 300.0}) == []


@pytest.mark.parametrize("key", ["clé€", 12345, "a\nb"])
def test_api_key_no_header_can_carry(key):
    assert ids(DISTINCT={**GOOD, "API_KEY": key}) == ["django_distinct.E012"]


def test_api_key_surrounding_whitespace_is_fine():
    assert ids(DISTINCT={**GOOD, "API_KEY": "  key-from-a-file\n"}) == []
