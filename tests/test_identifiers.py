import pytest
from django.test import override_settings
from phonenumber_field.phonenumber import PhoneNumber

from django_distinct.identifiers import (
    Identity,
    mask_email,
    mask_phone,
    normalize,
    normalize_email,
    normalize_phone,
)


@pytest.mark.parametrize(
    "stored, sent, problem",
    [
        pytest.param("john@example.com", "john@example.com", "", id="plain"),
        pytest.param("  john@example.com\n", "john@example.com", "", id="spaces"),
        pytest.param("John@Example.COM", "John@example.com", "", id="domain-case"),
        pytest.param("john+shop@example.com", "john+shop@example.com", "", id="plus"),
        pytest.param("anna@bücher.de", "anna@bücher.de", "", id="idn-domain"),
        pytest.param("john.example.com", "", "no @ in the address", id="no-at"),
        pytest.param("john@", "", "not a valid address", id="no-domain"),
        pytest.param("john@@example.com", "", "not a valid address", id="two-ats"),
        pytest.param("a b@example.com", "", "not a valid address", id="inner-space"),
        pytest.param("", "", "", id="empty"),
        pytest.param("   ", "", "", id="blank"),
        pytest.param(None, "", "", id="none"),
        pytest.param(42, "", "not text", id="not-text"),
        pytest.param(
            "a" * 250 + "@example.com", "", "longer than 254 characters", id="long"
        ),
    ],
)
def test_normalize_email(stored, sent, problem):
    assert normalize_email(stored) == (sent, problem)


def test_pathological_email_is_refused_by_length_before_any_regex():
    # 100k characters: a backtracking regex would take far longer than this
    # test; the length check answers at once.
    assert normalize_email("a@" + "b." * 50_000) == ("", "longer than 254 characters")


@pytest.mark.parametrize(
    "stored, region, sent, problem",
    [
        pytest.param("+14155552671", None, "+14155552671", "", id="e164"),
        pytest.param("(415) 555-2671", "US", "+14155552671", "", id="us-national"),
        pytest.param("415.555.2671", "US", "+14155552671", "", id="dots"),
        pytest.param("+1 415-555-2671", None, "+14155552671", "", id="spaced-dashes"),
        pytest.param("011 44 20 7946 0958", "US", "+442079460958", "", id="us-idd"),
        pytest.param("0044 20 7946 0958", "DE", "+442079460958", "", id="00-idd"),
        pytest.param("030 901820", "DE", "+4930901820", "", id="de-national"),
        pytest.param(
            "+1 415 555 2671 ext. 12", None, "+14155552671", "", id="extension"
        ),
        pytest.param(
            "(415) 555-2671",
            None,
            "",
            "not in international form and PHONENUMBER_DEFAULT_REGION is not set",
            id="national-no-region",
        ),
        pytest.param("555-2671", "US", "", "not a valid number", id="too-short"),
        pytest.param("+1 415 555", None, "", "not a valid number", id="short-e164"),
        pytest.param("+999 1234567", None, "", "unknown country code", id="bad-cc"),
        pytest.param("+NoneNone", None, "", "not a phone number", id="none-none"),
        pytest.param("call me", "US", "", "not a phone number", id="words"),
        pytest.param("1" * 80, "US", "", "too long to be a phone number", id="long"),
        pytest.param("", "US", "", "", id="empty"),
        pytest.param(None, "US", "", "", id="none"),
    ],
)
def test_normalize_phone(stored, region, sent, problem):
    with override_settings(PHONENUMBER_DEFAULT_REGION=region):
        assert normalize_phone(stored) == (sent, problem)


def test_phone_object_goes_out_as_e164_not_str():
    number = PhoneNumber.from_string("(415) 555-2671", region="US")
    number.extension = "99"
    assert normalize_phone(number) == ("+14155552671", "")


def test_empty_phonenumberfield_value_is_no_phone():
    assert normalize_phone(PhoneNumber()) == ("", "")


def test_unparseable_phonenumberfield_value_is_refused():
    # What django-phonenumber-field loads for a bad stored string.
    assert normalize_phone(PhoneNumber(raw_input="12")) == ("", "not a valid number")
    assert normalize_phone(PhoneNumber(raw_input="x")) == ("", "not a phone number")


def test_valid_but_wrong_region_guess_is_not_made():
    # A German national number read with a US region is not a valid US
    # number: it is refused, not sent as somebody else's +1 number.
    with override_settings(PHONENUMBER_DEFAULT_REGION="US"):
        assert normalize_phone("030 901820") == ("", "not a valid number")


