"""The README's example of testing an integration, kept working."""

from django.contrib.auth import get_user_model

from django_distinct.testing.assertions import (
    assert_erasure_requested,
    assert_no_erasure_requested,
)


def test_closing_an_account_erases_it_at_distinct(
    distinct_server, distinct_fake, django_capture_on_commit_callbacks, db
):
    person = distinct_fake.add_user(email="ann@example.com")
    user = get_user_model().objects.create(username="ann", email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()  # or your own code that closes the account
    assert_erasure_requested(email="ann@example.com", status="succeeded")
    assert person.erased


def test_assertion_helpers_fail_with_a_message_naming_no_values(db):
    import pytest

    with pytest.raises(AssertionError) as info:
        assert_erasure_requested(email="ann@example.com")
    assert str(info.value) == "No erasure request matches email."
    assert_no_erasure_requested("42")
