"""Before/after: interpool's round trip and ``map`` rate from two source trees, in
alternating rounds, so that a change is judged against the code it replaces on the
same machine at the same time.

    python benchmarks/ab.py OLD_SRC NEW_SRC [--rounds 7] [--json out.json]

``OLD_SRC`` and ``NEW_SRC`` are ``src`` folders (for example of a ``git worktree`` of
the commit before the change, and of this checkout).  Each round starts one fresh
process per tree (order alternating between rounds) that measures, on a warm 2-worker
pool of the default backend:

* ``round trip``: ``pool.submit(inc, x).result()`` one call after another (median
  of 2,000 calls' per-call time, after 200 warm-up calls);
* ``map rate``: ``list(pool.map(inc, range(100_000)))``, calls per second (median of 5);
* ``async``: one awaited call after another, µs per call (one ``asyncio.run`` of 2,000
  calls each, after 200 of warm-up): ``await pool.run(inc, x)``,
  ``await loop.run_in_executor(pool, inc, x)`` and, as the reference measured in the
  same process, ``run_in_executor`` with a 2-thread ``ThreadPoolExecutor``; and the
  thread pool's ``submit(inc, x).result()`` beside interpool's round trip.

The table gives each tree's median over the rounds, the ratio new/old, and the
middle half of the rounds' figures (25th-75th percentile) of each tree, so that a
ratio can be read against the noise: on a shared 2-CPU machine one process's round
trip varies by +-30% from the next (each depends on whether the worker was still
spinning or had to be woken).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def inc(x: int) -> int:
    return x + 1


def round_trips(submit: Any) -> float:
    """Median µs of 2,000 ``submit(inc, x).result()``, after 200 of warm-up."""
    for x in range(200):
        submit(inc, x).result()
    times = []
    for x in range(2000):
        t0 = time.perf_counter()
        submit(inc, x).result()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


async def _awaited(call: Any) -> float:
    """µs per call of 2,000 ``await call(x)`` one after another, after 200."""
    for x in range(200):
        await call(x)
    t0 = time.perf_counter()
    for x in range(2000):
        await call(x)
    return (time.perf_counter() - t0) / 2000 * 1e6


def measure() -> dict[str, float]:
    from interpool import Pool

    with Pool(2) as pool, ThreadPoolExecutor(2) as threads:
        round_trip = round_trips(pool.submit)
        rates = []
        for _ in range(5):
            t0 = time.perf_counter()
            list(pool.map(inc, range(100_000)))
            rates.append(100_000 / (time.perf_counter() - t0))

        async def run_in(ex: Any) -> float:
            loop = asyncio.get_running_loop()
            return await _awaited(lambda x: loop.run_in_executor(ex, inc, x))

        await_run = asyncio.run(_awaited(lambda x: pool.run(inc, x)))
        executor_pool = asyncio.run(run_in(pool))
        executor_thread = asyncio.run(run_in(threads))
        thread_round_trip = round_trips(threads.submit)
    return {
        "round_trip_us": round_trip,
        "map_per_s": statistics.median(rates),
        "await_run_us": await_run,
        "rie_pool_us": executor_pool,
        "rie_thread_us": executor_thread,
        "thread_rt_us": thread_round_trip,
    }


def _middle_half(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.4g}-{q3:.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()
    trees = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for r in range(args.rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        for name in order:
            env = dict(os.environ, PYTHONPATH=trees[name])
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[name].append(json.loads(out))
            print(f"round {r + 1} {name}: {results[name][-1]}", file=sys.stderr)
    summary = {
        name: {k: statistics.median(row[k] for row in rows) for k in rows[0]}
        for name, rows in results.items()
    }
    print(f"{'':14}{'old':>12}{'new':>12}{'new/old':>10}   middle half old | new")
    for key in summary["new"]:
        old, new = summary["old"][key], summary["new"][key]
        spread = " | ".join(_middle_half([row[key] for row in results[n]]) for n in ("old", "new"))
        print(f"{key:14}{old:12.1f}{new:12.1f}{new / old:10.2f}   {spread}")
    if args.json:
        with open(args.json, "w") as f:
            record = {"python": sys.version.split()[0], "trees": trees}
            json.dump({**record, "rounds": results, "medians": summary}, f, indent=1)


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(measure()))
    else:
        main()
