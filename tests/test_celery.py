"""A real Celery worker, a real broker, real deletions, the double on a socket."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tests.test_processes import ROOT, site  # noqa: F401  (the fixture)

BROKER = os.environ.get("DISTINCT_TEST_BROKER", "redis://127.0.0.1:6379/15")


def broker_reachable():
    host_port = BROKER.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.skipif(
        not broker_reachable(), reason=f"needs a Celery broker at {BROKER} (Redis)"
    ),
]
celery = pytest.importorskip("celery", reason="needs the celery extra")


@pytest.fixture
def worker(site):  # noqa: F811
    queue = f"distinct-test-{uuid.uuid4().hex[:8]}"
    env = {
        **site.env,
        "DISTINCT_TEST_TASK_BACKEND": "celery",
        "DISTINCT_TEST_QUEUE": queue,
        "DISTINCT_TEST_BROKER": BROKER,
        # A retry after a second, not a minute: the worker reads it at start.
        "DISTINCT_TEST_BACKOFF": "1",
    }
    site.env = env
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.celery_app",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--queues",
            queue,
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_deletions_are_sent_by_a_celery_worker(site, worker, distinct_fake):  # noqa: F811
    people = [f"user{i}" for i in range(12)]
    for name in people[::2]:
        distinct_fake.add_user(email=f"{name}@example.com")
    site.worker("create-users", json.dumps([f"{n}@example.com" for n in people]))

    # One by one and in bulk, far past SEND_ON_COMMIT_LIMIT: every request
    # becomes a task, and the deleting process sends nothing itself.
    site.worker("delete-users", json.dumps(people))

    assert wait_for(lambda: len(distinct_fake.requests) >= len(people)), (
        worker.stdout.read() if worker.poll() is not None else "worker still up"
    )
    assert wait_for(lambda: all(r["status"] != "pending" for r in site.report()))
    statuses = sorted(r["status"] for r in site.report())
    assert statuses == ["not_found"] * 6 + ["succeeded"] * 6
    assert set(distinct_fake.count_by_id().values()) == {1}


def test_a_transient_failure_is_retried_by_celery(site, worker, distinct_fake):  # noqa: F811
    distinct_fake.inject("500")
    distinct_fake.add_user(email="ann@example.com")
    site.worker("create-users", json.dumps(["ann@example.com"]))
    site.worker("delete-users", json.dumps(["ann"]))

    assert wait_for(lambda: [r["status"] for r in site.report()] == ["succeeded"])
    assert [r.status for r in distinct_fake.requests] == [500, 200]


def test_the_sweep_task_sends_what_is_pending(site, worker, distinct_fake):  # noqa: F811
    site.worker("pending", json.dumps([f"p{i}@example.com" for i in range(5)]))
    site.worker("queue-sweep")
    assert wait_for(lambda: len(distinct_fake.requests) == 5)
    assert wait_for(lambda: all(r["status"] == "not_found" for r in site.report()))
