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


def test_assertion_names_the_status_it_found(db):
    import pytest

    from django_distinct.testing.factories import ErasureRequestFactory

    ErasureRequestFactory(email="ann@example.com", status="not_found")
    with pytest.raises(AssertionError) as info:
        assert_erasure_requested(email="ann@example.com", status="succeeded")
    assert str(info.value) == (
        "No erasure request matches email, status=succeeded; there is one "
        "with status not_found."
    )


def test_server_settings_for_a_testcase(db):
    from django.test import override_settings

    from django_distinct import services
    from django_distinct.testing import FakeDistinctServer
    from django_distinct.testing.factories import ErasureRequestFactory

    with FakeDistinctServer() as server:
        with override_settings(DISTINCT=server.distinct_settings()):
            person = server.fake.add_user(email="ann@example.com")
            request = ErasureRequestFactory(email="ann@example.com")
            services.send(request.pk, trigger="sweep")
    assert person.erased
