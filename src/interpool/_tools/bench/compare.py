"""The seed comparison: ``python -m interpool bench`` (and ``--quick``, ``make demo``).

The classic comparison of the ``concurrent.futures`` docs, on four workloads:

1. ``primes``: ``is_prime`` over the six seed numbers (CPU-bound, holds the GIL);
2. ``bytes``: the same, each task also returning a large ``bytes`` (100 MiB);
3. ``pbkdf2``: ``hashlib.pbkdf2_hmac``, CPU-bound but releasing the GIL;
4. ``tiny``: many tiny tasks (``x + 1``), where per-task overhead is everything;

each run as ``list(ex.map(fn, items))`` by a plain loop (the builtin ``map``: no
executor) and by ``ThreadPoolExecutor``, ``ProcessPoolExecutor``,
``InterpreterPoolExecutor`` (3.14+) and ``interpool.Pool``.  Every executor is
measured as the seed did it: a **fresh** one runs the call once (constructor and
start-up included), then the same executor runs it again (**reused**); shutdown is
timed apart.  Each figure is the median of ``repeat`` rounds, executors in an order
that rotates from round to round.

:func:`run` returns the JSON document and the text table; :func:`main` prints the
table, writes ``<stem>.json``, ``.txt`` and, when matplotlib is installed, the
``.png`` chart of :mod:`.chart`.
"""

from __future__ import annotations

import gc
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from .chart import disturbed_note, fmt_seconds, fmt_speedup
from .core import (
    ALL_KINDS,
    HAVE_IPE,
    IPE_MISSING,
    LABELS,
    Kind,
    OtherCpu,
    Stat,
    ceiling_speedup,
    fmt_x,
    format_table,
    machine_info,
    machine_line,
    make_executor,
    note_lines,
    output_dir,
    plural,
    python_tag,
    ratio,
    rotated,
    watchdog,
    write_results,
)
from .progress import Progress
from .workloads import (
    PRIMES,
    PRIMES_QUICK,
    PRIMES_TEST,
    inc,
    is_prime,
    pbkdf2,
    prime_then_bytes,
)

__all__ = [
    "EXECUTORS",
    "SIZES",
    "WORKLOADS",
    "Selection",
    "main",
    "parse_only",
    "run",
]

type Size = Literal["full", "quick", "test"]

#: Input sizes: ``full`` (the default), ``quick`` (``--quick``: < 1 minute in all on
#: a 2-CPU machine), ``test`` (a few seconds; for the test suite, not the CLI).
SIZES: tuple[Size, ...] = ("full", "quick", "test")

#: The executors, in table order: the plain loop first (the baseline of every ratio).
EXECUTORS: tuple[str, ...] = ("loop", *ALL_KINDS)

MiB = 1024 * 1024

#: Short names for narrow places (the chart's legend uses the full ones).
SHORT = {
    "loop": "loop",
    "thread": "threads",
    "process": "processes",
    "ipe": "InterpreterPool",
    "interpool": "interpool",
}


@dataclass(frozen=True)
class Inputs:
    """What one workload maps over at one size: ``ex.map(fn, *args)``."""

    args: tuple[Sequence[Any], ...]
    describe: str
    params: dict[str, Any]

    @property
    def items(self) -> int:
        return len(self.args[0])


@dataclass(frozen=True)
class Workload:
    """A task function and its inputs at each size."""

    key: str
    title: str
    fn: Callable[..., Any]
    inputs: dict[Size, Inputs]
    note: str

    @property
    def call(self) -> str:
        """The timed call, as a user would write it."""
        args = ", ".join(["items", *(["sizes"] if self.key == "bytes" else [])])
        return f"list(ex.map({self.fn.__name__}, {args}))"


def _bytes_inputs(numbers: list[int], size: int, describe: str) -> Inputs:
    return Inputs(
        (numbers, [size] * len(numbers)),
        f"{describe}, {size // MiB} MiB result each",
        {"numbers": numbers, "result_bytes": size},
    )


def _pbkdf2_inputs(tasks: int, iterations: int) -> Inputs:
    return Inputs(
        ([iterations] * tasks,),
        f"{tasks} tasks of {iterations:,} SHA-256 rounds",
        {"tasks": tasks, "iterations": iterations},
    )


def _tiny_inputs(n: int) -> Inputs:
    return Inputs((range(n),), f"{n:,} tasks x + 1", {"tasks": n})


