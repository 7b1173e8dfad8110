"""
Deletion overhead: 5,000 users removed with one queryset delete, with the
app's receivers connected (send-on-commit off) and without them, on the same
database in the same run.  Target: ratio at most 1.3.

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

        from django_distinct import receivers
        from django_distinct.models import ErasureRequest
        from tests.testapp.models import User

        def one_round(with_app: bool) -> float:
            User.objects.bulk_create(
                User(username=f"u{i}", email=f"u{i}@example.com") for i in range(users)
            )
            (receivers.connect if with_app else receivers.disconnect)()
            started = time.perf_counter()
            User.objects.all().delete()
            took = time.perf_counter() - started
            receivers.connect()
            ErasureRequest.objects.all().delete()
            return took

        one_round(True)  # warm caches and the query planner
        times = {True: [], False: []}
        for _ in range(rounds):
            for with_app in (False, True):  # interleaved: same conditions
                times[with_app].append(one_round(with_app))
        connections.close_all()

    without, with_app = statistics.median(times[False]), statistics.median(times[True])
    return {
        "benchmark": "delete",
        "database": kind,
        "users": users,
        "without_app_s": round(without, 3),
        "with_app_s": round(with_app, 3),
        "ratio": round(with_app / without, 2),
        "target": 1.3,
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
