"""Section h of the core benchmark, run as a script (``python script_functions.py
CALLS REPEAT WORKERS``) so that it has functions of its own: the per-call cost of a
function of a script that workers do not load by name (sent by value once, then
kept by each worker), beside a module function's (by name) and a lambda's (by value
at every call), and the cost of the first call of each on a warm pool.

It starts its pools at its top level, without the ``if __name__ == "__main__":``
guard, on purpose: interpool then never loads this script in its workers and sends
its functions by value (see ``interpool._wire.functions``).  It prints one JSON
object: ``{row key: [microseconds per call, one per repeat]}``.
"""

import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from interpool import Pool
from interpool._tools.bench.workloads import inc


def script_inc(x: int) -> int:
    return x + 1


def first_call(fn: Callable[[int], Any], workers: int) -> float:
    """Microseconds of the first call of ``fn`` on a new pool whose workers are up."""
    with Pool(workers) as pool:
        list(pool.map(abs, range(4 * workers)))  # every worker started
        start = time.perf_counter()
        pool.submit(fn, 1).result()
        return (time.perf_counter() - start) * 1e6


CALLS, REPEAT, WORKERS = (int(a) for a in sys.argv[1:4])
samples: dict[str, list[float]] = {
    key: []
    for key in ("module", "script", "lambda", "first_module", "first_script", "first_lambda")
}
calls: dict[str, Callable[[int], Any]] = {
    "module": inc,
    "script": script_inc,
    "lambda": lambda x: x + 1,
}
for _ in range(REPEAT):
    for key in ("module", "script", "lambda"):
        samples[f"first_{key}"].append(first_call(calls[key], WORKERS))
with Pool(WORKERS) as pool:
    for fn in calls.values():
        for x in range(200):
            pool.submit(fn, x).result()
    keys = list(calls)
    for r in range(REPEAT):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            fn = calls[key]
            gc.collect()
            start = time.perf_counter()
            for x in range(CALLS):
                pool.submit(fn, x).result()
            samples[key].append((time.perf_counter() - start) / CALLS * 1e6)
print(json.dumps(samples))