_SEED = "the 6 seed numbers (5 primes near 1.1e14, 1 composite)"
_SEED_QUICK = "6 numbers near 1.1e13 (the seed's shape, ~3x faster)"
_SEED_TEST = "6 numbers near 1.1e10"

#: The four workloads, in table order.
WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload(
            "primes",
            "is_prime over the seed numbers",
            is_prime,
            {
                "full": Inputs((PRIMES,), _SEED, {"numbers": PRIMES}),
                "quick": Inputs((PRIMES_QUICK,), _SEED_QUICK, {"numbers": PRIMES_QUICK}),
                "test": Inputs((PRIMES_TEST,), _SEED_TEST, {"numbers": PRIMES_TEST}),
            },
            "CPU-bound, holds the GIL: threads cannot run it in parallel.",
        ),
        Workload(
            "bytes",
            "is_prime, returning a large bytes each",
            prime_then_bytes,
            {
                "full": _bytes_inputs(PRIMES, 100 * MiB, _SEED),
                "quick": _bytes_inputs(PRIMES_QUICK, 32 * MiB, _SEED_QUICK),
                "test": _bytes_inputs(PRIMES_TEST, 1 * MiB, _SEED_TEST),
            },
            "The results must reach the caller: pickled through a pipe (processes), "
            "copied (InterpreterPoolExecutor), or handed over (interpool).",
        ),
        Workload(
            "pbkdf2",
            "hashlib.pbkdf2_hmac (releases the GIL)",
            pbkdf2,
            {
                "full": _pbkdf2_inputs(8, 250_000),
                "quick": _pbkdf2_inputs(8, 100_000),
                "test": _pbkdf2_inputs(4, 2_000),
            },
            "OpenSSL runs without the GIL: threads run it in parallel too.",
        ),
        Workload(
            "tiny",
            "many tiny tasks",
            inc,
            {"full": _tiny_inputs(10_000), "quick": _tiny_inputs(2_000), "test": _tiny_inputs(200)},
            "Per-task overhead only: the loop needs microseconds; every executor's map "
            "uses its default chunksize (interpool batches automatically).",
        ),
    )
}


# -- selection (--only) ---------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The workloads and executors to run; the loop always runs (it is the baseline)."""

    workloads: tuple[str, ...] = tuple(WORKLOADS)
    executors: tuple[str, ...] = EXECUTORS


def parse_only(values: Sequence[str] | None) -> Selection:
    """``--only`` values (each a comma-separated list of workload and executor names,
    in any mix) as a :class:`Selection`: the named workloads (all if none is named)
    times the named executors (all if none is named), the loop always included.

    Raises ``ValueError`` naming every unknown name and listing the valid ones."""
    names = [n.strip() for value in values or () for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS and n not in EXECUTORS]
    if unknown:
        raise ValueError(
            f"unknown name{'s' if len(unknown) > 1 else ''} for --only: "
            f"{', '.join(map(repr, unknown))}; valid workloads: {', '.join(WORKLOADS)}; "
            f"valid executors: {', '.join(EXECUTORS)} (comma-separated, e.g. "
            "--only primes,tiny,interpool,ipe)"
        )
    if values is not None and not names:
        raise ValueError("--only needs at least one workload or executor name")
    workloads = tuple(w for w in WORKLOADS if w in names) or tuple(WORKLOADS)
    executors = tuple(e for e in EXECUTORS if e in names) or EXECUTORS
    return Selection(workloads, ("loop", *(e for e in executors if e != "loop")))


def _executors_of(selection: Selection) -> tuple[list[str], dict[str, str]]:
    """The executors to run (loop first, then table order), and those skipped: why."""
    chosen = ["loop", *(e for e in EXECUTORS[1:] if e in selection.executors)]
    skipped: dict[str, str] = {}
    if not HAVE_IPE and "ipe" in chosen:
        chosen.remove("ipe")
        skipped["ipe"] = IPE_MISSING
    return chosen, skipped


# -- measuring --------------------------------------------------------------------------


@dataclass
class Cell:
    """The measurements of one executor on one workload."""

    fresh: Stat = field(default_factory=Stat)
    reused: Stat = field(default_factory=Stat)
    shutdown: Stat = field(default_factory=Stat)


