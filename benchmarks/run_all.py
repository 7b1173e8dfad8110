"""
Run every benchmark and write a table (and a plot of throughput against K)
under benchmarks/results/.  Sizes default to the targets' own; --quick
runs the memory benchmark on 10,000 requests instead of 50,000, and the
rest at their targets' sizes (smaller sweeps would mostly measure the
start and the end of the pipeline, not its pace).

    python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> tuple[list[dict[str, object]], int]:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True
    )
    if done.stderr.strip():
        print(done.stderr, file=sys.stderr)
    rows = [
        json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")
    ]
    return rows, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    users, requests, large = (
        (5000, 2000, 10_000) if args.quick else (5000, 2000, 50_000)
    )

    rows: list[dict[str, object]] = []
    failures = 0
    for kind in harness.kinds():
        for script, extra in (
            ("bench_delete.py", ["--users", str(users)]),
            ("bench_sweep.py", ["--requests", str(requests), "--k", "1", "4", "16"]),
            ("bench_sweep.py", ["--requests", "500", "--k", "8", "--latency", "0"]),
            ("bench_memory.py", ["--large", str(large)]),
        ):
            found, code = run(script, *extra, "--database", kind)
            rows += found
            failures += code != 0
            for row in found:
                print(json.dumps(row), flush=True)

    harness.RESULTS.mkdir(exist_ok=True)
    stamp = datetime.date.today().isoformat()
    lines = [f"# Benchmarks, {stamp}, {harness.machine()}", ""]
    for row in rows:
        lines.append("- " + ", ".join(f"{k}={v}" for k, v in row.items()))
    (harness.RESULTS / "results.md").write_text("\n".join(lines) + "\n")
    plot([r for r in rows if r["benchmark"] == "sweep" and r["latency_s"]])
    print(f"wrote {harness.RESULTS / 'results.md'}")
    return 1 if failures else 0


def plot(rows: list[dict[str, object]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    figure, axes = plt.subplots(figsize=(6, 4))
    for kind in sorted({str(r["database"]) for r in rows}):
        mine = sorted((r for r in rows if r["database"] == kind), key=lambda r: r["k"])
        axes.plot(
            [r["k"] for r in mine], [r["per_second"] for r in mine], "o-", label=kind
        )
    if rows:
        latency = float(rows[0]["latency_s"])
        ks = sorted({int(r["k"]) for r in rows})
        axes.plot(ks, [k / latency for k in ks], "--", color="grey", label="floor")
    axes.set_xlabel("concurrency K")
    axes.set_ylabel("requests per second")
    axes.set_xscale("log", base=2)
    axes.legend()
    figure.tight_layout()
    figure.savefig(harness.RESULTS / "throughput.png", dpi=100)


if __name__ == "__main__":
    sys.exit(main())
