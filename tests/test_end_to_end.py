"""Deleting real users sends real HTTP requests to the double, after commit."""

import pytest
from django.core.management import call_command
from django.db import transaction

from django_distinct.models import ErasureRequest, Status, Trigger
from tests.factories import UserFactory
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def send_on_commit(settings, distinct_server):
    settings.DISTINCT = {
        **settings.DISTINCT,
        "SEND_ON_COMMIT": True,
        "SEND_ON_COMMIT_LIMIT": 3,
    }
    return distinct_server


def test_deleted_user_is_erased_right_after_commit(
    send_on_commit, distinct_fake, django_capture_on_commit_callbacks
):
    person = distinct_fake.add_user(email="ann@example.com", phone="+14155552671")
    user = UserFactory(email="ann@example.com", phone="+14155552671")
    pk = user.pk

    with django_capture_on_commit_callbacks() as callbacks:
        user.delete()
        # Nothing leaves before the commit.
        assert distinct_fake.requests == []
    for callback in callbacks:
        callback()

    request = ErasureRequest.objects.get()
    assert request.status == Status.SUCCEEDED
    assert request.history.get().trigger == Trigger.ON_COMMIT
    assert distinct_fake.requests[0].json == {
        "id": str(pk),
        "email": "ann@example.com",
        "phone": "+14155552671",
    }
    assert person.erased


def test_rolled_back_deletion_sends_nothing(
    send_on_commit, distinct_fake, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            user.delete()
            raise RuntimeError("abort")
    assert distinct_fake.requests == []
    assert ErasureRequest.objects.count() == 0


def test_only_a_few_are_sent_during_the_request_the_rest_by_the_sweep(
    send_on_commit, distinct_fake, django_capture_on_commit_callbacks
):
    UserFactory.create_batch(8)
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.all().delete()

    assert len(distinct_fake.requests) == 3
    assert ErasureRequest.objects.filter(status=Status.PENDING).count() == 5

    call_command("distinct_erase", stdout=open("/dev/null", "w"))
    assert len(distinct_fake.requests) == 8
    assert ErasureRequest.objects.filter(status=Status.PENDING).count() == 0
    assert set(distinct_fake.count_by_id().values()) == {1}


def test_a_struggling_distinct_stops_the_sends_after_commit(
    send_on_commit, distinct_fake, django_capture_on_commit_callbacks
):
    distinct_fake.inject("500", times=None)
    UserFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.all().delete()
    # The first failure leaves the others to the sweep.
    assert len(distinct_fake.requests) == 1


def test_process_dying_after_commit_leaves_the_request_for_the_sweep(
    send_on_commit, distinct_fake, django_capture_on_commit_callbacks
):
    distinct_fake.add_user(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=False):
        UserFactory(email="ann@example.com").delete()
    # The callbacks never ran: the process is gone.
    request = ErasureRequest.objects.get()
    assert request.status == Status.PENDING

    call_command("distinct_erase", stdout=open("/dev/null", "w"))
    request.refresh_from_db()
    assert request.status == Status.SUCCEEDED
    assert request.history.get().trigger == Trigger.SWEEP


def test_send_on_commit_off_leaves_everything_to_the_sweep(
    settings, distinct_server, distinct_fake, django_capture_on_commit_callbacks
):
    settings.DISTINCT = {**settings.DISTINCT, "SEND_ON_COMMIT": False}
    from django_distinct.services import _AfterCommitBatch

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        UserFactory().delete()
    assert not [c for c in callbacks if isinstance(c, _AfterCommitBatch)]
    assert distinct_fake.requests == []
    assert ErasureRequest.objects.get().status == Status.PENDING


def test_an_error_after_commit_never_reaches_the_caller(
    send_on_commit, distinct_fake, django_capture_on_commit_callbacks, monkeypatch
):
    from django_distinct import services

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "send", broken)
    with django_capture_on_commit_callbacks(execute=True):
        UserFactory().delete()  # must not raise
    assert ErasureRequest.objects.get().status == Status.PENDING


def test_outside_any_transaction_the_send_happens_at_once(
    transactional_db, distinct_server, distinct_fake, settings
):
    from django_distinct import services
    from django_distinct.identifiers import Identity

    settings.DISTINCT = {**settings.DISTINCT, "SEND_ON_COMMIT": True}
    distinct_fake.add_user(email="ann@example.com")
    request = services.request_erasure(
        Identity(id="7", email="ann@example.com"), source="command"
    )
    request.refresh_from_db()
    assert request.status == Status.SUCCEEDED
