"""
Sweep throughput and connections: N pending requests against the double on
loopback, every answer delayed by a fixed latency.  The floor is
N x latency / K seconds.  Target: with K = 16, wall time at most 1.5 x the
floor; K = 1 and the speed-up over it are reported beside it.  The double
also counts the TCP connections it accepted: at most K.  The double runs in
a process of its own, as Distinct runs on machines of its own.

    python benchmarks/bench_sweep.py [--requests N] [--latency S] [--k 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import harness


def measure(
    requests: int, latency: float, ks: list[int], kind: str
) -> list[dict[str, object]]:
    results = []
    with harness.database(kind) as url:
        harness.setup_django(url, SEND_ON_COMMIT=False, TIMEOUT=(5.0, 10.0))
        from django.conf import settings

        from django_distinct import services
        from django_distinct.models import ErasureRequest

        for k in ks:
            ErasureRequest.objects.all().delete()
            harness.seed_pending(requests)
            with harness.RemoteDouble(latency) as double:
                settings.DISTINCT = {**settings.DISTINCT, **double.settings()}
                before = double.connections()
                started = time.perf_counter()
                report = services.sweep(concurrency=k)
                took = time.perf_counter() - started
                # Less the connection that asks.
                connections = double.connections() - before - 1
                duplicates = double.duplicates()
            floor = requests * latency / k
            results.append(
                {
                    "benchmark": "sweep",
                    "database": kind,
                    "requests": requests,
                    "latency_s": latency,
                    "k": k,
                    "sent": report.sent,
                    "duplicates": duplicates,
                    "wall_s": round(took, 2),
                    "floor_s": round(floor, 2),
                    "ratio_to_floor": round(took / floor, 2) if floor else None,
                    "per_second": round(report.sent / took, 1),
                    "connections": connections,
                }
            )
    base = next((r for r in results if r["k"] == 1), None)
    for result in results:
        if base:
            result["speedup_over_k1"] = round(base["wall_s"] / result["wall_s"], 1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--database", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    kind = args.database or harness.kinds()[-1]
    results = measure(args.requests, args.latency, args.k, kind)
    for result in results:
        print(json.dumps(result))
    k16 = [r for r in results if r["k"] == 16]
    ok = all((r["ratio_to_floor"] or 0) <= 1.5 for r in k16) and all(
        r["connections"] <= r["k"] and r["duplicates"] == 0 for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
