"""The django.tasks backend: real commits, real tasks, the double on a socket."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from django_distinct import tasks
from django_distinct.models import ErasureRequest, Status, Trigger
from django_distinct.testing.factories import ErasureRequestFactory
from tests.factories import UserFactory
from tests.testapp.models import User

django_tasks = pytest.importorskip(
    "django.tasks", reason="django.tasks needs Django 6.0 or later"
)

# The sends happen in on_commit callbacks, which only a real commit runs.
pytestmark = pytest.mark.django_db(transaction=True)

IMMEDIATE = "django.tasks.backends.immediate.ImmediateBackend"
DUMMY = "django.tasks.backends.dummy.DummyBackend"
SEND_TASK = "django_distinct.tasks.django_send_erasure"


def use_django_tasks(settings, backend):
    settings.TASKS = {"default": {"BACKEND": backend}}
    settings.DISTINCT = {
        **settings.DISTINCT,
        "TASK_BACKEND": "django",
        "BACKOFF_BASE": 60,
    }


@pytest.fixture
def run_at_once(settings, distinct_server):
    """Send through django.tasks, whose backend runs a task as it is enqueued."""
    use_django_tasks(settings, IMMEDIATE)
    return distinct_server


@pytest.fixture
def queued(settings, distinct_server):
    """Send through django.tasks, whose backend only records the tasks."""
    use_django_tasks(settings, DUMMY)
    return django_tasks.task_backends["default"]


@pytest.fixture
def finished():
    """Return the results of the tasks that finish during the test."""
    results = []

    def collect(sender, task_result, **kwargs):
        results.append(task_result)

    django_tasks.signals.task_finished.connect(collect, weak=False)
    yield results
    django_tasks.signals.task_finished.disconnect(collect)


def run(task_result):
    """Run a recorded task's function, as a worker would."""
    return task_result.task.call(*task_result.args, **task_result.kwargs)


def test_a_deletion_is_sent_by_a_task_once_it_commits(
    run_at_once, distinct_fake, finished
):
    person = distinct_fake.add_user(email="ann@example.com")
    user = UserFactory(email="ann@example.com")
    pk = user.pk

    with transaction.atomic():
        user.delete()
        assert distinct_fake.requests == []
        assert finished == []

    request = ErasureRequest.objects.get()
    assert request.status == Status.SUCCEEDED
    assert request.history.get().trigger == Trigger.TASK
    assert distinct_fake.count_by_id() == {str(pk): 1}
    assert distinct_fake.requests[0].json == {"id": str(pk), "email": "ann@example.com"}
    assert person.erased

    (result,) = finished
    assert result.task.module_path == SEND_TASK
    assert result.args == [request.pk, "default"]
    assert result.status == django_tasks.TaskResultStatus.SUCCESSFUL


def test_every_request_of_a_transaction_becomes_a_task(run_at_once, distinct_fake):
    # More than SEND_ON_COMMIT_LIMIT: that bound is for sends in the deleting
    # process, and a task backend takes them all.
    users = UserFactory.create_batch(7)
    with transaction.atomic():
        User.objects.all().delete()

    assert distinct_fake.count_by_id() == {str(user.pk): 1 for user in users}
    rows = ErasureRequest.objects.all()
    assert [row.status for row in rows] == [Status.NOT_FOUND] * 7


def test_a_rolled_back_deletion_sends_nothing(run_at_once, distinct_fake, finished):
    pk = UserFactory().pk

    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.get(pk=pk).delete()
        raise RuntimeError("abort")

    assert distinct_fake.requests == []
    assert finished == []
    assert not ErasureRequest.objects.exists()

    # The deletion done again, for real, is sent once.
    User.objects.get(pk=pk).delete()
    assert distinct_fake.count_by_id() == {str(pk): 1}
    assert [r.task.module_path for r in finished] == [SEND_TASK]


