"""
Shared set-up of the benchmarks: a fresh database, Django, the double.

Each benchmark runs against a database of its own: a SQLite file in a
temporary folder, or a new PostgreSQL database on the server DATABASE_URL
names (dropped afterwards).  Figures are wall-clock seconds on this machine,
so only the ratios measured side by side in one run are meant to be
compared.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """Yield the URL of a fresh, empty database of ``kind``."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="distinct-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(os.environ["DATABASE_URL"])
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = f"distinct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def kinds() -> list[str]:
    """Return the databases to measure on: SQLite, and PostgreSQL if given."""
    url = os.environ.get("DATABASE_URL", "")
    return ["sqlite", "postgres"] if url.startswith("postgres") else ["sqlite"]


def setup_django(url: str, **distinct: object) -> None:
    """Configure Django with the test project's settings on ``url``."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.DISTINCT = {**settings.DISTINCT, **distinct}
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class RemoteDouble:
    """The Distinct double in a process of its own, driven over its control API.

    Distinct does not share the site's processor, so a benchmark of the
    site's side serves the double from another process: its answers then
    cost the sweep nothing but the wait.
    """

    API_KEY = "bench-api-key"

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> RemoteDouble:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "django", "distinct_fake_server", "--port", "0"]
            + ["--api-key", self.API_KEY],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on " not in line:
            self.process.kill()
            raise RuntimeError(f"the double did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()
        if self.latency:
            self.control("POST", "faults", kind="slow", times=None, delay=self.latency)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)

    def control(self, method: str, name: str, **body: object) -> Any:
        import requests

        response = requests.request(
            method, f"{self.url}/_fake/{name}", json=body or None, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def settings(self) -> dict[str, object]:
        return {"BASE_URL": self.url, "API_KEY": self.API_KEY}

    def connections(self) -> int:
        """Return the TCP connections accepted, this question's included."""
        return int(self.control("GET", "stats")["connections_opened"])

    def duplicates(self) -> int:
        """Count the ids the double was asked to erase more than once."""
        ids = Counter(
            (entry.get("json") or {}).get("id")
            for entry in self.control("GET", "requests")
        )
        return sum(1 for count in ids.values() if count > 1)


def machine() -> str:
    """Describe this machine the way the README quotes results."""
    cores = os.cpu_count()
    memory = ""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as info:
            kib = int(info.readline().split()[1])
            memory = f", {kib / 1024 / 1024:.0f} GiB"
    return f"{cores} cores{memory}, Python {platform.python_version()}"


def seed_pending(count: int, prefix: str = "person") -> list[str]:
    """Insert ``count`` pending requests quickly; return their emails."""
    from django_distinct.models import ErasureRequest

    emails = [f"{prefix}{i}@example.com" for i in range(count)]
    for start in range(0, count, 2000):
        rows = [
            ErasureRequest(user_id=str(i), email=email, source="command")
            for i, email in enumerate(emails[start : start + 2000], start)
        ]
        for row in rows:
            row.derive_from_identifiers()
        ErasureRequest.objects.bulk_create(rows, batch_size=500)
    return emails
