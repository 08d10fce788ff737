"""What forwarding costs (issue 19): interpool's round trip and ``map`` rate with
forwarding on (``Pool()``, the default) and off (``Pool(forward=False)``) when the
tasks print and log nothing, and how long forwarding many log records and printed
lines takes.

    python benchmarks/forwarding.py [--rounds 7] [--json out.json]

Each round is one fresh process with two warm 2-worker pools of worker interpreters,
forwarding on and off, measured alternately (six times each, in alternating order;
the median counts):

* ``round trip``: median µs of 2,000 ``pool.submit(inc, x).result()`` after 200 of
  warm-up, beside a 2-thread ``ThreadPoolExecutor``'s in the same process;
* ``map rate``: ``list(pool.map(inc, range(100_000)))``, calls per second;
* with forwarding on only: ``10,000 log records``: two tasks (one per worker) each
  logging 5,000 INFO records, handled by the caller's ``logging`` (a formatter and a
  handler writing to an in-memory stream), seconds from submit to both results;
  ``10,000 printed lines``: the same with ``print`` to the caller's ``sys.stdout``
  (an in-memory stream); ``DEBUG records, caller at INFO``: 10,000 ``log.debug``
  calls that the worker drops (the caller's level is followed there), seconds.

The table gives each setting's median over the rounds and the ratio on/off (the
JSON also has the middle half of the rounds, 25th-75th percentile).  The thread
pool's round trip is measured in the same process, after the pools.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ab import inc, round_trips  # (this script's folder is on sys.path)

LOGGER = "bench.forwarding"


def log_lines(n: int) -> int:
    log = logging.getLogger(LOGGER)
    for i in range(n):
        log.info("record %d of the benchmark", i)
    return n


def debug_lines(n: int) -> int:
    log = logging.getLogger(LOGGER)
    for i in range(n):
        log.debug("record %d of the benchmark", i)
    return n


def print_lines(n: int) -> int:
    for i in range(n):
        print("line", i, "of the benchmark")
    return n


def _timed(pool: Any, fn: Any, n: int) -> float:
    t0 = time.perf_counter()
    futures = [pool.submit(fn, n // 2) for _ in range(2)]
    assert [f.result() for f in futures] == [n // 2] * 2
    return time.perf_counter() - t0


def measure() -> dict[str, dict[str, float]]:
    """One process's figures (see the module docstring): both pools live side by
    side, measured alternately."""
    import interpool

    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.root.addHandler(handler)
    logging.root.setLevel(logging.INFO)
    figures: dict[str, dict[str, float]] = {"on": {}, "off": {}}
    pools = {"on": interpool.Pool(2), "off": interpool.Pool(2, forward=False)}
    try:
        trips: dict[str, list[float]] = {"on": [], "off": []}
        rates: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(6):
            for name in ("on", "off") if i % 2 else ("off", "on"):
                pool = pools[name]
                trips[name].append(round_trips(pool.submit))
                t0 = time.perf_counter()
                list(pool.map(inc, range(100_000)))
                rates[name].append(100_000 / (time.perf_counter() - t0))
        for name in ("on", "off"):
            figures[name]["round trip (µs)"] = statistics.median(trips[name])
            figures[name]["map rate (calls/s)"] = statistics.median(rates[name])
        pool = pools["on"]
        on = figures["on"]
        _timed(pool, log_lines, 200)  # warm: logging imported in both workers
        on["10,000 log records (s)"] = _timed(pool, log_lines, 10_000)
        assert sink.getvalue().count("\n") == 10_200
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            on["10,000 printed lines (s)"] = _timed(pool, print_lines, 10_000)
        assert out.getvalue().count("\n") == 10_000
        on["10,000 DEBUG records, caller at INFO (s)"] = _timed(pool, debug_lines, 10_000)
    finally:
        for pool in pools.values():
            pool.shutdown()
    with ThreadPoolExecutor(2) as threads:
        figures["off"]["ThreadPool round trip (µs)"] = round_trips(threads.submit)
    return figures


def _child() -> dict[str, dict[str, float]]:
    out = subprocess.run(
        [sys.executable, __file__, "--child"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return dict(json.loads(out.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure()))
        return
    runs = []
    for r in range(args.rounds):
        runs.append(_child())
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    table: dict[str, Any] = {}
    names = list(runs[0]["on"]) + [n for n in runs[0]["off"] if n not in runs[0]["on"]]
    for name in names:
        row: dict[str, Any] = {}
        for side in ("on", "off"):
            values = [run[side][name] for run in runs if name in run[side]]
            if values:
                row[side] = statistics.median(values)
                row[side + "_iqr"] = _iqr(values)
        if "on" in row and "off" in row:
            row["ratio on/off"] = row["on"] / row["off"]
        table[name] = row
    print(f"Python {sys.version.split()[0]}, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    print(f"{'':42} {'forward on':>12} {'forward off':>12} {'on/off':>7}")
    for name, row in table.items():
        on = f"{row['on']:12.4g}" if "on" in row else f"{'':12}"
        off = f"{row['off']:12.4g}" if "off" in row else f"{'':12}"
        ratio = f"{row['ratio on/off']:7.2f}" if "ratio on/off" in row else ""
        print(f"{name:42} {on} {off} {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python": sys.version, "rounds": args.rounds, "table": table}, f, indent=1)


def _iqr(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q[0], q[2]


if __name__ == "__main__":
    main()
