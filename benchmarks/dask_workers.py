"""Pure-Python tasks on Dask workers: threads, processes, or sub-interpreters.

    python benchmarks/dask_workers.py [--repeat 5] [--quick] [--output DIR]

The seed workload (``is_prime`` over the six seed numbers of
``interpool._tools.bench.workloads``, one Dask task per number, ``client.map(...,
pure=False)`` then ``client.gather``) in one run on three local clusters, all on
127.0.0.1, each with N = ``os.process_cpu_count()`` worker threads in all:

a. ``threads``: one worker process of N threads (what Dask gives pure Python by
   default per process: the threads share one GIL, so they take turns);
b. ``processes``: N worker processes of one thread (the usual answer: one process per
   core);
c. ``subinterpreters``: one worker process of N threads with
   ``interpool.dask_worker.SubinterpreterPlugin``: its tasks run on N
   sub-interpreters, each with its own GIL;

and the plain loop in this process as the reference.  The three clusters are started
side by side and warmed up (a round on small numbers, which also imports the workload
in every worker and interpreter, then one on the real ones); then each of
``--repeat`` rounds times the loop and each cluster in turn (the others idle), so
that a busy spell of a noisy machine disturbs every row alike.

Prints a table (median seconds, min-max, speed-up over the loop) and writes
``dask-<python>.json`` (machine, configuration, every sample), ``.txt`` (the table)
and, if matplotlib is installed, ``.png`` to ``--output`` (default: this directory's
``results/``).  A note says how much CPU other processes used meanwhile: on a busy
machine, figures are disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from distributed import Client

from interpool._backends.dask import loopback_cluster
from interpool._tools.bench.core import (
    OTHER_CPU_DISTURBED,
    OtherCpu,
    list_schedule,
    machine_info,
    note_lines,
)
from interpool._tools.bench.workloads import PRIMES, PRIMES_QUICK, PRIMES_TEST, is_prime
from interpool.dask_worker import SubinterpreterPlugin

RESULTS = Path(__file__).resolve().parent / "results"

#: (name, description, worker processes, threads per worker, with the plugin)
CLUSTERS: list[tuple[str, str, Callable[[int], tuple[int, int]], bool]] = [
    ("threads", "1 worker process x N threads", lambda n: (1, n), False),
    ("processes", "N worker processes x 1 thread", lambda n: (n, 1), False),
    (
        "subinterpreters",
        "1 worker process x N threads + SubinterpreterPlugin",
        lambda n: (1, n),
        True,
    ),
]


@contextmanager
def cluster(processes: int, threads: int, plugin: bool) -> Iterator[Client]:
    with (
        loopback_cluster(processes, threads) as local,
        Client(local, set_as_default=False) as client,
    ):
        if plugin:
            client.register_plugin(SubinterpreterPlugin())
        yield client


def run_once(client: Client, numbers: list[int]) -> float:
    start = time.perf_counter()
    results = client.gather(client.map(is_prime, numbers, pure=False))
    elapsed = time.perf_counter() - start
    # Every list of numbers has the seed's shape: five primes, then a composite.
    if results != [True] * 5 + [False]:
        raise AssertionError(f"wrong results: {results}")
    return elapsed


def time_loop(numbers: list[int], per_number: list[float]) -> float:
    """One round of the loop; adds the time of each number to ``per_number``."""
    start = time.perf_counter()
    for i, n in enumerate(numbers):
        t = time.perf_counter()
        is_prime(n)
        per_number[i] += time.perf_counter() - t
    return time.perf_counter() - start


def progress(message: str) -> None:
    print(f"[dask-bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per row")
    parser.add_argument("--quick", action="store_true", help="numbers near 1.1e13 (~3x faster)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args(argv)
    numbers = PRIMES_QUICK if args.quick else PRIMES
    n = os.process_cpu_count() or 1
    info = machine_info()
    started = time.perf_counter()

    rows: dict[str, dict[str, Any]] = {
        "loop": {"description": "for loop in this process", "samples": []}
    }
    clients: dict[str, Client] = {}
    per_number = [0.0] * len(numbers)
    with ExitStack() as stack:
        for name, description, shape, plugin in CLUSTERS:
            processes, threads = shape(n)
            progress(f"{name}: starting {processes} process(es) x {threads} thread(s)")
            client = stack.enter_context(cluster(processes, threads, plugin))
            run_once(client, PRIMES_TEST)  # imports, interpreters, connections
            run_once(client, numbers)
            clients[name] = client
            rows[name] = {
                "description": description.replace("N", str(n)),
                "worker_processes": processes,
                "threads_per_worker": threads,
                "plugin": plugin,
                "samples": [],
            }
        # Round after round, each row in turn: a busy spell of the machine disturbs
        # every row alike rather than one.
        with OtherCpu() as other:
            for i in range(args.repeat):
                rows["loop"]["samples"].append(time_loop(numbers, per_number))
                for name, client in clients.items():
                    rows[name]["samples"].append(run_once(client, numbers))
                progress(f"round {i + 1}/{args.repeat}")
    per_number = [t / args.repeat for t in per_number]
    ceiling = sum(per_number) / list_schedule(per_number, n)
    document = {
        "benchmark": "interpool-dask-workers",
        "schema_version": 1,
        "machine": info,
        "load_average_after": list(os.getloadavg()),
        "other_cpu_percent": other.percent,
        "duration_seconds": time.perf_counter() - started,
        "config": {
            "numbers": numbers,
            "workload": "is_prime over " + ("PRIMES_QUICK" if args.quick else "PRIMES (the seed)"),
            "threads_in_all": n,
            "repeat": args.repeat,
            "per_number_seconds": per_number,
            "ceiling_speedup": ceiling,
        },
        "rows": rows,
    }
    text = render(document)
    print(text)
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"dask-{sys.version_info[0]}.{sys.version_info[1]}"
    (args.output / f"{stem}.json").write_text(json.dumps(document, indent=2) + "\n")
    (args.output / f"{stem}.txt").write_text(text + "\n")
    png = args.output / f"{stem}.png"
    chart(document, png)
    progress(f"wrote {args.output / stem}.json, .txt" + (", .png" if png.exists() else ""))
    return 0


def render(document: dict[str, Any]) -> str:
    info, config, rows = document["machine"], document["config"], document["rows"]
    loop = statistics.median(rows["loop"]["samples"])
    lines = [
        f"Dask workers, {config['workload']}: Python {info['python']}, {info['cpu_count']} CPUs, "
        f"{info['platform']}, load {info['load_average'][0]:.2f} before, "
        f"{document['load_average_after'][0]:.2f} after; N = {config['threads_in_all']}, "
        f"medians of {config['repeat']} repeats; {info['date']}",
        "",
        f"{'':<16} {'workers':<52} {'seconds':>7} {'min-max':>11} {'vs loop':>7}",
        f"{'-' * 16} {'-' * 52} {'-' * 7} {'-' * 11} {'-' * 7}",
    ]
    for name, row in rows.items():
        median = statistics.median(row["samples"])
        spread = f"{min(row['samples']):.2f}-{max(row['samples']):.2f}"
        lines.append(
            f"{name:<16} {row['description']:<52} {median:>7.2f} {spread:>11} "
            f"{loop / median:>6.2f}x"
        )
    times = ", ".join(f"{t:.3f}" for t in config["per_number_seconds"])
    lines += note_lines(
        [
            f"ceiling: the numbers take {times} s each in the loop; N = "
            f"{config['threads_in_all']} workers taking them in order cannot beat "
            f"{config['ceiling_speedup']:.2f}x over the loop.",
            "one Dask task per number (client.map, pure=False, then gather); the three "
            "clusters run side by side (the idle ones wait), each warmed up first, and "
            "the rounds take each row in turn.",
            other_note(document["other_cpu_percent"]),
        ]
    )
    return "\n".join(lines)


def other_note(percent: float | None) -> str:
    if percent is None:
        return "other processes' CPU use: unknown on this system."
    verdict = " (disturbed: re-run on a quiet machine)" if percent > OTHER_CPU_DISTURBED else ""
    return f"other processes used {percent:.0f}% of the CPUs meanwhile{verdict}."


def chart(document: dict[str, Any], path: Path) -> None:
    """A bar chart of the medians (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = document["rows"]
    names = list(rows)
    medians = [statistics.median(rows[k]["samples"]) for k in names]
    lows = [m - min(rows[k]["samples"]) for k, m in zip(names, medians, strict=True)]
    highs = [max(rows[k]["samples"]) - m for k, m in zip(names, medians, strict=True)]
    loop = medians[0]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    colors = ["#999999", "#d9822b", "#4a90d9", "#3aa35b"]
    ax.barh(names[::-1], medians[::-1], xerr=[lows[::-1], highs[::-1]], color=colors[::-1])
    for y, (m, _) in enumerate(zip(medians[::-1], names[::-1], strict=True)):
        ax.text(m, y, f"  {m:.2f} s ({loop / m:.2f}x)", va="center")
    info = document["machine"]
    ax.set_xlabel("seconds (median, min-max bars); lower is better")
    ax.set_title(
        f"is_prime on Dask workers, N = {document['config']['threads_in_all']}: "
        f"Python {info['python']}, {info['cpu_count']} CPUs",
        fontsize=10,
    )
    ax.set_xlim(0, max(medians) * 1.45)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
