"""interpool's backends against the standard library's executors, in one run.

    python benchmarks/backends.py [--repeat 3] [--calls 300] [--quick] [--output DIR]

Executors, each with 2 workers (``--workers``): ``ThreadPoolExecutor``,
``ProcessPoolExecutor`` (forkserver), ``InterpreterPoolExecutor`` (3.14+), and
``interpool.Pool`` with ``backend="interpreters"``, ``"processes"`` and ``"threads"``.
(The Dask backend has its own benchmark, ``benchmarks/dask_workers.py``.)  For each:

* **round trip**: ``submit(fn).result()`` of a trivial call, one at a time, on a warm
  executor: median and 90th percentile of ``--calls`` calls;
* **is_prime**: the seed workload (six numbers near 1.1e14, ``--quick``: 1.1e13),
  ``list(map(is_prime, numbers))`` on the warm executor: median of ``--repeat``, each
  round timing the loop and every executor in turn, so that a slow spell of a noisy
  machine disturbs every row alike;

and the plain loop as the reference for is_prime.  Prints a table and writes
``backends-<python>.json`` (machine, every sample) and ``.txt`` to ``--output``
(default: ``benchmarks/results``), with how much CPU other processes used meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import interpool
from interpool._tools.bench.core import OtherCpu, machine_info
from interpool._tools.bench.workloads import PRIMES, PRIMES_QUICK, inc, is_prime


def executors(workers: int) -> dict[str, Callable[[], Executor]]:
    made: dict[str, Callable[[], Executor]] = {
        "ThreadPoolExecutor": lambda: ThreadPoolExecutor(workers),
        "ProcessPoolExecutor (forkserver)": lambda: ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("forkserver")
        ),
    }
    if sys.version_info >= (3, 14):
        from concurrent.futures import InterpreterPoolExecutor

        made["InterpreterPoolExecutor"] = lambda: InterpreterPoolExecutor(workers)
    for backend in ("interpreters", "processes", "threads"):
        made[f"interpool {backend}"] = lambda b=backend: interpool.Pool(workers, backend=b)  # type: ignore[misc]
    return made


def round_trips(executor: Executor, calls: int) -> list[float]:
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        executor.submit(inc, i).result()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="is_prime at a tenth of the size")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    numbers = PRIMES_QUICK if args.quick else PRIMES
    expected = [is_prime(n) for n in numbers[:1]]  # (imports and warms the function)

    results: dict[str, Any] = {"loop": {"primes": []}}
    with contextlib.ExitStack() as stack, OtherCpu() as other:
        made = {name: stack.enter_context(make()) for name, make in executors(args.workers).items()}
        for name, executor in made.items():
            list(executor.map(inc, range(4 * args.workers)))  # start every worker
            results[name] = {"round_trip": round_trips(executor, args.calls), "primes": []}
        # Each round times the loop and every executor in turn (the others idle), so
        # that a slow spell of a noisy machine disturbs every row alike.
        for _ in range(args.repeat):
            start = time.perf_counter()
            expected = [is_prime(n) for n in numbers]
            results["loop"]["primes"].append(time.perf_counter() - start)
            for name, executor in made.items():
                start = time.perf_counter()
                got = list(executor.map(is_prime, numbers))
                results[name]["primes"].append(time.perf_counter() - start)
                assert got == expected, (name, got)
            print(f"  round {len(results['loop']['primes'])}: done", file=sys.stderr)

    loop_s = statistics.median(results["loop"]["primes"])
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    lines = [
        f"interpool backends, Python {sys.version.split()[0]}, {args.workers} workers, "
        f"{'quick ' if args.quick else ''}is_prime median of {args.repeat}, "
        f"{args.calls} round trips; {other.describe()}",
        "",
        "| executor | round trip median | p90 | is_prime | speed-up over the loop |",
        "|---|---|---|---|---|",
        f"| loop | | | {loop_s:.2f} s | 1.00x |",
    ]
    for name, data in results.items():
        if name == "loop":
            continue
        trips = sorted(data["round_trip"])
        median = statistics.median(trips) * 1e6
        p90 = trips[int(0.9 * len(trips))] * 1e6
        primes = statistics.median(data["primes"])
        lines.append(
            f"| {name} | {median:.0f} µs | {p90:.0f} µs | {primes:.2f} s | {loop_s / primes:.2f}x |"
        )
    table = "\n".join(lines)
    print(table)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"backends-{version}.txt").write_text(table + "\n", encoding="utf-8")
    record = {
        "benchmark": "interpool-backends",
        "machine": machine_info(),
        "python": sys.version,
        "workers": args.workers,
        "quick": args.quick,
        "other_cpu": other.describe(),
        "samples": results,
    }
    (args.output / f"backends-{version}.json").write_text(
        json.dumps(record, indent=1) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
