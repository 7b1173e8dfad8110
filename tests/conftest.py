import pytest
from django.db import connection

pytest_plugins = ["django_distinct.testing.pytest_plugin"]


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: set DATABASE_URL=postgres://... to run it"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    yield
    if connection.vendor != "postgresql":
        return
    # A request thread of the live server (kept alive by the browser's
    # keep-alive connection) can outlive the test and hold a session on the
    # test database, which PostgreSQL then refuses to drop.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
