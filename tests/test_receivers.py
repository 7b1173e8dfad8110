"""Deleting users records erasure requests, in the deletion's transaction."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, pre_delete
from django.test import override_settings

from django_distinct import receivers
from django_distinct.models import ErasureRequest, Source, Status
from tests.factories import OrganisationFactory, ProfileFactory, UserFactory
from tests.testapp.models import ProxyUser, User

pytestmark = pytest.mark.django_db

NO_SEND = {"API_KEY": "k", "SEND_ON_COMMIT": False}


def sends(callbacks):
    """Return the after-commit sends among captured on_commit callbacks."""
    from django_distinct.services import _AfterCommitBatch

    return [c for c in callbacks if isinstance(c, _AfterCommitBatch)]


def only_request():
    (request,) = ErasureRequest.objects.all()
    return request


@override_settings(DISTINCT=NO_SEND)
def test_single_delete_records_what_will_be_sent():
    user = UserFactory(email=" Ann@Example.COM ", phone="+14155552671")
    pk = user.pk
    user.delete()

    request = only_request()
    assert request.user_id == str(pk)
    assert request.email == "Ann@example.com"
    assert request.phone == "+14155552671"
    assert request.status == Status.PENDING
    assert request.source == Source.USER_DELETION
    assert request.attempts == 0
    assert request.identifier_problems == ""


@override_settings(DISTINCT=NO_SEND)
def test_queryset_delete_records_one_request_per_user():
    users = UserFactory.create_batch(5)
    UserFactory(username="keep")
    User.objects.exclude(username="keep").delete()

    recorded = sorted(ErasureRequest.objects.values_list("user_id", "email"))
    assert recorded == sorted((str(u.pk), u.email) for u in users)


@override_settings(DISTINCT=NO_SEND)
def test_cascade_from_another_model_records_its_users():
    org = OrganisationFactory()
    members = UserFactory.create_batch(3, organisation=org)
    UserFactory()  # in no organisation
    org.delete()

    assert sorted(ErasureRequest.objects.values_list("user_id", flat=True)) == sorted(
        str(u.pk) for u in members
    )


@override_settings(DISTINCT=NO_SEND)
def test_deleting_through_a_proxy_model_records_the_user():
    user = UserFactory()
    ProxyUser.objects.get(pk=user.pk).delete()
    assert only_request().user_id == str(user.pk)


@override_settings(DISTINCT=NO_SEND)
def test_rolled_back_deletion_leaves_no_request():
    user = UserFactory()
    pk = user.pk
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            user.delete()
            assert ErasureRequest.objects.count() == 1  # same transaction
            raise RuntimeError("deletion aborted")
    assert ErasureRequest.objects.count() == 0
    assert User.objects.filter(pk=pk).exists()


@override_settings(DISTINCT=NO_SEND)
def test_identifiers_are_read_before_the_pk_is_cleared():
    user = UserFactory()
    pk = user.pk
    user.delete()
    assert user.pk is None  # Django clears it after post_delete
    assert only_request().user_id == str(pk)


@override_settings(
    DISTINCT={**NO_SEND, "USER_PHONE_FIELD": "profile.mobile"},
    PHONENUMBER_DEFAULT_REGION="US",
)
def test_identifiers_on_related_rows_are_read_before_they_are_deleted():
    profile = ProfileFactory(mobile="(415) 555-2671")
    profile.user.delete()
    assert only_request().phone == "+14155552671"


@override_settings(DISTINCT={**NO_SEND, "USER_PHONE_FIELD": "profile.mobile"})
def test_missing_related_row_means_no_phone():
    UserFactory().delete()
    request = only_request()
    assert request.phone == ""
    assert request.status == Status.PENDING


@override_settings(DISTINCT=NO_SEND)
def test_user_without_identifiers_is_recorded_as_failed_and_never_queued():
    UserFactory(email="", phone="").delete()
    request = only_request()
    assert request.status == Status.FAILED
    assert request.failure_reason == (
        "nothing valid to send: no email or phone to identify the person"
    )
    assert request.completed_at is not None


@override_settings(DISTINCT=NO_SEND)
def test_invalid_identifier_is_dropped_with_its_reason():
    user = UserFactory(email="not-an-address", phone="+14155552671")
    user.delete()
    request = only_request()
    assert request.email == ""
    assert request.phone == "+14155552671"
    assert request.identifier_problems == "email: no @ in the address"
    assert request.status == Status.PENDING


@override_settings(DISTINCT={**NO_SEND, "ERASE_ON_DELETE": False})
def test_handler_can_be_switched_off():
    UserFactory().delete()
    assert ErasureRequest.objects.count() == 0


@override_settings(DISTINCT=NO_SEND)
def test_deactivation_is_not_a_deletion():
    user = UserFactory()
    user.is_active = False
    user.save()
    assert ErasureRequest.objects.count() == 0


@override_settings(DISTINCT=NO_SEND)
def test_connecting_again_does_not_double_the_requests():
    receivers.connect()
    receivers.connect()
    UserFactory().delete()
    assert ErasureRequest.objects.count() == 1


def test_receivers_are_connected_once_per_user_class():
    user_model = get_user_model()
    for model in (user_model, ProxyUser):
        assert len(pre_delete._live_receivers(model)[0]) == 1
        assert len(post_delete._live_receivers(model)[0]) == 1


@override_settings(DISTINCT={**NO_SEND, "USER_ID_FIELD": "username"})
def test_id_field_is_configurable():
    UserFactory(username="ann").delete()
    assert only_request().user_id == "ann"


def identity_from_callable(user):
    return {"id": f"site-{user.pk}", "email": user.email.upper()}


@override_settings(
    DISTINCT={**NO_SEND, "USER_IDENTITY": "tests.test_receivers.identity_from_callable"}
)
def test_identity_callable_replaces_the_field_mapping():
    user = UserFactory(email="ann@example.com", phone="+14155552671")
    pk = user.pk
    user.delete()
    request = only_request()
    assert request.user_id == f"site-{pk}"
    assert request.email == "ANN@example.com"
    assert request.phone == ""


def broken_identity(user):
    raise ValueError("mapping bug")


@override_settings(
    DISTINCT={**NO_SEND, "USER_IDENTITY": "tests.test_receivers.broken_identity"}
)
def test_a_mapping_that_fails_stops_the_deletion():
    user = UserFactory()
    # The savepoint stands in for the transaction a real deletion runs in.
    with pytest.raises(ValueError, match="mapping bug"), transaction.atomic():
        user.delete()
    assert User.objects.filter(username=user.username).exists()
    assert ErasureRequest.objects.count() == 0


@override_settings(DISTINCT={"API_KEY": "k", "SEND_ON_COMMIT": True})
def test_send_is_queued_for_after_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as captured:
        UserFactory.create_batch(3)
        User.objects.all().delete()
    callbacks = sends(captured)
    # One batch for the transaction, not a callback per user.
    assert len(callbacks) == 1
    assert sorted(callbacks[0].pks) == sorted(
        ErasureRequest.objects.values_list("pk", flat=True)
    )


@override_settings(DISTINCT={"API_KEY": "k", "SEND_ON_COMMIT": True})
def test_rolled_back_transaction_does_not_swallow_the_next_batch(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks() as captured:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                UserFactory().delete()
                raise RuntimeError
        UserFactory().delete()
    callbacks = sends(captured)
    assert len(callbacks) == 1
    assert callbacks[0].pks == [only_request().pk]


def test_a_bulk_delete_writes_its_requests_in_a_few_queries(settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_to_delete(count):
        UserFactory.create_batch(count)
        with CaptureQueriesContext(connection) as captured:
            User.objects.all().delete()
        return len(captured)

    settings.DISTINCT = {**NO_SEND, "ERASE_ON_DELETE": False}
    without = queries_to_delete(300)
    settings.DISTINCT = NO_SEND
    with_app = queries_to_delete(300)

    assert ErasureRequest.objects.count() == 300
    assert ErasureRequest.objects.filter(events__seq=1).count() == 300
    # One lookup for open requests, then the requests and their first
    # evidence entries in bulk inserts (SQLite's variable limit makes them
    # smaller there): nowhere near a query per user.
    assert with_app - without <= 20, (without, with_app)


@override_settings(DISTINCT=NO_SEND)
def test_a_retried_delete_after_a_rollback_still_records(django_db_blocker):
    users = User.objects.filter(pk__in=[u.pk for u in UserFactory.create_batch(3)])
    failing = {"armed": True}

    def fail_once(sender, instance, **kwargs):
        if failing.pop("armed", False):
            raise RuntimeError("the first attempt dies midway")

    post_delete.connect(fail_once, sender=User, dispatch_uid="test-fail-once")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            users.delete()
        users.delete()  # the same queryset object, tried again
    finally:
        post_delete.disconnect(sender=User, dispatch_uid="test-fail-once")
    assert ErasureRequest.objects.count() == 3


def test_the_user_models_email_field_is_honoured(settings):
    from django_distinct.services import identity_for_user

    class Person:
        pk = 5
        contact = "ann@example.com"
        email = "not-this@example.com"

        @classmethod
        def get_email_field_name(cls):
            return "contact"

    settings.DISTINCT = {**NO_SEND, "USER_PHONE_FIELD": None}
    identity = identity_for_user(Person())
    assert (identity.id, identity.email, identity.phone) == (5, "ann@example.com", None)


@override_settings(DISTINCT=NO_SEND)
def test_a_bulk_delete_records_what_one_request_at_a_time_would():
    from django_distinct import services
    from django_distinct.identifiers import Identity

    people = [
        ("Ann@Example.COM", "+14155552671"),  # both identifiers
        ("bob@example.com", ""),
        ("not an address", ""),  # nothing valid: recorded as failed
    ]
    users = [UserFactory(email=email, phone=phone) for email, phone in people]
    pks = [str(user.pk) for user in users]
    User.objects.filter(pk__in=[user.pk for user in users]).delete()

    compared = [
        "user_id",
        "person_hash",
        "email",
        "phone",
        "masked_email",
        "masked_phone",
        "email_hash",
        "phone_hash",
        "identifier_problems",
        "status",
        "source",
        "failure_reason",
    ]
    from_delete = {
        row["user_id"]: row for row in ErasureRequest.objects.values(*compared)
    }
    ErasureRequest.objects.all().delete()
    for pk, (email, phone) in zip(pks, people, strict=True):
        services.request_erasure(
            Identity(id=pk, email=email, phone=phone), source=Source.USER_DELETION
        )
    one_by_one = {
        row["user_id"]: row for row in ErasureRequest.objects.values(*compared)
    }
    assert from_delete == one_by_one
    assert from_delete[pks[2]]["status"] == Status.FAILED
    assert from_delete[pks[0]]["phone_hash"] and from_delete[pks[0]]["email_hash"]


@override_settings(DISTINCT=NO_SEND)
def test_the_evidence_of_a_bulk_delete_verifies():
    from django_distinct import evidence

    UserFactory.create_batch(25)
    UserFactory(email="broken")
    User.objects.all().delete()

    checked, breaks = evidence.verify()
    assert (checked, breaks) == (26, [])
    first = ErasureRequest.objects.get(status=Status.FAILED).events.get()
    assert (first.seq, first.kind, first.prev_hash) == (1, "received", "")
    assert first.detail["problems"] == ["email: no @ in the address"]


@override_settings(DISTINCT=NO_SEND)
def test_a_site_receiver_rolling_back_its_own_savepoint_loses_nothing():
    # Rolling back a savepoint makes Django rebuild its list of on-commit
    # callbacks mid-deletion; the deletion's batch must still be recorded.
    class Undone(Exception):
        pass

    def rolls_back_a_savepoint(sender, instance, **kwargs):
        try:
            with transaction.atomic():
                raise Undone
        except Undone:
            pass

    users = UserFactory.create_batch(3)
    post_delete.connect(rolls_back_a_savepoint, sender=User, dispatch_uid="t-sp")
    try:
        with transaction.atomic():
            User.objects.filter(pk__in=[u.pk for u in users]).delete()
    finally:
        post_delete.disconnect(sender=User, dispatch_uid="t-sp")
    recorded = sorted(ErasureRequest.objects.values_list("user_id", flat=True))
    assert recorded == sorted(str(u.pk) for u in users)