def _summary(results: list[Any]) -> list[Any]:
    """What is compared between executors: the results, or for ``bytes`` results
    their length and end bytes (comparing 600 MiB would cost more than the check)."""
    return [(len(r), r[:1], r[-1:]) if isinstance(r, bytes) else r for r in results]


def _time_loop(wl: Workload, inputs: Inputs, per_item: list[Stat] | None) -> tuple[float, Any]:
    """The plain loop: ``list(map(fn, *args))``; with ``per_item`` (few, long items),
    each call timed too (the chart's ceiling)."""
    perf = time.perf_counter
    if per_item is None:
        start = perf()
        out = list(map(wl.fn, *inputs.args))
        elapsed = perf() - start
    else:
        out = []
        start = perf()
        for i, args in enumerate(zip(*inputs.args, strict=True)):
            t = perf()
            out.append(wl.fn(*args))
            per_item[i].add(perf() - t)
        elapsed = perf() - start
    summary = _summary(out)
    del out
    return elapsed, summary


def _time_pool(
    kind: Kind, workers: int, wl: Workload, inputs: Inputs, cell: Cell
) -> tuple[Any, Any]:
    """A fresh executor: constructor + first call (``fresh``), the same call again
    (``reused``), shutdown (waiting).  Returns the two calls' result summaries."""
    perf = time.perf_counter
    start = perf()
    ex = make_executor(kind, workers)
    try:
        out = list(ex.map(wl.fn, *inputs.args))
        first_done = perf()
        first = _summary(out)
        del out
        gc.collect()
        second_start = perf()
        out = list(ex.map(wl.fn, *inputs.args))
        second_done = perf()
        second = _summary(out)
        del out
    finally:
        shutdown_start = perf()
        ex.shutdown(wait=True)
    cell.fresh.add(first_done - start)
    cell.reused.add(second_done - second_start)
    cell.shutdown.add(perf() - shutdown_start)
    return first, second


def _steps(
    selection: Selection, executors: list[str], repeat: int
) -> Iterator[tuple[int, str, str]]:
    for r in range(repeat):
        for wl in selection.workloads:
            for kind in rotated(executors, r):
                yield r, wl, kind


