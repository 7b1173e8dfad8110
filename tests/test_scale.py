"""Concurrent sweeps over real sockets, and the long-running worker."""

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from django_distinct import services
from django_distinct.models import ErasureAttempt, ErasureRequest, Status
from django_distinct.outcomes import Outcome
from django_distinct.testing.factories import ErasureRequestFactory
from tests.test_processes import ROOT, site  # noqa: F401  (the fixture)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_concurrent_sweep_sends_each_once_over_at_most_k_connections(
    distinct_server, distinct_fake, concurrency
):
    requests = ErasureRequestFactory.create_batch(120)
    for request in requests[::3]:
        distinct_fake.add_user(email=request.email)

    report = services.sweep(concurrency=concurrency)

    assert report.sent == 120 and report.errors == 0
    assert set(distinct_fake.count_by_id().values()) == {1}
    assert ErasureRequest.objects.filter(status=Status.SUCCEEDED).count() == 40
    assert ErasureRequest.objects.filter(status=Status.NOT_FOUND).count() == 80
    assert not ErasureRequest.objects.filter(claim_token__isnull=False).exists()
    # Keep-alive: one connection per sending thread, not one per request.
    assert distinct_server.connections_opened <= concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrency_overlaps_the_waiting(distinct_server, distinct_fake):
    distinct_fake.inject("slow", times=None, delay=0.2)
    ErasureRequestFactory.create_batch(16)
    started = time.monotonic()
    services.sweep(concurrency=8)
    took = time.monotonic() - started
    # 16 answers of 0.2 s each: 3.2 s one after another, 0.4 s eight at once.
    assert took < 1.6, took


@pytest.mark.django_db(transaction=True)
def test_a_refusal_stops_every_thread(distinct_server, distinct_fake, settings):
    settings.DISTINCT = {**settings.DISTINCT, "API_KEY": "revoked"}
    ErasureRequestFactory.create_batch(50)
    report = services.sweep(concurrency=8)
    assert report.paused == "Unauthorized."
    assert len(distinct_fake.requests) <= 8  # those already in flight at most
    assert set(ErasureRequest.objects.values_list("attempts", flat=True)) == {0}
    # Requests queued behind the refusal were not sent, and have no attempt.
    assert ErasureAttempt.objects.count() == len(distinct_fake.requests)
    assert not ErasureAttempt.objects.filter(outcome=Outcome.UNKNOWN).exists()
    assert not ErasureRequest.objects.filter(claim_token__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_a_stopped_sweep_gives_back_what_it_queued(distinct_server, distinct_fake):
    distinct_fake.inject("slow", times=None, delay=0.05)
    ErasureRequestFactory.create_batch(60)
    stop = threading.Event()
    seen = []

    def on_result(result):
        seen.append(result)
        if len(seen) == 5:
            stop.set()

    report = services.sweep(concurrency=4, stop=stop, on_result=on_result)

    sent = len(distinct_fake.requests)
    assert report.sent == sent < 60
    # Each request that went out has its attempt and outcome; those queued
    # when the sweep stopped are pending again, unclaimed, with no attempt.
    assert ErasureAttempt.objects.count() == sent
    assert not ErasureAttempt.objects.filter(outcome=Outcome.UNKNOWN).exists()
    assert ErasureRequest.objects.filter(status=Status.PENDING).count() == 60 - sent
    assert not ErasureRequest.objects.filter(claim_token__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_limit_holds_with_concurrency(distinct_server, distinct_fake):
    ErasureRequestFactory.create_batch(30)
    report = services.sweep(concurrency=4, limit=10)
    assert report.sent == 10
    assert len(distinct_fake.requests) == 10


def test_the_loop_worker_stops_cleanly_on_sigterm(site, distinct_fake):  # noqa: F811
    emails = [f"p{i}@example.com" for i in range(40)]
    site.worker("pending", json.dumps(emails))
    distinct_fake.inject("slow", times=None, delay=0.3)

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "distinct_erase",
            "--loop",
            "--interval",
            "0.2",
            "--concurrency",
            "4",
        ],
        cwd=ROOT,
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(distinct_fake.requests) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)

    assert worker.returncode == 0, err
    assert out.strip().endswith("Stopped; nothing left in flight.")
    rows = site.report()
    assert not any(row["claimed"] for row in rows)  # nothing left claimed
    done = [row for row in rows if row["status"] != "pending"]
    assert len(done) == len(distinct_fake.requests)  # every send recorded
    assert len(done) < 40  # it really stopped early