def test_normalize_collects_problems_without_values():
    result = normalize(Identity(id=7, email="bad-address", phone="+1 415 555"))
    assert result.id == "7"
    assert not result.sendable
    assert result.problems == (
        "email: no @ in the address",
        "phone: not a valid number",
    )
    assert "bad-address" not in " ".join(result.problems)


def test_payload_omits_missing_identifiers():
    assert normalize(Identity(id=" 9 ", email="a@example.com")).payload() == {
        "id": "9",
        "email": "a@example.com",
    }
    assert normalize(Identity(id=9, phone="+14155552671")).payload() == {
        "id": "9",
        "phone": "+14155552671",
    }


def test_one_bad_identifier_leaves_the_good_one():
    result = normalize(Identity(id="u1", email="a@example.com", phone="12"))
    assert result.sendable
    assert result.payload() == {"id": "u1", "email": "a@example.com"}
    assert result.problems == ("phone: not a valid number",)


@pytest.mark.parametrize(
    "identity, problems",
    [
        pytest.param(
            Identity(id=1), ("no email or phone to identify the person",), id="none"
        ),
        pytest.param(
            Identity(id=None, email="a@example.com"), ("id: missing",), id="no-id"
        ),
        pytest.param(
            Identity(id="x" * 256, email="a@example.com"),
            ("id: longer than 255 characters",),
            id="long-id",
        ),
    ],
)
def test_unsendable(identity, problems):
    result = normalize(identity)
    assert not result.sendable
    assert result.problems == problems


@pytest.mark.parametrize(
    "value, masked",
    [
        ("john@example.com", "j***@example.com"),
        ("j@example.com", "j***@example.com"),
        ("", ""),
    ],
)
def test_mask_email(value, masked):
    assert mask_email(value) == masked


@pytest.mark.parametrize(
    "value, masked",
    [("+14155552671", "+1******2671"), ("+4930901820", "+4*****1820"), ("", "")],
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    "value, sent",
    [
        pytest.param(42, "42", id="int"),
        pytest.param(" abc ", "abc", id="text"),
        pytest.param(
            __import__("uuid").UUID("f090a4a1-c447-461e-84aa-8f36b6431b94"),
            "f090a4a1-c447-461e-84aa-8f36b6431b94",
            id="uuid",
        ),
        pytest.param(b"abc", "", id="bytes"),
        pytest.param(["1"], "", id="list"),
        pytest.param(False, "", id="bool"),
        pytest.param("12\n34", "", id="newline"),
        pytest.param("12\x0034", "", id="nul"),
    ],
)
def test_only_real_ids_are_sent(value, sent):
    assert normalize(Identity(id=value, email="a@example.com")).id == sent


def test_a_junk_id_is_named_as_such():
    assert normalize(Identity(id=b"abc", email="a@example.com")).problems == (
        "id: not usable",
    )


def test_lazy_text_is_text():
    from django.utils.functional import lazy

    lazy_email = lazy(lambda: "ann@example.com", str)()
    assert normalize_email(lazy_email) == ("ann@example.com", "")


@pytest.mark.parametrize("value", ["ann@localhost", "ann@[127.0.0.1]", "ann@example"])
def test_addresses_distinct_would_refuse_are_refused_here(value):
    assert normalize_email(value)[0] == ""


def test_keyed_hashes_match_djangos_salted_hmac(settings):
    # Hashes stored by earlier versions were made with salted_hmac: the
    # cached key must give the same digests, and follow a new key.
    from django.utils.crypto import salted_hmac

    from django_distinct.identifiers import identifier_hash

    for key in ("first-key", "second-key"):
        settings.DISTINCT = {**settings.DISTINCT, "HASH_KEY": key}
        expected = salted_hmac(
            "django_distinct.identifier.email",
            "ann@example.com",
            secret=key,
            algorithm="sha256",
        ).hexdigest()
        assert identifier_hash("email", "Ann@Example.com") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No user ANN@EXAMPLE.COM here.", "No user a***@example.com here."),
        ("Phone 14155552671 unknown.", "Phone 1******2671 unknown."),
        ("Phone +14155552671 unknown.", "Phone +1******2671 unknown."),
        ("User not found.", "User not found."),
        ("Odd \\1 text for ann@example.com", "Odd \\1 text for a***@example.com"),
    ],
)
def test_clean_message_masks_what_was_sent_however_it_is_echoed(text, expected):
    from django_distinct.identifiers import clean_message

    payload = {"id": "1", "email": "ann@example.com", "phone": "+14155552671"}
    assert clean_message(text, payload) == expected
