"""The seed comparison (``python -m interpool bench --quick``, ``make demo``).

The classic example: ``is_prime`` over six big numbers with a plain ``for`` loop and
with each executor, ``max_workers`` workers.  For every executor a fresh instance runs
``list(ex.map(is_prime, PRIMES))`` twice:

* cold: from the constructor to the first results, start-up included (processes
  or interpreters created, the workloads module imported in each worker);
* warm: the same call again on the same executor.

Shutdown is timed apart (``shutdown_seconds`` in the JSON), not in either figure.
"""

from __future__ import annotations

import gc
import json
import time
from typing import Any

from .core import (
    KINDS,
    LABELS,
    OtherCpu,
    Stat,
    ceiling_speedup,
    fmt,
    fmt_x,
    format_table,
    machine_info,
    machine_line,
    make_executor,
    note_lines,
    output_dir,
    plural,
    progress,
    python_tag,
    ratio,
    rotated,
    time_loop,
    watchdog,
    write_results,
)
from .workloads import PRIMES, is_prime

__all__ = ["main", "run"]


#: Without ``--repeat``: up to this many repeats, but no new one after
#: :data:`BUDGET_SECONDS` (one repeat takes ~7 s on an idle 2-CPU machine, twice that
#: on a busy one; ``make demo`` must stay well under a minute).
DEFAULT_REPEAT = 3
BUDGET_SECONDS = 18.0


def run(workers: int, repeat: int, budget: float | None = None) -> tuple[dict[str, Any], str]:
    """Measure ``repeat`` times (fewer if ``budget`` seconds have passed before a repeat
    starts; at least once); return the JSON document and the text table."""
    started = time.perf_counter()
    info = machine_info()
    loop = Stat()
    per_item = [Stat() for _ in PRIMES]
    cold = {kind: Stat() for kind in KINDS}
    warm = {kind: Stat() for kind in KINDS}
    shutdown = {kind: Stat() for kind in KINDS}
    other = OtherCpu().__enter__()
    for r in range(repeat):
        if r and budget is not None and time.perf_counter() - started > budget:
            progress(f"seed comparison: {budget:.0f} s budget used after {plural(r, 'repeat')}")
            repeat = r
            break
        progress(f"seed comparison, repeat {r + 1}/{repeat}")
        elapsed, items, expected = time_loop(PRIMES)
        loop.add(elapsed)
        for stat, t in zip(per_item, items, strict=True):
            stat.add(t)
        for kind in rotated(KINDS, r):
            gc.collect()
            t0 = time.perf_counter()
            ex = make_executor(kind, workers)
            try:
                first = list(ex.map(is_prime, PRIMES))
                t1 = time.perf_counter()
                second = list(ex.map(is_prime, PRIMES))
                t2 = time.perf_counter()
            finally:
                ex.shutdown(wait=True)
            t3 = time.perf_counter()
            if first != expected or second != expected:
                raise AssertionError(f"{LABELS[kind]}: wrong is_prime results")
            cold[kind].add(t1 - t0)
            warm[kind].add(t2 - t1)
            shutdown[kind].add(t3 - t2)

    other.__exit__()
    info["other_cpu_percent"] = other.percent
    medians = [s.median for s in per_item]
    ceiling = ceiling_speedup(medians, workers)
    rows = [
        [
            LABELS["loop"],
            fmt(loop.median),
            fmt(loop.median),
            "1.00x",
            "1.00x",
        ]
    ]
    for kind in KINDS:
        rows.append(
            [
                LABELS[kind],
                fmt(cold[kind].median),
                fmt(warm[kind].median),
                fmt_x(ratio(loop.median, cold[kind].median)),
                fmt_x(ratio(loop.median, warm[kind].median)),
            ]
        )
    table = format_table(
        ["", "cold (s)", "warm (s)", "speed-up cold", "speed-up warm"],
        rows,
    )
    notes = [
        "cold: constructor + first list(ex.map(is_prime, PRIMES)); warm: the same call again "
        "on the same executor; speed-up = loop seconds / executor seconds (medians; the loop "
        f"ranged {fmt(min(loop.samples))}-{fmt(max(loop.samples))} s).",
        f"ceiling: 5 numbers of ~{fmt(medians[0])} s and 1 of ~{fmt(medians[-1])} s, one "
        f"task each, on {workers} workers: at best {fmt_x(ceiling)} over the loop (a figure "
        "above that means the loop's own timing was noisy).",
    ]
    if other.percent is not None:
        notes.append(other.describe())
    if info["ipe_workers_need_sys_path"]:
        notes.append(
            "InterpreterPoolExecutor workers could not import interpool.bench.workloads "
            "(gh-126714); they got the caller's sys.path through an initializer."
        )
    text = "\n".join(
        [
            "interpool seed comparison: is_prime over the 6 numbers of the classic example",
            machine_line(info, workers, repeat),
            "",
            table,
            *note_lines(notes),
        ]
    )
    document: dict[str, Any] = {
        "benchmark": "interpool-seed",
        "schema_version": 1,
        "machine": info,
        "config": {
            "workers": workers,
            "repeat": repeat,
            "budget_seconds": budget,
            "numbers": PRIMES,
        },
        "duration_seconds": time.perf_counter() - started,
        "ceiling_speedup": ceiling,
        "loop": {
            "seconds": loop.to_json(),
            "seconds_per_number": [s.to_json() for s in per_item],
        },
        "executors": {
            kind: {
                "label": LABELS[kind],
                "cold_seconds": cold[kind].to_json(),
                "warm_seconds": warm[kind].to_json(),
                "shutdown_seconds": shutdown[kind].to_json(),
                "speedup_cold": ratio(loop.median, cold[kind].median),
                "speedup_warm": ratio(loop.median, warm[kind].median),
                # Best-of: noise only ever adds time to CPU-bound runs.
                "speedup_warm_best": ratio(min(loop.samples), min(warm[kind].samples)),
            }
            for kind in KINDS
        },
        "notes": notes,
    }
    return document, text


def main(*, workers: int, repeat: int | None, output: str | None, json_out: bool) -> int:
    """``python -m interpool bench --quick``: print the table; with ``--output``, also
    write ``seed-<python>.json`` and ``.txt`` there."""
    budget = BUDGET_SECONDS if repeat is None else None
    repeat = DEFAULT_REPEAT if repeat is None else repeat
    with watchdog(60.0 + 40.0 * repeat):
        document, text = run(workers, repeat, budget)
    if json_out:
        print(json.dumps(document, indent=2))
    else:
        print(text)
    if output is not None:
        paths = write_results(output_dir(output), f"seed-{python_tag()}", document, text)
        progress("wrote " + ", ".join(str(p) for p in paths))
    return 0
