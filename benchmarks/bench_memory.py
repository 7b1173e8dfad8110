"""
Memory: the peak resident size of a sweep of 50,000 pending requests, beside
a sweep of 1,000, each in a fresh process.  Target: at most 50 MB more.

    python benchmarks/bench_memory.py [--small N] [--large N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import harness


def child(count: int, kind: str) -> None:
    """Seed ``count`` requests, sweep them, print the peak RSS in KiB.

    The double runs in a process of its own: its log of every request it
    received would otherwise be counted as the sweep's memory.
    """
    with harness.database(kind) as url:
        harness.setup_django(url, SEND_ON_COMMIT=False)
        from django.conf import settings

        from django_distinct import services

        harness.seed_pending(count)
        with harness.RemoteDouble() as double:
            settings.DISTINCT = {**settings.DISTINCT, **double.settings()}
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            report = services.sweep(concurrency=8)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "count": count,
                    "sent": report.sent,
                    "before_kib": before,
                    "peak_kib": peak,
                }
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"])
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    kind = args.database or harness.kinds()[-1]
    if args.child is not None:
        child(args.child, kind)
        return 0

    runs = {}
    for count in (args.small, args.large):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(count), "--database", kind],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs[count] = json.loads(out.strip().splitlines()[-1])
    small, large = runs[args.small], runs[args.large]
    growth = (large["peak_kib"] - small["peak_kib"]) / 1024
    result = {
        "benchmark": "memory",
        "database": kind,
        "small": args.small,
        "large": args.large,
        "small_peak_mib": round(small["peak_kib"] / 1024, 1),
        "large_peak_mib": round(large["peak_kib"] / 1024, 1),
        "growth_mib": round(growth, 1),
        "target_mib": 50,
        "sent": large["sent"],
    }
    print(json.dumps(result))
    return 0 if growth <= 50 and large["sent"] == args.large else 1


if __name__ == "__main__":
    sys.exit(main())