def test_each_request_is_queued_as_a_task_and_sent_when_it_runs(queued, distinct_fake):
    distinct_fake.add_user(email="ann@example.com")
    ann = UserFactory(email="ann@example.com")
    bob = UserFactory(email="bob@example.com")
    ann_pk, bob_pk = ann.pk, bob.pk

    with transaction.atomic():
        ann.delete()
        bob.delete()
        assert queued.results == []

    requests = {row.user_id: row for row in ErasureRequest.objects.all()}
    assert [(r.task.module_path, r.args, r.kwargs) for r in queued.results] == [
        (SEND_TASK, [requests[str(ann_pk)].pk, "default"], {}),
        (SEND_TASK, [requests[str(bob_pk)].pk, "default"], {}),
    ]
    assert {r.status for r in queued.results} == {django_tasks.TaskResultStatus.READY}
    assert distinct_fake.requests == []
    assert {row.status for row in requests.values()} == {Status.PENDING}

    for result in queued.results:
        run(result)

    assert distinct_fake.count_by_id() == {str(ann_pk): 1, str(bob_pk): 1}
    statuses = dict(ErasureRequest.objects.values_list("user_id", "status"))
    assert statuses == {str(ann_pk): Status.SUCCEEDED, str(bob_pk): Status.NOT_FOUND}
    assert len(queued.results) == 2


def test_a_transient_failure_waits_for_the_sweep(queued, distinct_fake):
    distinct_fake.inject("503_html")
    distinct_fake.add_user(email="ann@example.com")
    with transaction.atomic():
        UserFactory(email="ann@example.com").delete()
    (task_result,) = queued.results

    before = timezone.now()
    run(task_result)

    request = ErasureRequest.objects.get()
    assert [r.status for r in distinct_fake.requests] == [503]
    assert request.status == Status.PENDING
    assert request.attempts == 1
    # Backoff after a first failure: half of BACKOFF_BASE, up to all of it.
    wait = request.next_attempt_at - before
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=61)
    # django.tasks has no retries, and the task asks for none: nothing is
    # queued again, now or for later.
    assert len(queued.results) == 1

    # Once its backoff has passed, the sweep task sends it.
    ErasureRequest.objects.update(next_attempt_at=timezone.now())
    report = tasks.django_sweep.call()

    assert report["succeeded"] == 1
    assert report["sent"] == 1
    assert [r.status for r in distinct_fake.requests] == [503, 200]
    request.refresh_from_db()
    assert request.status == Status.SUCCEEDED
    triggers = request.history.order_by("pk").values_list("trigger", flat=True)
    assert list(triggers) == [Trigger.TASK, Trigger.SWEEP]


def test_a_transient_failure_does_not_fail_the_task(
    run_at_once, distinct_fake, finished
):
    distinct_fake.inject("503_html")
    with transaction.atomic():
        UserFactory().delete()

    (result,) = finished
    assert result.status == django_tasks.TaskResultStatus.SUCCESSFUL
    assert result.errors == []
    assert [r.status for r in distinct_fake.requests] == [503]
    assert ErasureRequest.objects.get().status == Status.PENDING


def test_the_sweep_task_sends_what_is_due(run_at_once, distinct_fake):
    known = ErasureRequestFactory.create_batch(2)
    for row in known:
        distinct_fake.add_user(email=row.email)
    unknown = ErasureRequestFactory.create_batch(3)
    later = ErasureRequestFactory(next_attempt_at=timezone.now() + timedelta(hours=1))

    result = tasks.django_sweep.enqueue()

    assert result.status == django_tasks.TaskResultStatus.SUCCESSFUL
    assert result.return_value == {
        "sent": 5,
        "succeeded": 2,
        "not_found": 3,
        "failed": 0,
        "retrying": 0,
        "errors": 0,
    }
    assert distinct_fake.count_by_id() == {row.user_id: 1 for row in known + unknown}
    statuses = dict(ErasureRequest.objects.values_list("pk", "status"))
    assert statuses == {
        **{row.pk: Status.SUCCEEDED for row in known},
        **{row.pk: Status.NOT_FOUND for row in unknown},
        later.pk: Status.PENDING,
    }
