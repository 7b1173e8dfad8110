"""
Deletion overhead: 5,000 users removed with one queryset delete, with the
app's receivers connected (send-on-commit off) and without them, on the same
database in the same run.  Target: ratio at most 1.3.

A third variant connects the receivers but records nothing: what the two
signals per user and reading the identifiers cost by themselves, the floor
under any way of recording the requests within the deletion.

    python benchmarks/bench_delete.py [--users N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import harness


def measure(users: int, rounds: int, kind: str) -> dict[str, object]:
    with harness.database(kind) as url:
        harness.setup_django(url, SEND_ON_COMMIT=False)
        from django.db import connections

        from django_distinct import receivers, services
        from django_distinct.models import ErasureRequest
        from tests.testapp.models import User

        record = services.record_erasures

        def record_nothing(*args: object, **kwargs: object) -> list[object]:
            return []

        def one_round(mode: str) -> float:
            User.objects.bulk_create(
                User(username=f"u{i}", email=f"u{i}@example.com") for i in range(users)
            )
            (receivers.disconnect if mode == "without" else receivers.connect)()
            services.record_erasures = record_nothing if mode == "signals" else record
            try:
                started = time.perf_counter()
                User.objects.all().delete()
                took = time.perf_counter() - started
            finally:
                services.record_erasures = record
            receivers.connect()
            ErasureRequest.objects.all().delete()
            return took

        one_round("with")  # warm caches and the query planner
        times: dict[str, list[float]] = {"without": [], "with": [], "signals": []}
        for _ in range(rounds):
            for mode in times:  # interleaved: same conditions
                times[mode].append(one_round(mode))
        connections.close_all()

    without, with_app, signals = (
        statistics.median(times[mode]) for mode in ("without", "with", "signals")
    )
    return {
        "benchmark": "delete",
        "database": kind,
        "users": users,
        "without_app_s": round(without, 3),
        "with_app_s": round(with_app, 3),
        "ratio": round(with_app / without, 2),
        "target": 1.3,
        "signals_only_s": round(signals, 3),
        "signals_only_ratio": round(signals / without, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    result = measure(args.users, args.rounds, args.database or harness.kinds()[0])
    print(json.dumps(result))
    return 0 if result["ratio"] <= result["target"] else 1


if __name__ == "__main__":
    sys.exit(main())
