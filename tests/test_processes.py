"""
Kill and race real processes sharing a real database.

Each test makes a database of its own (a SQLite file, and a PostgreSQL
database when DATABASE_URL points at PostgreSQL), migrates it, and runs
site processes (``tests.worker``) and ``distinct_erase`` against it and
against a Distinct double on a loopback socket.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("DATABASE_URL", "")
HAVE_POSTGRES = POSTGRES_URL.startswith(("postgres://", "postgresql://"))
# MariaDB or MySQL, for the tests that race and kill: a server URL such as
# mysql://root@127.0.0.1:3306/test (needs the mysqlclient driver).
MYSQL_URL = os.environ.get("DISTINCT_TEST_MYSQL_URL", "")


class Site:
    """A migrated database, and commands run against it."""

    def __init__(self, database_url, double_url):
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DISTINCT_TEST_BASE_URL": double_url,
            "PYTHONPATH": str(ROOT),
        }
        self.manage("migrate", "--verbosity", "0")

    def run(self, *args, env=None, check=True):
        done = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stderr}")
        return done

    def manage(self, *args, **kwargs):
        return self.run("-m", "django", *args, **kwargs)

    def worker(self, *args, **kwargs):
        return self.run("-m", "tests.worker", *args, **kwargs)

    def report(self):
        return json.loads(self.worker("report").stdout)


def _postgres_database():
    name = f"distinct_proc_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(POSTGRES_URL)
    admin = urlunsplit(parts._replace(path="/postgres"))
    import psycopg

    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _mysql_database():
    import MySQLdb

    name = f"distinct_proc_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(MYSQL_URL)
    server = {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
    }
    connection = MySQLdb.connect(**server)
    connection.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    connection.close()
    yield urlunsplit(parts._replace(path=f"/{name}"))
    connection = MySQLdb.connect(**server)
    connection.cursor().execute(f"DROP DATABASE `{name}`")
    connection.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "mysql",
    ]
)
def site(request, tmp_path, distinct_server):
    if request.param == "sqlite":
        yield Site(f"sqlite:///{tmp_path / 'site.sqlite3'}", distinct_server.url)
        return
    if request.param == "mysql":
        if not MYSQL_URL:
            pytest.skip("needs MariaDB or MySQL: set DISTINCT_TEST_MYSQL_URL")
        pytest.importorskip("MySQLdb", reason="needs the mysqlclient driver")
        databases = _mysql_database()
    elif not HAVE_POSTGRES:
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    else:
        databases = _postgres_database()
    url = next(databases)
    try:
        yield Site(url, distinct_server.url)
    finally:
        next(databases, None)


def test_death_after_commit_before_sending(site, distinct_fake):
    distinct_fake.add_user(email="ann@example.com")
    site.worker("create-users", json.dumps(["ann@example.com"]))

    died = site.worker("delete-then-die", "ann", check=False)

    assert died.returncode == 3
    assert distinct_fake.requests == []
    assert [r["status"] for r in site.report()] == ["pending"]

    site.manage("distinct_erase")
    assert [r["status"] for r in site.report()] == ["succeeded"]
    assert len(distinct_fake.requests) == 1


def test_death_after_distinct_answered_before_recording(site, distinct_fake):
    distinct_fake.add_user(email="ann@example.com")
    site.worker("pending", json.dumps(["ann@example.com"]))

    died = site.worker(
        "sweep-and-die-after-answer",
        check=False,
        env={"DISTINCT_TEST_CLAIM_TIMEOUT": "1"},
    )

    assert died.returncode == 4
    assert distinct_fake.users[0].erased  # Distinct acted on it
    (row,) = site.report()
    assert (row["status"], row["claimed"], row["attempts"]) == ("pending", True, 0)

    # Within the dead worker's lease nobody touches the row...
    time.sleep(1.2)
    # ...past it, the next sweep takes it and sends again: at least once.
    out = site.manage("distinct_erase").stdout
    assert "Sent 1: 0 succeeded, 1 not found" in out
    (row,) = site.report()
    assert (row["status"], row["claimed"]) == ("not_found", False)
    assert distinct_fake.count_by_id() == {"0": 2}


def test_claim_of_a_dead_worker_is_respected_within_its_lease(site, distinct_fake):
    site.worker("pending", json.dumps(["ann@example.com"]))
    site.worker("sweep-and-die-after-answer", check=False)  # lease of 300 s

    out = site.manage("distinct_erase").stdout
    assert "Sent 0:" in out
    assert [r["claimed"] for r in site.report()] == [True]
    assert len(distinct_fake.requests) == 1


def test_rolled_back_deletion_sends_nothing_ever(site, distinct_fake):
    site.worker("create-users", json.dumps(["ann@example.com"]))
    site.worker("delete-and-roll-back", "ann")
    site.manage("distinct_erase")
    assert site.report() == []
    assert distinct_fake.requests == []


RACERS = 4
RACE_SIZE = 1000


def test_four_sweepers_send_each_of_1000_requests_exactly_once(site, distinct_fake):
    emails = [f"person{i}@example.com" for i in range(RACE_SIZE)]
    distinct_fake.add_users({"email": email} for email in emails)
    site.worker("pending", json.dumps(emails))

    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "django", "distinct_erase"],
            cwd=ROOT,
            env=site.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    outputs = [racer.communicate(timeout=300) for racer in racers]

    assert [racer.returncode for racer in racers] == [0] * RACERS, [
        err[-3000:] for _, err in outputs
    ]
    counts = distinct_fake.count_by_id()
    assert len(counts) == RACE_SIZE
    assert max(counts.values()) == 1  # no duplicates
    assert {r["status"] for r in site.report()} == {"succeeded"}
    sent = [int(out.split("Sent ", 1)[1].split(":")[0]) for out, _ in outputs]
    assert sum(sent) == RACE_SIZE
    assert all(n > 0 for n in sent), sent  # every process really raced
