"""Sweeps that queue ahead of their senders, against real processes."""

import json
import signal
import subprocess
import sys
import time

import pytest
from django.db import OperationalError

from django_distinct import bulk, evidence, services
from django_distinct.models import ErasureAttempt, ErasureRequest, Status
from django_distinct.outcomes import Outcome
from django_distinct.testing.factories import ErasureRequestFactory
from tests.rawserver import OK, RawServer, response
from tests.test_processes import ROOT, site  # noqa: F401  (the fixture)


@pytest.mark.parametrize(
    ("lease", "timeout", "depth"),
    [
        (300, (3.05, 10.0), 5),
        (30, (2.0, 2.0), 5),
        (20, (2.0, 2.0), 3),
        (5, (2.0, 2.0), 0),
    ],
)
def test_the_queue_is_as_deep_as_the_claim_allows(settings, lease, timeout, depth):
    settings.DISTINCT = {
        **settings.DISTINCT,
        "CLAIM_TIMEOUT": lease,
        "TIMEOUT": timeout,
    }
    assert services._queue_depth() == depth


def _sweeper(site, *args, env=None):  # noqa: F811
    return subprocess.Popen(
        [sys.executable, "-m", "django", "distinct_erase", *args],
        cwd=ROOT,
        env={**site.env, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# A claim of 5 s: longer than one call may take (4 s), as the checks ask.
LEASE = {"DISTINCT_TEST_CLAIM_TIMEOUT": "5"}


def _known_and_pending(site, distinct_fake, count, delay):  # noqa: F811
    """Make ``count`` pending requests for people Distinct knows, answered late."""
    emails = [f"p{i}@example.com" for i in range(count)]
    distinct_fake.add_users({"email": email} for email in emails)
    site.worker("pending", json.dumps(emails))
    distinct_fake.inject("slow", times=None, delay=delay)


def test_a_request_queued_past_its_lease_is_not_sent_twice(site, distinct_fake):  # noqa: F811
    _known_and_pending(site, distinct_fake, 30, delay=1.5)

    first = _sweeper(site, "--concurrency", "2", env=LEASE)
    time.sleep(5.5)
    second = _sweeper(site, "--concurrency", "2", env=LEASE)
    outputs = [p.communicate(timeout=120) for p in (first, second)]

    counts = distinct_fake.count_by_id()
    assert max(counts.values()) == 1, (
        sorted(k for k, v in counts.items() if v > 1),
        [err[-2000:] for _, err in outputs],
    )
    assert len(counts) == 30
    rows = site.report()
    assert {row["status"] for row in rows} == {"succeeded"}
    assert not any(row["claimed"] for row in rows)


def test_a_second_sweep_after_kill_9_sends_what_the_first_left(site, distinct_fake):  # noqa: F811
    _known_and_pending(site, distinct_fake, 200, delay=0.2)

    first = _sweeper(site, "--concurrency", "8", env=LEASE)
    deadline = time.monotonic() + 30
    while len(distinct_fake.requests) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill()
    first.communicate(timeout=30)
    killed_at = time.monotonic()
    sent_before = distinct_fake.count_by_id()

    rows = site.report()
    claimed = [row for row in rows if row["claimed"]]
    # In flight, queued, or answered and not yet recorded: a bounded few.
    assert len(claimed) <= 8 * (1 + 5) + 8 * 2, len(claimed)

    # Within the lease nobody touches them; after it, all go out.
    time.sleep(max(0, 5.2 - (time.monotonic() - killed_at)))
    site.manage("distinct_erase", "--concurrency", "8", env=LEASE)

    rows = site.report()
    assert {row["status"] for row in rows} == {"succeeded", "not_found"}
    assert not any(row["claimed"] for row in rows)
    counts = distinct_fake.count_by_id()
    assert len(counts) == 200
    twice = {key for key, n in counts.items() if n > 1}
    # Only those that were on the wire or answered when the process died.
    assert twice <= set(sent_before), twice - set(sent_before)
    assert len(twice) <= 8 * 3
    attempts = json.loads(site.worker("attempts").stdout)
    unknown = [a for a in attempts if a[1] == "unknown"]
    by_user = {}
    for user_id, outcome, _in_doubt in attempts:
        by_user.setdefault(user_id, []).append(outcome)
    # Every request has one attempt with an answer; an unknown one only
    # where the killed sweep had started it.
    assert all(
        sum(o != "unknown" for o in outcomes) >= 1 for outcomes in by_user.values()
    )
    assert len(unknown) <= 8 * (1 + 5) + 8 * 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_cannot_be_recorded_is_recorded_one_by_one(
    distinct_server, distinct_fake, monkeypatch
):
    requests = ErasureRequestFactory.create_batch(60)
    bad = requests[17].pk
    write = services._write_outcomes

    def failing(jobs, using):
        if len(jobs) > 1 or jobs[0].request.pk == bad:
            raise OperationalError("the database went away")
        write(jobs, using)

    monkeypatch.setattr(services, "_write_outcomes", failing)
    monkeypatch.setattr(services, "RECORD_RETRY_DELAYS", ())
    report = services.sweep(concurrency=8)

    assert report.errors == 1
    assert report.sent == 59
    assert set(distinct_fake.count_by_id().values()) == {1}
    left = ErasureRequest.objects.get(claim_token__isnull=False)
    assert left.pk == bad and left.status == Status.PENDING
    # The one whose answer was lost keeps its noted attempt, in doubt.
    assert list(
        ErasureAttempt.objects.filter(outcome=Outcome.UNKNOWN).values_list(
            "request_id", "in_doubt"
        )
    ) == [(bad, True)]
    assert ErasureAttempt.objects.count() == 60
    assert evidence.verify()[1] == []


def test_four_sweepers_of_eight_threads_send_each_request_once(site, distinct_fake):  # noqa: F811
    emails = [f"person{i}@example.com" for i in range(1000)]
    distinct_fake.add_users({"email": email} for email in emails[::2])
    site.worker("pending", json.dumps(emails))

    racers = [_sweeper(site, "--concurrency", "8") for _ in range(4)]
    outputs = [racer.communicate(timeout=300) for racer in racers]

    assert [racer.returncode for racer in racers] == [0] * 4, [
        err[-3000:] for _, err in outputs
    ]
    counts = distinct_fake.count_by_id()
    assert len(counts) == 1000 and max(counts.values()) == 1
    rows = site.report()
    assert {row["status"] for row in rows} == {"succeeded", "not_found"}
    assert not any(row["claimed"] for row in rows)
    attempts = json.loads(site.worker("attempts").stdout)
    assert len(attempts) == 1000
    assert not [a for a in attempts if a[1] == "unknown"]


@pytest.mark.django_db(transaction=True)
def test_requests_that_could_not_be_started_are_given_back_without_attempts(
    distinct_server, distinct_fake, monkeypatch
):
    ErasureRequestFactory.create_batch(60)
    insert = bulk.insert

    def fails_halfway(objs, using, **kwargs):
        # The first statements commit, then the database goes away.
        insert(objs[:20], using, **kwargs)
        raise OperationalError("the database went away")

    monkeypatch.setattr(bulk, "insert", fails_halfway)
    report = services.sweep(concurrency=8)

    assert report.errors == 48 and report.sent == 0
    assert distinct_fake.requests == []
    # Nothing went out: no attempt says it might have, and nothing waits
    # for its claim to lapse before the next sweep may send it.
    assert not ErasureAttempt.objects.exists()
    assert not ErasureRequest.objects.filter(claim_token__isnull=False).exists()

    monkeypatch.setattr(bulk, "insert", insert)
    assert services.sweep(concurrency=8).sent == 60


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_mid_sweep_stops_all_eight_senders(
    distinct_server, distinct_fake
):
    distinct_fake.inject("slow", times=None, delay=0.05)
    ErasureRequestFactory.create_batch(200)
    seen = []

    def on_result(result):
        seen.append(result)
        if len(seen) == 20:
            distinct_fake.add_api_key(distinct_fake.api_key, expired=True)
            revoked_at.append(len(distinct_fake.requests))

    revoked_at = []
    report = services.sweep(concurrency=8, on_result=on_result)

    assert report.paused
    # Once revoked, at most the calls already on their way, one per sender.
    assert len(distinct_fake.requests) - revoked_at[0] <= 8
    sent = len(distinct_fake.requests)
    assert ErasureAttempt.objects.count() == sent
    assert not ErasureAttempt.objects.filter(outcome=Outcome.UNKNOWN).exists()
    assert not ErasureRequest.objects.filter(claim_token__isnull=False).exists()
    assert ErasureRequest.objects.filter(status=Status.PENDING).count() == 200 - (
        report.sent
    )


@pytest.mark.django_db(transaction=True)
def test_deadlines_under_concurrency_end_only_their_own_calls(settings):
    def answer(sock, index, body):
        if json.loads(body)["id"].endswith("3"):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
            for _ in range(20):
                sock.sendall(b" ")
                time.sleep(0.1)
            return False
        # Answered in time, while the deadlines of earlier calls on this
        # kept-alive connection pass.
        time.sleep(0.4)
        sock.sendall(response("200 OK", OK))
        return True

    server = RawServer(answer)
    try:
        settings.DISTINCT = {
            **settings.DISTINCT,
            "BASE_URL": server.url,
            "TIMEOUT": (0.25, 0.5),
        }
        requests = ErasureRequestFactory.create_batch(40)
        report = services.sweep(concurrency=8)
    finally:
        server.close()

    dripped = {r.pk for r in requests if r.user_id.endswith("3")}
    assert dripped and report.retrying == len(dripped)
    assert report.succeeded == 40 - len(dripped)
    for attempt in ErasureAttempt.objects.all():
        if attempt.request_id in dripped:
            assert attempt.in_doubt
            assert attempt.message.startswith("no complete answer")
        else:
            assert (attempt.outcome, attempt.in_doubt) == (Outcome.SUCCEEDED, False)


def test_sigterm_with_a_short_lease_leaves_nothing_in_doubt(site, distinct_fake):  # noqa: F811
    emails = [f"p{i}@example.com" for i in range(40)]
    site.worker("pending", json.dumps(emails))
    distinct_fake.inject("slow", times=None, delay=1.5)

    worker = _sweeper(
        site, "--loop", "--interval", "0.2", "--concurrency", "2", env=LEASE
    )
    time.sleep(8)  # past the first claims' lease
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)

    assert worker.returncode == 0, err
    assert out.strip().endswith("Stopped; nothing left in flight.")
    rows = site.report()
    assert not any(row["claimed"] for row in rows)
    done = [row for row in rows if row["status"] != "pending"]
    assert len(done) == len(distinct_fake.requests) < 40
    assert max(distinct_fake.count_by_id().values()) == 1
    attempts = json.loads(site.worker("attempts").stdout)
    assert len(attempts) == len(done)
    assert not [a for a in attempts if a[1] == "unknown"]