def run(
    *,
    size: Size = "full",
    workers: int = 2,
    repeat: int = 3,
    selection: Selection | None = None,
    budget: float | None = None,
    progress_bar: bool | None = None,
) -> tuple[dict[str, Any], str]:
    """Measure; return the JSON document and the text report.

    ``repeat`` rounds (each: every selected workload, every executor), or fewer if
    ``budget`` seconds would be exceeded: a new round starts only if the rounds so far,
    one more at their average pace, fit in ``budget`` (at least one round runs).
    ``progress_bar``: a tqdm bar (True), a line per step on stderr (False), or a bar
    only when tqdm is installed and stderr is a terminal (None)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    if workers < 1 or repeat < 1:
        raise ValueError("workers and repeat must be >= 1")
    selection = selection or Selection()
    executors, skipped = _executors_of(selection)
    started = time.perf_counter()
    info = machine_info()
    cells = {wl: {kind: Cell() for kind in executors} for wl in selection.workloads}
    per_item = {
        wl: [Stat() for _ in range(WORKLOADS[wl].inputs[size].items)]
        for wl in selection.workloads
        if WORKLOADS[wl].inputs[size].items <= 100
    }
    rounds = 0
    total = repeat * len(selection.workloads) * len(executors)
    other = OtherCpu().__enter__()
    with Progress(total, "bench", bar=progress_bar) as bar:
        expected: dict[str, Any] = {}
        for r, wl_key, kind in _steps(selection, executors, repeat):
            if r == rounds:  # a new round begins
                elapsed = time.perf_counter() - started
                if r and budget is not None and elapsed * (r + 1) / r > budget:
                    bar.note(
                        f"{budget:.0f} s budget: stopping after {plural(r, 'round')} "
                        f"({elapsed:.0f} s)"
                    )
                    break
                rounds += 1
            wl = WORKLOADS[wl_key]
            inputs = wl.inputs[size]
            cell = cells[wl_key][kind]
            bar.step(f"round {r + 1}/{repeat}, {wl_key}, {SHORT[kind]}")
            gc.collect()
            if kind == "loop":
                seconds, summary = _time_loop(wl, inputs, per_item.get(wl_key))
                cell.fresh.add(seconds)
                cell.reused.add(seconds)
                results = [summary]
            else:
                results = list(_time_pool(cast(Kind, kind), workers, wl, inputs, cell))
            for got in results:
                if expected.setdefault(wl_key, got) != got:
                    raise AssertionError(f"{LABELS[kind]} returned wrong results for {wl_key}")
            bar.advance()
    other.__exit__()
    info["other_cpu_percent"] = other.percent
    document = _document(
        size=size,
        workers=workers,
        rounds=rounds,
        budget=budget,
        selection=selection,
        executors=executors,
        skipped=skipped,
        cells=cells,
        per_item=per_item,
        info=info,
    )
    document["duration_seconds"] = time.perf_counter() - started
    return document, render_text(document)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _document(
    *,
    size: Size,
    workers: int,
    rounds: int,
    budget: float | None,
    selection: Selection,
    executors: list[str],
    skipped: dict[str, str],
    cells: dict[str, dict[str, Cell]],
    per_item: dict[str, list[Stat]],
    info: dict[str, Any],
) -> dict[str, Any]:
    workloads: dict[str, Any] = {}
    for wl_key, row in cells.items():
        wl = WORKLOADS[wl_key]
        inputs = wl.inputs[size]
        loop = row["loop"]
        ipe = row.get("ipe")
        entries: dict[str, Any] = {}
        for kind, cell in row.items():
            entry: dict[str, Any] = {
                "label": LABELS[kind],
                "fresh_seconds": cell.fresh.to_json(),
                "reused_seconds": cell.reused.to_json(),
            }
            if kind == "loop":
                entry["note"] = "no executor: fresh and reused are the same loop"
            else:
                entry["shutdown_seconds"] = cell.shutdown.to_json()
            for when in ("fresh", "reused"):
                mine = getattr(cell, when).median
                entry[f"speedup_vs_loop_{when}"] = _finite(ratio(loop.reused.median, mine))
                entry[f"speedup_vs_ipe_{when}"] = (
                    None if ipe is None else _finite(ratio(getattr(ipe, when).median, mine))
                )
            entries[kind] = entry
        doc: dict[str, Any] = {
            "title": wl.title,
            "call": wl.call,
            "inputs": inputs.describe,
            "items": inputs.items,
            "params": inputs.params,
            "note": wl.note,
            "executors": entries,
        }
        if wl_key in per_item:
            medians = [s.median for s in per_item[wl_key]]
            doc["loop_seconds_per_item"] = [s.to_json() for s in per_item[wl_key]]
            doc["ceiling_speedup"] = _finite(ceiling_speedup(medians, workers))
        workloads[wl_key] = doc
    return {
        "benchmark": "interpool-seed-comparison",
        "schema_version": 2,
        "machine": info,
        "config": {
            "size": size,
            "workers": workers,
            "repeat": rounds,
            "budget_seconds": budget,
            "workloads": list(selection.workloads),
            "executors": executors,
        },
        "skipped": skipped,
        "workloads": workloads,
    }


# -- the text table ---------------------------------------------------------------------


def render_text(document: dict[str, Any]) -> str:
    """The report: a table per workload, then the notes (also used for ``.txt``)."""
    config = document["config"]
    info = document["machine"]
    lines = [
        "interpool seed comparison"
        + (f" ({config['size']} size)" if config["size"] != "full" else ""),
        machine_line(info, config["workers"], config["repeat"]),
    ]
    for n, (key, wl) in enumerate(document["workloads"].items(), 1):
        lines += ["", f"{n}. {key}: {wl['title']}: {wl['call']}", f"   {wl['inputs']}"]
        have_ipe = "ipe" in wl["executors"]
        headers = ["", "fresh", "reused", "reused min-max", "vs loop: fresh", "reused"]
        if have_ipe:
            headers += ["vs IPE: fresh", "reused"]
        rows = []
        for kind in EXECUTORS:
            if kind in document["skipped"]:
                rows.append([LABELS[kind], "skipped", *[""] * (len(headers) - 2)])
                continue
            e = wl["executors"].get(kind)
            if e is None:
                continue
            fresh, reused = e["fresh_seconds"], e["reused_seconds"]
            cells = [
                e["label"],
                fmt_seconds(fresh["median"]),
                fmt_seconds(reused["median"]),
                _fmt_range(reused["samples"]),
                _fmt_ratio(e["speedup_vs_loop_fresh"]),
                _fmt_ratio(e["speedup_vs_loop_reused"]),
            ]
            if have_ipe:
                cells += [
                    _fmt_ratio(e["speedup_vs_ipe_fresh"]),
                    _fmt_ratio(e["speedup_vs_ipe_reused"]),
                ]
            rows.append(cells)
        lines += [format_table(headers, rows)]
        notes = [wl["note"]]
        if wl.get("ceiling_speedup"):
            notes.append(
                f"ceiling: with one task per item on {config['workers']} workers, no pool "
                f"can beat {fmt_x(wl['ceiling_speedup'])} over the loop (list scheduling of "
                "the loop's per-item times)."
            )
        lines += note_lines(notes)
    notes = [
        "fresh: a new executor's constructor + the first call (start-up included); reused: "
        "the same call again on that executor; medians. Speed-ups: the loop's (or "
        "InterpreterPoolExecutor's) seconds / the row's; above 1x is faster, 1/Nx is N times "
        "slower.",
        *document["skipped"].values(),
    ]
    if info.get("other_cpu_percent") is not None:
        percent = info["other_cpu_percent"]
        disturbed = " (disturbed: re-run on a quiet machine)" if disturbed_note(info) else ""
        notes.append(f"other processes used {percent:.0f}% of the CPUs meanwhile{disturbed}")
    if info.get("ipe_workers_need_sys_path"):
        notes.append(
            "InterpreterPoolExecutor workers could not import interpool._tools.bench.workloads "
            "(gh-126714); they got the caller's sys.path through an initializer."
        )
    duration = document.get("duration_seconds")
    lines += ["", *note_lines(notes)]
    if duration is not None:
        lines.append(f"(ran {duration:.0f} s)")
    return "\n".join(lines)


def _fmt_range(samples: list[float]) -> str:
    if len(samples) < 2:
        return ""
    return f"{fmt_seconds(min(samples))} - {fmt_seconds(max(samples))}"


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else fmt_speedup(value)


# -- the command ------------------------------------------------------------------------

#: Without ``--repeat``: rounds per size, and the time budget (``--quick`` must finish
#: in under a minute with its start-up and the chart, on a busy 2-CPU machine).
DEFAULT_REPEAT: dict[Size, int] = {"full": 3, "quick": 3, "test": 1}
BUDGET_SECONDS: dict[Size, float | None] = {"full": None, "quick": 30.0, "test": None}

#: Result files: ``<stem>-<python>.json/.txt/.png``.
STEMS: dict[Size, str] = {"full": "seed", "quick": "quick", "test": "test"}


def watchdog_seconds(rounds: int) -> float:
    """How long a run of ``rounds`` may take before the watchdog ends it (a full round
    takes ~40 s on an idle 2-CPU machine)."""
    return 120.0 + 240.0 * rounds


def write(document: dict[str, Any], text: str, directory: Path, size: Size) -> list[Path]:
    """Write ``<stem>-<python>.json``, ``.txt`` and (matplotlib permitting) ``.png``
    into ``directory``; return the paths written.  Without matplotlib, say how to get
    it on stderr and write the rest."""
    from . import chart

    stem = f"{STEMS[size]}-{python_tag()}"
    paths = write_results(directory, stem, document, text)
    png = directory / f"{stem}.png"
    try:
        chart.write_chart(document, png)
    except chart.ChartUnavailable as exc:
        print(f"[bench] no chart: {exc}", file=sys.stderr, flush=True)
    else:
        paths.append(png)
    return paths


def main(
    *,
    size: Size,
    workers: int,
    repeat: int | None,
    output: str | None,
    json_out: bool,
    only: Sequence[str] | None = None,
) -> int:
    """``python -m interpool bench [--quick]``: run, print the table (or the JSON),
    write the JSON, text and chart to ``output`` (default ``benchmarks/results``)."""
    selection = parse_only(only)
    budget = BUDGET_SECONDS[size] if repeat is None else None
    rounds = DEFAULT_REPEAT[size] if repeat is None else repeat
    with watchdog(watchdog_seconds(rounds)):
        document, text = run(
            size=size, workers=workers, repeat=rounds, selection=selection, budget=budget
        )
    if json_out:
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        print(text, flush=True)
    paths = write(document, text, output_dir(output), size)
    print("[bench] wrote " + ", ".join(str(p) for p in paths), file=sys.stderr, flush=True)
    return 0
